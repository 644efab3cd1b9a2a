//! Progress of long work (`replay`, `import`, `export`, `bench`): a bar with the rate and the
//! time left when standard error is a terminal, else a log line every few seconds, so a
//! 100k-line replay is never a silent minute.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

/// How often the log says where long work stands when no one watches a bar.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Lines, rows, events: counted as they are.
    Items(&'static str),
    /// Bytes: shown as KiB, MiB.
    Bytes,
}

/// One piece of long work's progress. Cheap to tick from a hot loop: a bar redraws at most
/// 20 times a second, and the log fallback looks at the clock once per 1,024 ticks.
pub struct Progress {
    what: String,
    unit: Unit,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    done: AtomicU64,
    started: Instant,
    /// When the log last said where the work stands.
    logged: Mutex<Instant>,
}

impl Progress {
    /// Progress of `what` (`replaying transcript.jsonl`) toward `total` when known: a bar on
    /// standard error when it is a terminal, else log lines.
    pub fn start(what: impl Into<String>, unit: Unit, total: Option<u64>) -> Progress {
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| Self::bar(unit, total, ProgressDrawTarget::stderr()));
        Self::with(what.into(), unit, total, bar)
    }

    fn with(what: String, unit: Unit, total: Option<u64>, bar: Option<ProgressBar>) -> Progress {
        if let Some(bar) = &bar {
            bar.set_message(what.clone());
        }
        let now = Instant::now();
        Progress {
            what,
            unit,
            total,
            bar,
            done: AtomicU64::new(0),
            started: now,
            logged: Mutex::new(now),
        }
    }

    fn bar(unit: Unit, total: Option<u64>, target: ProgressDrawTarget) -> ProgressBar {
        let (count, rate) = match unit {
            Unit::Items(name) => (format!("{{human_pos}}/{{human_len}} {name}"), "{per_sec}"),
            Unit::Bytes => ("{bytes}/{total_bytes}".to_string(), "{bytes_per_sec}"),
        };
        let template = match total {
            Some(_) => format!("{{msg}} [{{bar:30}}] {count} ({rate}, {{eta}} left)"),
            None => format!(
                "{{spinner}} {{msg}} {} ({rate})",
                count.split('/').next().unwrap_or_default()
            ),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("the progress templates are valid")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(total, target).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// `n` more done.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.bar {
            Some(bar) => {
                if self.total.is_some_and(|t| done > t) {
                    // More than foreseen (a ledger that grew during its export).
                    bar.set_length(done);
                }
                bar.set_position(done);
            }
            None => self.maybe_log(done),
        }
    }

    /// Prints a line (a replay's reply) without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// The bar is cleared; the caller prints its own summary.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn maybe_log(&self, done: u64) {
        let Ok(mut logged) = self.logged.try_lock() else {
            return;
        };
        if logged.elapsed() < LOG_EVERY {
            return;
        }
        *logged = Instant::now();
        drop(logged);
        tracing::info!(
            target: "warroom::progress",
            done,
            total = self.total,
            "{}",
            self.describe(done, self.started.elapsed())
        );
    }

    /// `replaying t.jsonl: 12,000 of 100,000 lines (2,400/s), about 33 s left`.
    fn describe(&self, done: u64, elapsed: Duration) -> String {
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
        let amount = |n: u64| match self.unit {
            Unit::Items(_) => thousands(n),
            Unit::Bytes => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
        };
        let (name, per) = match self.unit {
            Unit::Items(name) => (format!(" {name}"), format!("{}/s", thousands(rate as u64))),
            Unit::Bytes => (
                String::new(),
                format!("{:.1} MiB/s", rate / (1024.0 * 1024.0)),
            ),
        };
        match self.total {
            Some(total) => {
                let left = total.saturating_sub(done) as f64 / rate.max(1e-9);
                format!(
                    "{}: {} of {}{name} ({per}), about {:.0} s left",
                    self.what,
                    amount(done),
                    amount(total),
                    left
                )
            }
            None => format!("{}: {}{name} ({per})", self.what, amount(done)),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A reader or writer whose traffic ticks a `Progress`: the bytes a reader's consumer takes,
/// or what `count` finds in the bytes a writer wrote (the lines of an export).
pub struct Counting<'p, T> {
    inner: T,
    progress: &'p Progress,
    count: fn(&[u8]) -> u64,
}

impl<'p, T> Counting<'p, T> {
    /// Ticks `progress` by every byte read.
    pub fn bytes(inner: T, progress: &'p Progress) -> Self {
        Counting {
            inner,
            progress,
            count: |b| b.len() as u64,
        }
    }

    /// Ticks `progress` by every line written.
    pub fn lines(inner: T, progress: &'p Progress) -> Self {
        Counting {
            inner,
            progress,
            count: |b| b.iter().filter(|&&c| c == b'\n').count() as u64,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.progress.add((self.count)(&buf[..n]));
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncBufRead + Unpin> AsyncRead for Counting<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            let n = buf.filled().len() - before;
            self.progress
                .add((self.count)(&buf.filled()[before..before + n]));
        }
        read
    }
}

impl<T: AsyncBufRead + Unpin> AsyncBufRead for Counting<'_, T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        // What the consumer takes from the buffer is what was read: counted here, where
        // `fill_buf` may hand out the same bytes more than once.
        self.progress.add(amt as u64);
        Pin::new(&mut self.inner).consume(amt);
    }
}

/// `12345678` as `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_says_how_far_how_fast_and_how_long_still() {
        let p = Progress::with(
            "replaying t.jsonl".into(),
            Unit::Items("lines"),
            Some(100_000),
            None,
        );
        assert_eq!(
            p.describe(12_000, Duration::from_secs(5)),
            "replaying t.jsonl: 12,000 of 100,000 lines (2,400/s), about 37 s left"
        );
        let p = Progress::with("importing -".into(), Unit::Bytes, None, None);
        assert_eq!(
            p.describe(10 * 1024 * 1024, Duration::from_secs(2)),
            "importing -: 10.0 MiB (5.0 MiB/s)"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
    }

    #[tokio::test]
    async fn readers_and_writers_tick_what_went_through_them() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let read = Progress::with("reading".into(), Unit::Bytes, None, None);
        let mut lines = Counting::bytes(&b"one\ntwo\nthree\n"[..], &read).lines();
        while lines.next_line().await.unwrap().is_some() {}
        assert_eq!(read.done.load(Ordering::Relaxed), 14);
        let written = Progress::with("writing".into(), Unit::Items("rows"), None, None);
        let mut sink = Counting::lines(Vec::new(), &written);
        sink.write_all(b"{\"a\":1}\n{\"a\":2}\n{").await.unwrap();
        assert_eq!(written.done.load(Ordering::Relaxed), 2);
    }
}
