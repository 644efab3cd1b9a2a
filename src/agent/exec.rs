//! The step executor: starts one program directly (never through a shell) with exactly the
//! environment it is given, in a process group of its own so that a timeout or a cancelled
//! job can kill everything it started, and reports how it ended and what it printed, capped
//! and with secrets redacted.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use regex::{Captures, Regex};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;

/// What every redaction match in an output line is replaced by.
const REDACTED: &str = "[redacted]";
/// After we killed the group, how long we still read what it had already written: the last
/// lines before a hang are often the useful ones, but a process outside the group (one that
/// made its own session) may hold the pipe forever.
const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// How much is read from a pipe at a time.
const CHUNK: usize = 8 * 1024;
/// Stands in for the deadline of a timeout too large to add to the clock.
const FAR_FUTURE: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

/// One program to start, fully resolved: no shell, each argument exactly one argv entry.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// An absolute path, or a name looked up in the PATH given in `env` (never the agent's
    /// own). Anything containing a `/` is used as given.
    pub program: String,
    /// Passed as-is: `"$(rm -rf /)"` is one inert argument.
    pub args: Vec<String>,
    /// The child's WHOLE environment (nothing is inherited from the agent), e.g. PATH, LANG.
    pub env: Vec<(String, String)>,
    /// Directory to start in; the agent's own when `None`.
    pub cwd: Option<PathBuf>,
    /// How long the program may run before its whole process group is killed.
    pub timeout: Duration,
    /// Bytes of output kept in total (stdout and stderr together, each kept line counting
    /// its text after redaction plus one for its line break); the rest is counted, not kept.
    pub output_limit: usize,
    /// Every (non-empty) match in an output line is replaced by `[redacted]` before anything
    /// sees the line.
    pub redact: Vec<Regex>,
}

/// Which of the child's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Exited by itself. `code` is what the program returned (0–255), or -1 when it ran but
    /// its status could not be collected (an error from the OS; not expected to happen).
    Exited { code: i32 },
    /// Killed by a signal it did not get from us (e.g. it crashed).
    Signalled { signal: i32 },
    /// Ran past `timeout`: its whole process group was killed.
    TimedOut,
    /// Could not be started (no such program, not executable): nothing ran.
    NotStarted { error: String },
}

/// What happened when an [`Invocation`] ran.
#[derive(Debug, Clone)]
pub struct Execution {
    /// How it ended.
    pub ended: Ended,
    /// Redacted lines in the order they were read, each with its stream, within `output_limit`.
    pub lines: Vec<(Stream, String)>,
    /// Bytes of output not kept because of the limit: what the child wrote for the dropped
    /// lines, line breaks included.
    pub dropped_bytes: usize,
    /// From just before the start until the end of the run.
    pub duration: Duration,
}

/// Runs the invocation; `on_line` sees each redacted line as it is read (for streaming back to
/// the server), also only within the limit. Never panics on the child's behaviour.
///
/// The run ends when the program has exited and both its pipes are closed. When the
/// timeout passes first, the whole process group is killed: the program itself (reported as
/// [`Ended::TimedOut`]) or, if it already exited, the background processes it left holding
/// its output open (reported by the program's own exit status). Background processes that
/// closed their output are left running once the program exited, as daemons are meant to be.
/// Dropping the returned future kills the group too.
pub async fn run(invocation: &Invocation, on_line: impl FnMut(Stream, &str) + Send) -> Execution {
    let started = Instant::now();
    // Never argument values or output: either may hold a secret.
    tracing::debug!(
        program = %invocation.program,
        args = invocation.args.len(),
        "starting a step"
    );
    let mut sink = Sink {
        left: invocation.output_limit,
        lines: Vec::new(),
        dropped: 0,
        redact: &invocation.redact,
        on_line,
    };
    let spawned = command(invocation).and_then(|mut command| {
        command
            .spawn()
            .map_err(|error| format!("{}: {error}", invocation.program))
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return sink.finish(invocation, Ended::NotStarted { error }, started),
    };
    // tokio knows the pid of every child it has not yet seen exit, so this always succeeds;
    // the check keeps a 0 away from `killpg`, which would signal the agent's own group.
    let Some(pgid) = child
        .id()
        .and_then(|pid| libc::pid_t::try_from(pid).ok())
        .filter(|&pid| pid > 0)
    else {
        let _ = child.start_kill();
        return sink.finish(invocation, Ended::Exited { code: -1 }, started);
    };
    // The child leads its own group (`process_group(0)`), so the group id is its pid.
    let mut group = Group { pgid, armed: true };
    let mut stdout = Pipe::new(Stream::Stdout, child.stdout.take());
    let mut stderr = Pipe::new(Stream::Stderr, child.stderr.take());

    let mut status = None;
    let mut timed_out = false;
    let mut killed = false;
    let mut deadline = started
        .checked_add(invocation.timeout)
        .unwrap_or_else(|| started + FAR_FUTURE);
    while status.is_none() || stdout.is_open() || stderr.is_open() {
        // Both pipes are read at all times, also past the limit, so that the child never
        // blocks on a full pipe; `read` and `wait` lose nothing when another branch wins.
        tokio::select! {
            read = stdout.read(), if stdout.is_open() => stdout.take(read, &mut sink),
            read = stderr.read(), if stderr.is_open() => stderr.take(read, &mut sink),
            waited = child.wait(), if status.is_none() => status = Some(waited),
            () = tokio::time::sleep_until(deadline) => {
                if killed {
                    // Whatever still holds the pipes is outside the group: stop listening.
                    break;
                }
                killed = true;
                timed_out = status.is_none();
                group.kill();
                deadline = Instant::now() + DRAIN_GRACE;
            }
        }
    }
    let ended = match status {
        _ if timed_out => Ended::TimedOut,
        Some(Ok(status)) => ended_by(status),
        Some(Err(error)) => {
            // We cannot tell whether it still runs: make sure it does not.
            group.kill();
            tracing::warn!(program = %invocation.program, %error, "could not collect a step's exit status");
            Ended::Exited { code: -1 }
        }
        // Only reachable after a kill, which sets `timed_out` when there was no status.
        None => Ended::TimedOut,
    };
    // From here on a drop kills nothing: what the program left running with its output
    // closed is meant to stay, and once its group is empty the pid may be reused.
    group.armed = false;
    sink.finish(invocation, ended, started)
}

/// The command for `invocation`: resolved program, argument list, the given environment only,
/// stdin from /dev/null, output piped, in a new process group.
fn command(invocation: &Invocation) -> Result<Command, String> {
    let program = resolve(&invocation.program, &invocation.env)?;
    if let Some((name, _)) = invocation
        .env
        .iter()
        .find(|(name, _)| name.is_empty() || name.contains('='))
    {
        return Err(format!(
            "{}: environment variable name {name:?} is empty or contains '='",
            invocation.program
        ));
    }
    let mut command = Command::new(program);
    command
        // argv[0] as given, as a shell would pass it, not the resolved path.
        .arg0(&invocation.program)
        .args(&invocation.args)
        .env_clear()
        .envs(invocation.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &invocation.cwd {
        command.current_dir(cwd);
    }
    Ok(command)
}

/// Where `program` is. A bare name is looked up in the step's own PATH, so the agent's PATH
/// never decides what a runbook runs; relative and empty entries (the current directory) are
/// skipped, as where they point depends on where the agent happens to run.
fn resolve(program: &str, env: &[(String, String)]) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("empty program name".to_string());
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    // As in the child's environment, the last value given for a name wins.
    let Some((_, path)) = env.iter().rev().find(|(name, _)| name == "PATH") else {
        return Err(format!("{program}: not a path, and the step has no PATH"));
    };
    path.split(':')
        .map(Path::new)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("{program}: not found in the step's PATH"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn ended_by(status: ExitStatus) -> Ended {
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited { code },
        (None, Some(signal)) => Ended::Signalled { signal },
        // wait() reports only exits and deaths by signal; anything else is unexpected.
        (None, None) => Ended::Exited { code: -1 },
    }
}

/// The child's process group, killed when dropped while armed: a `run` future cancelled
/// half-way (job aborted, agent shutting down) must not leave the step running.
struct Group {
    /// The group's id, the child's pid; always > 0.
    pgid: libc::pid_t,
    /// Whether dropping this still kills the group.
    armed: bool,
}

impl Group {
    fn kill(&self) {
        // SAFETY: killpg only sends a signal, it touches none of our memory; `pgid` > 0 so
        // it cannot reach the agent's own group.
        if unsafe { libc::killpg(self.pgid, libc::SIGKILL) } != 0 {
            // Usually ESRCH: everything in the group has exited already.
            let error = io::Error::last_os_error();
            tracing::debug!(pgid = self.pgid, %error, "killing a step's process group");
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            self.kill();
        }
    }
}

/// One of the child's output pipes and the line being assembled from it.
struct Pipe<R> {
    /// Which output this is.
    stream: Stream,
    /// The read end; `None` once it reached its end or failed.
    reader: Option<R>,
    /// The bytes last read.
    chunk: Box<[u8]>,
    /// The line being read.
    line: LineBuf,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    fn new(stream: Stream, reader: Option<R>) -> Pipe<R> {
        Pipe {
            stream,
            reader,
            chunk: vec![0; CHUNK].into_boxed_slice(),
            line: LineBuf::default(),
        }
    }

    fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    /// Reads the next chunk into `chunk`.
    async fn read(&mut self) -> io::Result<usize> {
        match &mut self.reader {
            Some(reader) => reader.read(&mut self.chunk).await,
            None => Ok(0),
        }
    }

    /// Takes in what `read` returned: completed lines go to `sink`; at the end, so does an
    /// unfinished last line.
    fn take<F: FnMut(Stream, &str)>(&mut self, read: io::Result<usize>, sink: &mut Sink<'_, F>) {
        match read {
            Ok(n) if n > 0 => {
                for part in self.chunk[..n].split_inclusive(|&byte| byte == b'\n') {
                    match part.strip_suffix(b"\n") {
                        Some(text) => {
                            self.line.push(text, part.len(), sink.left);
                            self.line.finish(self.stream, sink);
                        }
                        None => self.line.push(part, part.len(), sink.left),
                    }
                }
            }
            // End of file, or a read error, which leaves nothing more to read either.
            _ => {
                self.reader = None;
                if self.line.written > 0 {
                    self.line.finish(self.stream, sink);
                }
            }
        }
    }
}

/// A line being assembled from chunks. Only as much is buffered as could still be kept, so
/// a child printing megabytes without a line break costs no memory.
#[derive(Default)]
struct LineBuf {
    /// The line so far, unless it is already too long to keep.
    bytes: Vec<u8>,
    /// Bytes the child wrote for this line, kept or not, line break included.
    written: usize,
    /// Already longer than the output still allowed: it will be dropped whole.
    too_long: bool,
}

impl LineBuf {
    /// Adds `text`, which the child wrote as `written` bytes, given `left` bytes still allowed.
    fn push(&mut self, text: &[u8], written: usize, left: usize) {
        self.written += written;
        if self.too_long {
            return;
        }
        if self.bytes.len() + text.len() > left {
            self.too_long = true;
            self.bytes = Vec::new();
        } else {
            self.bytes.extend_from_slice(text);
        }
    }

    /// Hands the complete line to `sink` and starts a new one.
    fn finish<F: FnMut(Stream, &str)>(&mut self, stream: Stream, sink: &mut Sink<'_, F>) {
        let written = std::mem::take(&mut self.written);
        if std::mem::take(&mut self.too_long) {
            sink.dropped += written;
        } else {
            sink.offer(stream, &self.bytes, written);
        }
        self.bytes.clear();
    }
}

/// Where complete lines go: redacted, then kept and shown to `on_line` while they fit.
struct Sink<'a, F> {
    /// Bytes of output that may still be kept.
    left: usize,
    /// The lines kept so far.
    lines: Vec<(Stream, String)>,
    /// Bytes written for lines not kept.
    dropped: usize,
    /// Patterns whose matches are redacted.
    redact: &'a [Regex],
    /// The caller's callback.
    on_line: F,
}

impl<F: FnMut(Stream, &str)> Sink<'_, F> {
    /// Keeps the line the child wrote as `raw` (without its `\n`, which with any `\r` before
    /// it took `written` bytes) if it fits, or counts it as dropped.
    fn offer(&mut self, stream: Stream, raw: &[u8], written: usize) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut text = String::from_utf8_lossy(raw).into_owned();
        for pattern in self.redact {
            // An empty match (say of `x*`) hides nothing; replacing it would litter the line.
            let replace = |found: &Captures| if found[0].is_empty() { "" } else { REDACTED };
            if let std::borrow::Cow::Owned(redacted) = pattern.replace_all(&text, replace) {
                text = redacted;
            }
        }
        // A kept line also costs one byte for its line break, so that even empty lines
        // count against the limit.
        let cost = text.len() + 1;
        if cost > self.left {
            self.dropped += written;
            return;
        }
        self.left -= cost;
        (self.on_line)(stream, &text);
        self.lines.push((stream, text));
    }

    fn finish(self, invocation: &Invocation, ended: Ended, started: Instant) -> Execution {
        let duration = started.elapsed();
        tracing::debug!(
            program = %invocation.program,
            ?ended,
            kept_lines = self.lines.len(),
            dropped_bytes = self.dropped,
            duration_ms = duration.as_millis() as u64,
            "step ended"
        );
        Execution {
            ended,
            lines: self.lines,
            dropped_bytes: self.dropped,
            duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn invocation(program: &str, args: &[&str]) -> Invocation {
        Invocation {
            program: program.to_string(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: vec![("PATH".to_string(), "/usr/bin:/bin".to_string())],
            cwd: None,
            timeout: Duration::from_secs(20),
            output_limit: 1 << 20,
            redact: Vec::new(),
        }
    }

    /// `/bin/sh -c script`, with `args` as `$1`, `$2`…: most tests give their script inline,
    /// so that no test executes a file another test thread might still hold open for writing
    /// (which makes exec fail with ETXTBSY).
    fn sh(script: &str, args: &[&str]) -> Invocation {
        let mut all = vec!["-c", script, "sh"];
        all.extend_from_slice(args);
        invocation("/bin/sh", &all)
    }

    fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    async fn quiet(invocation: &Invocation) -> Execution {
        run(invocation, |_, _| {}).await
    }

    fn texts(execution: &Execution, stream: Stream) -> Vec<&str> {
        let lines = execution.lines.iter().filter(|(s, _)| *s == stream);
        lines.map(|(_, text)| text.as_str()).collect()
    }

    /// Bytes counted against the limit for the kept lines.
    fn kept_bytes(execution: &Execution) -> usize {
        execution.lines.iter().map(|(_, text)| text.len() + 1).sum()
    }

    /// Pids a script wrote into `path`, separated by spaces.
    fn pids(path: &Path) -> Vec<libc::pid_t> {
        let text = std::fs::read_to_string(path).expect("the script wrote its pids");
        text.split_whitespace()
            .map(|pid| pid.parse().unwrap())
            .collect()
    }

    /// Whether `pid` no longer runs: no such process, or a zombie waiting for its parent.
    /// A killed grandchild passes to init, and an init that does not reap orphans (as in some
    /// containers) leaves it a zombie for good.
    fn gone(pid: libc::pid_t) -> bool {
        // SAFETY: signal 0 only checks whether the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        }
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    }

    /// Waits up to 5 s for `pid` to be gone (a kill takes a moment to land).
    async fn gone_soon(pid: libc::pid_t) -> bool {
        for _ in 0..100 {
            if gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    #[tokio::test]
    async fn arguments_reach_the_program_verbatim_and_nothing_is_interpreted() {
        let dir = tempfile::tempdir().unwrap();
        let echo_args = write_script(dir.path(), "echo-args", r#"printf '%s\n' "$@""#);
        let pwned = dir.path().join("pwned");
        let target = pwned.display().to_string();
        let payloads = vec![
            format!("; touch {target}"),
            format!("$(touch {target})"),
            format!("`touch {target}`"),
            format!("| touch {target}"),
            format!("&& touch {target}"),
            format!("> {target}"),
            "a\nb".to_string(),
            "--force".to_string(),
            "-n".to_string(),
            "' OR 1=1 --".to_string(),
            "\"quoted\" 'single'".to_string(),
            "*".to_string(),
            "$HOME ${PATH}".to_string(),
            "  spaced  out  ".to_string(),
            String::new(),
            "ünïcödé ✓".to_string(),
            "x".repeat(100 * 1024),
        ];
        let mut step = invocation(&echo_args.display().to_string(), &[]);
        step.args = payloads.clone();
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(execution.dropped_bytes, 0);
        let printed: Vec<&str> = texts(&execution, Stream::Stdout);
        // The newline payload prints as two lines, so compare everything joined.
        assert_eq!(printed.join("\n"), payloads.join("\n"));
        assert!(texts(&execution, Stream::Stderr).is_empty());
        assert!(!pwned.exists(), "an argument was run as a command");
    }

    #[tokio::test]
    async fn the_environment_is_exactly_the_given_one_and_stdin_is_empty() {
        let mut step = invocation("env", &[]);
        step.env = vec![
            ("PATH".to_string(), "/nonexistent:/usr/bin:/bin".to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        let mut printed = texts(&execution, Stream::Stdout);
        printed.sort_unstable();
        assert_eq!(printed, ["LANG=C.UTF-8", "PATH=/nonexistent:/usr/bin:/bin"]);

        // cat copies stdin: with /dev/null it ends at once, with nothing.
        let mut cat = invocation("/bin/cat", &[]);
        cat.timeout = Duration::from_secs(5);
        let execution = quiet(&cat).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert!(execution.lines.is_empty());
        let execution = quiet(&sh("readlink /proc/$$/fd/0", &[])).await;
        assert_eq!(texts(&execution, Stream::Stdout), ["/dev/null"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_can_be_spawned_as_a_task() {
        let step = sh("echo from a task", &[]);
        let task = tokio::spawn(async move { quiet(&step).await });
        let execution = task.await.unwrap();
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(texts(&execution, Stream::Stdout), ["from a task"]);
    }

    #[tokio::test]
    async fn a_name_is_looked_up_in_the_steps_path_only() {
        let dir = tempfile::tempdir().unwrap();
        write_script(dir.path(), "warroom-hello", "echo hello; pwd");
        let mut step = invocation("warroom-hello", &[]);
        step.env = vec![(
            "PATH".to_string(),
            format!("/nonexistent:{}:/bin", dir.path().display()),
        )];
        step.cwd = Some(dir.path().to_path_buf());
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            texts(&execution, Stream::Stdout),
            ["hello", cwd.to_str().unwrap()]
        );

        // A relative entry would depend on the directory: it is not searched.
        step.env = vec![("PATH".to_string(), ".".to_string())];
        assert!(matches!(quiet(&step).await.ended, Ended::NotStarted { .. }));
        // No PATH, no lookup (not even a default one).
        let mut echo = invocation("echo", &["hi"]);
        echo.env.clear();
        assert!(matches!(quiet(&echo).await.ended, Ended::NotStarted { .. }));
    }

    #[tokio::test]
    async fn what_cannot_start_is_reported_and_nothing_runs() {
        let dir = tempfile::tempdir().unwrap();
        let not_executable = dir.path().join("not-executable");
        std::fs::write(&not_executable, "#!/bin/sh\necho ran\n").unwrap();
        let marker = dir.path().join("ran");
        let marker = marker.to_str().unwrap();
        let touch = r#"touch "$1""#;

        let mut no_cwd = sh(touch, &[marker]);
        no_cwd.cwd = Some(dir.path().join("no-such-dir"));
        let mut bad_env = sh(touch, &[marker]);
        bad_env.env.push(("A=B".to_string(), "c".to_string()));
        let steps = [
            invocation("/nonexistent/warroom-test-program", &[]),
            invocation("warroom-no-such-program", &[]),
            invocation(not_executable.to_str().unwrap(), &[]),
            invocation("", &[]),
            no_cwd,
            bad_env,
            sh(touch, &[marker, "nul\0byte"]),
        ];
        for step in &steps {
            let mut seen = 0;
            let execution = run(step, |_, _| seen += 1).await;
            let Ended::NotStarted { error } = &execution.ended else {
                panic!("{step:?} ended {:?}", execution.ended);
            };
            assert!(!error.is_empty());
            assert!(execution.lines.is_empty());
            assert_eq!((seen, execution.dropped_bytes), (0, 0));
        }
        assert!(!Path::new(marker).exists(), "something ran");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pids");
        let mut step = sh(
            r#"sleep 30 & echo "$! $$" > "$1"; echo waiting; sleep 30"#,
            &[pid_file.to_str().unwrap()],
        );
        step.timeout = Duration::from_millis(300);
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::TimedOut);
        assert!(execution.duration < Duration::from_secs(5));
        // What it printed before the kill is kept.
        assert_eq!(texts(&execution, Stream::Stdout), ["waiting"]);
        for pid in pids(&pid_file) {
            assert!(gone_soon(pid).await, "pid {pid} survived the timeout");
        }
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pids");
        let step = sh(
            r#"sleep 30 & echo "$! $$" > "$1"; sleep 30"#,
            &[pid_file.to_str().unwrap()],
        );
        let cancelled = tokio::time::timeout(Duration::from_millis(300), quiet(&step)).await;
        assert!(
            cancelled.is_err(),
            "the step should still have been running"
        );
        for pid in pids(&pid_file) {
            assert!(gone_soon(pid).await, "pid {pid} survived the cancelled run");
        }
    }

    #[tokio::test]
    async fn a_background_process_holding_the_output_does_not_hold_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut step = sh(
            r#"sleep 30 & echo "$!" > "$1"; echo started"#,
            &[pid_file.to_str().unwrap()],
        );
        step.timeout = Duration::from_secs(1);
        let execution = quiet(&step).await;
        // The program itself exited fine; its leftover was killed at the deadline.
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(texts(&execution, Stream::Stdout), ["started"]);
        assert!(execution.duration < Duration::from_secs(3));
        let [pid] = pids(&pid_file)[..] else { panic!() };
        assert!(gone_soon(pid).await, "the background sleep survived");
    }

    #[tokio::test]
    async fn a_daemon_that_closed_its_output_is_left_running() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let step = sh(
            r#"sleep 30 >/dev/null 2>&1 & echo "$!" > "$1""#,
            &[pid_file.to_str().unwrap()],
        );
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert!(execution.duration < Duration::from_secs(5));
        let [pid] = pids(&pid_file)[..] else { panic!() };
        let running = !gone(pid);
        // SAFETY: sending a signal to the test's own leftover sleep.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(running, "the detached sleep was killed");
    }

    #[tokio::test]
    async fn both_streams_are_read_line_by_line() {
        let step = sh(
            r"printf 'one\r\ntwo\n'; printf 'warn\n' >&2; printf '\377bad\n\n'; printf 'last'",
            &[],
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let execution = run(&step, |stream, line| {
            seen.lock().unwrap().push((stream, line.to_string()));
        })
        .await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(
            texts(&execution, Stream::Stdout),
            ["one", "two", "\u{FFFD}bad", "", "last"]
        );
        assert_eq!(texts(&execution, Stream::Stderr), ["warn"]);
        assert_eq!(*seen.lock().unwrap(), execution.lines);
        assert_eq!(execution.dropped_bytes, 0);
    }

    #[tokio::test]
    async fn output_past_the_limit_is_counted_not_kept_and_never_blocks_the_child() {
        // 2.5 MB on each stream, in lines of 37 bytes, the last ones cut short.
        let mut step = sh(
            "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 2500000
             yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 2500000 >&2",
            &[],
        );
        step.output_limit = 10_000;
        let mut seen = 0;
        let execution = run(&step, |_, line| seen += line.len() + 1).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        let kept = kept_bytes(&execution);
        assert!(kept <= 10_000 && kept > 10_000 - 37, "kept {kept} bytes");
        assert_eq!(seen, kept);
        assert_eq!(kept + execution.dropped_bytes, 5_000_000);

        // One 5 MB line is dropped whole, and the line after it is kept.
        let mut step = sh(
            "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo after",
            &[],
        );
        step.output_limit = 10_000;
        let execution = quiet(&step).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(texts(&execution, Stream::Stdout), ["after"]);
        assert_eq!(execution.dropped_bytes, 5_000_001);

        // Empty lines count too, so a flood of them is dropped as well.
        let mut step = sh("yes '' | head -c 100000", &[]);
        step.output_limit = 100;
        let execution = quiet(&step).await;
        assert_eq!(execution.lines.len(), 100);
        assert_eq!(execution.dropped_bytes, 100_000 - 100);
    }

    #[tokio::test]
    async fn secrets_are_redacted_before_anything_sees_them() {
        let mut step = sh(
            "echo 'token=abc123 ok'; echo 'again token=abc123' >&2; echo plain",
            &[],
        );
        // `x*` matches the empty string everywhere: it must not litter the lines.
        step.redact = vec![Regex::new(r"token=\S+").unwrap(), Regex::new("x*").unwrap()];
        let mut seen = Vec::new();
        let execution = run(&step, |_, line| seen.push(line.to_string())).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert_eq!(
            texts(&execution, Stream::Stdout),
            ["[redacted] ok", "plain"]
        );
        assert_eq!(texts(&execution, Stream::Stderr), ["again [redacted]"]);
        assert!(!format!("{execution:?}").contains("abc123"));
        assert!(!seen.concat().contains("abc123"));
    }

    #[tokio::test]
    async fn exit_codes_and_signals_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("exit 0", Ended::Exited { code: 0 }),
            ("exit 3", Ended::Exited { code: 3 }),
            (
                "kill -TERM $$",
                Ended::Signalled {
                    signal: libc::SIGTERM,
                },
            ),
            (
                "kill -SEGV $$",
                Ended::Signalled {
                    signal: libc::SIGSEGV,
                },
            ),
        ];
        for (script, expected) in cases {
            let mut step = sh(script, &[]);
            // Where a core dump of the SEGV case would land.
            step.cwd = Some(dir.path().to_path_buf());
            assert_eq!(quiet(&step).await.ended, expected, "{script}");
        }

        let execution = quiet(&sh("sleep 0.2", &[])).await;
        assert_eq!(execution.ended, Ended::Exited { code: 0 });
        assert!(execution.duration >= Duration::from_millis(200));
        assert!(execution.duration < Duration::from_secs(5));
    }
}
