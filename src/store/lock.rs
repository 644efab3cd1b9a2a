//! The single-writer rule for SQLite: a process that opens an SQLite store for writing holds an
//! exclusive advisory lock (`flock`) on `PATH.lock` beside the database until it closes the
//! ledger or exits, so a second `warroom serve` (or `replay`, `import`, …) on the same file
//! refuses to start instead of racing the first one's projections and schedulers.
//!
//! Why a lock file and not SQLite's own locking: SQLite serialises each write transaction,
//! which keeps the ledger intact, but two instances would each run an escalation scheduler and
//! a delivery worker on the same file, which only PostgreSQL (with `LISTEN/NOTIFY`) supports.
//! Why `flock`: the kernel drops it when the process ends, even on a crash, so a stale lock
//! file never blocks a restart. Readers take no lock: WAL lets them read while the writer runs.
//!
//! Within one process, every ledger opened on the same file shares one lock (tests and the
//! bench open several ledgers on one file to play several writers).

use super::StoreError;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// An exclusive `flock` on a database's lock file, released when the last holder drops it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    /// The open lock file; closing it (on drop) releases the lock.
    _file: File,
    /// The file's head as this process's ledgers on it commit: shared, so each of them knows
    /// the store's head without asking it (this process is the file's only writer).
    pub(crate) heads: Arc<tokio::sync::watch::Sender<i64>>,
}

/// Locks held by this process, by lock file path, so ledgers opened on one file share one.
fn held() -> &'static Mutex<HashMap<PathBuf, Weak<WriterLock>>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Weak<WriterLock>>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// The lock file of an SQLite database: the database's path with `.lock` appended.
pub(crate) fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes (or shares, within this process) the writer lock of the database at `database`;
/// [`StoreError::InUse`] when another process holds it.
pub(crate) fn acquire(database: &Path) -> Result<Arc<WriterLock>, StoreError> {
    let path = lock_path(&absolute(database));
    let mut held = held().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lock) = held.get(&path).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::Open {
            url: format!("sqlite://{}", database.display()),
            reason: format!(
                "unable to open the lock file {} (it sits beside the database and holds the single-writer lock): {e}",
                path.display()
            ),
        })?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for this call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StoreError::InUse {
                path: absolute(database),
                pid: holder.trim().parse().ok(),
            });
        }
        return Err(StoreError::Open {
            url: format!("sqlite://{}", database.display()),
            reason: format!("cannot lock {}: {error}", path.display()),
        });
    }
    // Written only once the lock is ours, so a refused opener reads the holder's pid.
    let _ = file
        .set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .and_then(|_| file.flush());
    let lock = Arc::new(WriterLock {
        _file: file,
        heads: Arc::new(tokio::sync::watch::channel(0).0),
    });
    held.retain(|_, weak| weak.strong_count() > 0);
    held.insert(path, Arc::downgrade(&lock));
    Ok(lock)
}

/// The path made absolute without resolving the file itself (it may not exist yet): the
/// directory is canonicalised when it exists, so `./warroom.db` and `/dir/warroom.db` agree.
fn absolute(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match dir.canonicalize() {
        Ok(dir) => dir.join(name),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_shares_its_lock_and_drops_it_with_the_last_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("warroom.db");
        let a = acquire(&db).unwrap();
        let b = acquire(&dir.path().join(".").join("warroom.db")).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same file shares one lock");
        let pid = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        drop((a, b));
        // Released: a fresh descriptor can take it (flock conflicts between descriptors).
        let file = File::open(lock_path(&db)).unwrap();
        assert_eq!(
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
    }

    #[test]
    fn another_holder_is_refused_with_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("warroom.db");
        // Another descriptor holding the flock stands in for another process.
        let mut other = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(lock_path(&db))
            .unwrap();
        assert_eq!(
            unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        writeln!(other, "4242").unwrap();
        let err = acquire(&db).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::InUse {
                    pid: Some(4242),
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("pid 4242") && text.contains("warroom.db") && text.contains("PostgreSQL"),
            "{text}"
        );
    }
}
