//! Logging through `tracing`: text for people, JSON lines for log pipelines, filtered by
//! `RUST_LOG`.
//!
//! The format comes from `--log-format` (or `WARROOM_LOG_FORMAT`), else `log.format` in the
//! configuration file, else text. Logging starts before the configuration is checked, so
//! only that one key is read here; a wrong value there is reported by the full check.

use clap::ValueEnum;
use std::path::{Path, PathBuf};

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, with the spans (request id, job) before it.
    Text,
    /// One JSON object per line: timestamp, level, target, fields, and the spans' fields.
    Json,
}

impl LogFormat {
    /// `text` or `json`, as written in the configuration.
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.trim() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// What is logged when `RUST_LOG` is unset: warnings, plus warroom's own progress for the
/// long-running commands (where it listens, what it stops), whose operators read it.
pub fn default_filter(long_running: bool) -> &'static str {
    if long_running {
        "warn,warroom=info"
    } else {
        // Where long work stands (`progress`) is said whoever runs it.
        "warn,warroom::progress=info"
    }
}

/// `log.format` of the configuration file `warroom` would read (`--config`, else
/// `./warroom.toml` when present); `None` when there is none or it cannot be read.
pub fn format_in_config(config: Option<&Path>) -> Option<LogFormat> {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("warroom.toml"),
    };
    let text = crate::small_file::read_small_file(&path).ok()?;
    let table: toml::Table = text.parse().ok()?;
    LogFormat::parse(table.get("log")?.get("format")?.as_str()?)
}

/// Installs the process's subscriber, writing to standard error.
pub fn init(format: LogFormat, long_running: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(long_running)));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a journal or a file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_key_is_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warroom.toml");
        std::fs::write(&path, "timezone = \"UTC\"\n[log]\nformat = \"json\"\n").unwrap();
        assert_eq!(format_in_config(Some(&path)), Some(LogFormat::Json));
        std::fs::write(&path, "[log]\nformat = \"yaml\"\n").unwrap();
        assert_eq!(format_in_config(Some(&path)), None);
        assert_eq!(
            format_in_config(Some(&dir.path().join("missing.toml"))),
            None
        );
    }
}
