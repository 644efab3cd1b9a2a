//! Reading the small files a configuration names (the config itself, SOPs, secrets, tokens,
//! runbooks) so that a mistaken path can never hang or swamp `warroom check`: a device, a
//! FIFO or a directory is refused before it is opened, and no read goes past a cap.

use std::io::Read;
use std::path::Path;

/// The largest configuration file, SOP, secret or runbook warroom reads.
pub const SMALL_FILE_CAP: u64 = 1024 * 1024;

/// Reads `path` as UTF-8 text when it is a regular file of at most [`SMALL_FILE_CAP`] bytes.
/// Errors say which of those it is not.
pub fn read_small_file(path: &Path) -> std::io::Result<String> {
    read_capped(path, SMALL_FILE_CAP)
}

/// Reads `path` as UTF-8 text when it is a regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    // `metadata` follows symlinks and never blocks, unlike opening a FIFO; checking before
    // opening is what keeps `/dev/zero` or a pipe from being read at all.
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a directory, device or pipe); name a file",
        ));
    }
    let too_big = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} KiB; is this the right file?", cap / 1024),
        )
    };
    if metadata.len() > cap {
        return Err(too_big());
    }
    // The file may have grown (or been swapped) since the check: the read is capped as well.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_big());
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text; name a text file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_big_files_are_refused_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "a = 1\n").unwrap();
        assert_eq!(read_small_file(&ok).unwrap(), "a = 1\n");

        let zero = read_small_file(Path::new("/dev/zero")).unwrap_err();
        assert!(zero.to_string().contains("not a regular file"), "{zero}");
        let directory = read_small_file(dir.path()).unwrap_err();
        assert!(directory.to_string().contains("not a regular file"));

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        let refused = read_capped(&big, 1024).unwrap_err();
        assert!(
            refused.to_string().contains("larger than 1 KiB"),
            "{refused}"
        );

        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        assert!(read_small_file(&binary)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo only reads the NUL-terminated path it is given.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let refused = read_small_file(&fifo).unwrap_err();
        assert!(refused.to_string().contains("not a regular file"));
    }
}
