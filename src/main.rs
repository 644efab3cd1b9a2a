//! The `warroom` binary: parse the command line, set up logging, run, exit with its code.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let code = match warroom::cli::Cli::parse().run().await {
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
