//! `[log]`: the log's format, checked here with the rest of the file.

use serde::Deserialize;

/// Logging; `RUST_LOG` filters. (`warroom` reads `format` before the rest of the file, see
/// `logging::format_in_config`.)
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogSection {
    /// `text` (default) or `json`; `--log-format` / `WARROOM_LOG_FORMAT` win.
    pub format: Option<String>,
}

/// `[log]` is only checked here: `warroom` reads its format before the rest of the file.
pub(super) fn read_log(log: &LogSection, problems: &mut Vec<String>) {
    if let Some(format) = &log.format {
        if crate::logging::LogFormat::parse(format).is_none() {
            problems.push(format!(
                "log.format = '{format}': write \"text\" or \"json\""
            ));
        }
    }
}
