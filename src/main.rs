//! The `warroom` binary: parse the command line, set up logging, run, exit with its code.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = warroom::cli::Cli::parse();
    let format = cli
        .log_format
        .or_else(|| warroom::logging::format_in_config(cli.config.as_deref()))
        .unwrap_or(warroom::logging::LogFormat::Text);
    warroom::logging::init(format, cli.is_long_running());
    let code = match cli.run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    if std::env::var_os(warroom::bench::PRINT_PEAK_RSS).is_some() {
        eprintln!("peak RSS: {} kB", warroom::bench::peak_rss_kb());
    }
    std::process::exit(code);
}
