//! Progress of long work as an operator sees it: a bar with the count, the rate and the
//! time left when standard error is a terminal (a pseudo-terminal here), nothing of the
//! kind in a pipe.

use crate::common::text;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// Runs `warroom ARGS` in `dir` with its standard error on a pseudo-terminal of 120
/// columns; returns whether it succeeded and what the terminal received.
fn on_a_terminal(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the two ints; each is owned once below.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and nothing else owns them.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_warroom"));
        command
            .args(args)
            .current_dir(dir)
            .env_remove("WARROOM_DB")
            .env_remove("WARROOM_CONFIG")
            .env("TERM", "xterm")
            .stdout(Stdio::null())
            .stderr(Stdio::from(slave));
        command.spawn().expect("warroom runs")
        // The command, and with it the parent's copy of the terminal's end, is dropped here:
        // the master reads an end of file once the child exits.
    };
    let mut screen = Vec::new();
    let mut master = std::fs::File::from(master);
    // Linux answers EIO rather than 0 once the last writer is gone.
    let _ = master.read_to_end(&mut screen);
    let status = child.wait().unwrap();
    (status.success(), text(&screen))
}

fn transcript(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            serde_json::json!({
                "at": format!("2021-03-09T09:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "from": "svega",
                "channel": "ops",
                "text": format!("line {i}: still looking at the logs"),
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn replay_shows_a_bar_with_rate_and_time_left_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.jsonl"), transcript(600)).unwrap();
    let (ok, screen) = on_a_terminal(
        dir.path(),
        &["replay", "-q", "t.jsonl", "--db", "sqlite://w.db"],
    );
    assert!(ok, "{screen}");
    assert!(
        screen.contains("replaying t.jsonl ["),
        "no bar drawn:\n{screen:?}"
    );
    assert!(screen.contains("/600 lines"), "{screen:?}");
    assert!(screen.contains("/s, "), "no rate: {screen:?}");
    assert!(screen.contains(" left)"), "no time left: {screen:?}");
    // The bar is cleared, then the summary is said as ever.
    assert!(
        screen.contains("replayed 600 lines: 600 events recorded"),
        "{screen:?}"
    );

    // In a pipe, no bar and no terminal codes: the summary alone.
    let piped = crate::common::warroom(
        dir.path(),
        &["replay", "-q", "t.jsonl", "--db", "sqlite://again.db"],
    );
    assert!(piped.status.success());
    let stderr = text(&piped.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains("["),
        "{stderr:?}"
    );
    assert!(stderr.starts_with("replayed 600 lines"), "{stderr:?}");
}

#[test]
fn export_and_import_show_their_bars_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.jsonl"), transcript(300)).unwrap();
    let replayed = crate::common::warroom(
        dir.path(),
        &["replay", "-q", "t.jsonl", "--db", "sqlite://w.db"],
    );
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    let export = std::fs::File::create(dir.path().join("ledger.jsonl")).unwrap();
    let exported = Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["export", "--db", "sqlite://w.db"])
        .current_dir(dir.path())
        .stdout(export)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let (ok, screen) = on_a_terminal(
        dir.path(),
        &["import", "ledger.jsonl", "--db", "sqlite://copy.db"],
    );
    assert!(ok, "{screen}");
    assert!(screen.contains("importing ledger.jsonl ["), "{screen:?}");
    assert!(
        screen.contains(" KiB ("),
        "the file's size in bytes: {screen:?}"
    );
    let (ok, screen) = on_a_terminal(dir.path(), &["export", "--db", "sqlite://copy.db"]);
    assert!(ok, "{screen}");
    assert!(screen.contains("exporting ["), "{screen:?}");
    assert!(screen.contains(" rows ("), "{screen:?}");
}
