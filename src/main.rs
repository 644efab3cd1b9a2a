//! The `warroom` binary: parse the command line, set up logging, run, exit with its code.

/// mimalloc, not glibc's malloc: on the alert path glibc spent over 40% of the serving
/// process's time in malloc and free (`malloc_consolidate` alone 8%), and kept the pages of
/// freed large blocks resident unless its thresholds were pinned by hand.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = warroom::cli::Cli::from_command_line();
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
