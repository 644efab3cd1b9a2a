//! The `warroom` binary: parse the command line, set up logging, run, exit with its code.

#[tokio::main]
async fn main() {
    keep_large_blocks_mapped();
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

/// glibc raises its mmap threshold whenever a large block is freed (up to 32 MiB); from then
/// on the large blocks of a long read (a page of events packed in one value, again and again)
/// come from the heap and their pages stay resident: a 1M-event projection rebuild peaked at
/// 125 MB instead of 40. A fixed threshold keeps them mapped, and returned when freed.
fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of the allocator, under its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
