//! Outside witnesses of the ledger's head. The hash chain shows any row altered or removed
//! in the middle, but not rows cut from the end: a shorter chain is still a valid chain. So,
//! as transparency logs do, `warroom serve` writes signed checkpoints (position, hash, time,
//! Ed25519 signature by the instance's key) to places outside the database — a witness
//! file, the log, `/metrics`, and the announcement channel at each incident close — and
//! `warroom verify --witness FILE` fails when the ledger is shorter than a witnessed
//! position or differs at it.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One witnessed head: the ledger had `position` events, the last with `hash`, at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// The signer's Ed25519 public key, hex.
    pub key: String,
    /// The Ed25519 signature of [`Checkpoint::signed_text`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// What the signature covers: a fixed tag (so no other warroom text can be replayed as a
    /// checkpoint), the position, the hash and the time to the second.
    fn signed_text(position: i64, hash: &str, at: DateTime<Utc>) -> String {
        format!(
            "warroom-checkpoint-v1\n{position}\n{hash}\n{}",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// A checkpoint of `position` and `hash`, signed now-ish (`at`, to the second).
    pub fn sign(key: &WitnessKey, position: i64, hash: &str, at: DateTime<Utc>) -> Checkpoint {
        let at = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
        let signature = key.0.sign(Self::signed_text(position, hash, at).as_bytes());
        Checkpoint {
            position,
            hash: hash.to_string(),
            at,
            key: key.public_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Whether the signature is the key's over this checkpoint.
    pub fn check_signature(&self) -> Result<(), String> {
        let key: [u8; 32] = hex::decode(&self.key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("its key is not a 32-byte hex Ed25519 public key")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| "its key is not an Ed25519 key")?;
        let signature: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("its signature is not 64 bytes of hex")?;
        key.verify(
            Self::signed_text(self.position, &self.hash, self.at).as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| "its signature does not match: the line was altered or forged".to_string())
    }

    /// The line in a witness file.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a checkpoint serialises")
    }

    /// What the announcement channel is told.
    pub fn announcement(&self) -> String {
        format!(
            "Ledger checkpoint: {} events, head hash `{}`, {} (signed by key `{}…`, signature `{}`). Keep it: `warroom verify --witness` proves nothing was cut from the ledger up to here.",
            self.position,
            self.hash,
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            &self.key[..16.min(self.key.len())],
            self.signature
        )
    }
}

/// The instance's signing key.
pub struct WitnessKey(SigningKey);

/// The public key (hex) of the key in `path`, without creating one; `None` when the file
/// does not exist.
pub fn public_key_in(path: &Path) -> anyhow::Result<Option<String>> {
    Ok(WitnessKey::load(path)?.map(|key| key.public_hex()))
}

impl WitnessKey {
    /// Reads the key in `path` (64 hex characters, the Ed25519 seed); `None` when the file
    /// does not exist.
    fn load(path: &Path) -> anyhow::Result<Option<WitnessKey>> {
        use anyhow::Context;
        let text = match crate::small_file::read_small_file(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read the witness key {}: {e}", path.display()),
        };
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| {
                format!(
                    "the witness key {} is not 64 hex characters; remove it to have a new one made",
                    path.display()
                )
            })?;
        Ok(Some(WitnessKey(SigningKey::from_bytes(&seed))))
    }

    /// Reads the key in `path`, or creates one there (readable by the owner only) when the
    /// file does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<WitnessKey> {
        use anyhow::Context;
        match WitnessKey::load(path)? {
            Some(key) => Ok(key),
            None => {
                let key = WitnessKey::generate();
                let mut file = create_private(path)
                    .with_context(|| format!("cannot create the witness key {}", path.display()))?;
                writeln!(file, "{}", hex::encode(key.0.to_bytes()))?;
                file.sync_all()?;
                tracing::info!(
                    key_file = %path.display(),
                    public_key = %key.public_hex(),
                    "made a new ledger witness key; checkpoints are signed with it"
                );
                Ok(key)
            }
        }
    }

    /// A fresh random key.
    pub fn generate() -> WitnessKey {
        let seed: [u8; 32] = rand::random();
        WitnessKey(SigningKey::from_bytes(&seed))
    }

    /// The public key, hex: what `verify --witness-key` pins.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }
}

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Where and how often `warroom serve` writes checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessSettings {
    /// The witness file (JSON Lines, appended); `None`: log, metrics and chat only.
    pub file: Option<PathBuf>,
    /// The signing key's file; `None`: a key made for this run only (its public key is
    /// logged at start).
    pub key_file: Option<PathBuf>,
    /// A checkpoint once the ledger has grown by this many events…
    pub every_events: i64,
    /// …or this long after the last one, whichever comes first (when it grew at all).
    pub every: Duration,
}

/// The defaults of `[witness]`.
pub const DEFAULT_EVERY_EVENTS: i64 = 1000;
pub const DEFAULT_EVERY_MINUTES: i64 = 5;

impl WitnessSettings {
    /// The checked `[witness]` section; `default_file` is where the file goes when the
    /// configuration names none (beside a SQLite database).
    pub fn resolved(&self, default_file: Option<PathBuf>) -> WitnessSettings {
        let file = self.file.clone().or(default_file);
        let key_file = self.key_file.clone().or_else(|| {
            file.as_ref().map(|f| {
                let mut name = f.as_os_str().to_owned();
                name.push(".key");
                PathBuf::from(name)
            })
        });
        WitnessSettings {
            file,
            key_file,
            ..self.clone()
        }
    }
}

/// The witness file beside a SQLite database (`warroom.db` → `warroom.db.witness`);
/// `None` for PostgreSQL and in-memory stores.
pub fn default_file_for(db_url: &str) -> Option<PathBuf> {
    let file = crate::store::sqlite_file(db_url)?;
    let mut name = file.into_os_string();
    name.push(".witness");
    Some(PathBuf::from(name))
}

/// Reads a witness file: every line a checkpoint with a valid signature, and, when `pinned`
/// is given, by that key. Errors name the file and line.
pub fn read_witness(path: &Path, pinned: Option<&str>) -> Result<Vec<Checkpoint>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the witness file {}: {e}", path.display()))?;
    let mut checkpoints = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let line = line.map_err(|e| format!("{at}: cannot read: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint: Checkpoint = serde_json::from_str(&line)
            .map_err(|e| format!("{at}: not a checkpoint line ({e})"))?;
        checkpoint.check_signature().map_err(|why| {
            format!(
                "{at}: the checkpoint of position {} is not valid: {why}",
                checkpoint.position
            )
        })?;
        if let Some(pinned) = pinned {
            if !checkpoint.key.eq_ignore_ascii_case(pinned.trim()) {
                return Err(format!(
                    "{at}: the checkpoint of position {} is signed by key {}, not by the instance's key {pinned}",
                    checkpoint.position, checkpoint.key
                ));
            }
        }
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

/// Appends a checkpoint line and syncs it to disk.
pub fn append(path: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{}", checkpoint.to_line())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_signed_and_any_change_to_it_shows() {
        let key = WitnessKey::generate();
        let at = "2030-01-01T00:00:00.750Z".parse().unwrap();
        let checkpoint = Checkpoint::sign(&key, 42, "ab12", at);
        assert_eq!(checkpoint.at.timestamp_subsec_nanos(), 0);
        assert_eq!(checkpoint.check_signature(), Ok(()));
        let line = checkpoint.to_line();
        let back: Checkpoint = serde_json::from_str(&line).unwrap();
        assert_eq!(back, checkpoint);
        for tampered in [
            Checkpoint {
                position: 41,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: "ab13".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                at: checkpoint.at + chrono::Duration::seconds(1),
                ..checkpoint.clone()
            },
            Checkpoint {
                key: WitnessKey::generate().public_hex(),
                ..checkpoint.clone()
            },
        ] {
            assert!(tampered.check_signature().is_err(), "{tampered:?}");
        }
    }

    #[test]
    fn the_key_is_kept_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness.key");
        let made = WitnessKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = WitnessKey::load_or_create(&path).unwrap();
        assert_eq!(made.public_hex(), read.public_hex());
        std::fs::write(&path, "not hex").unwrap();
        assert!(WitnessKey::load_or_create(&path).is_err());
    }

    #[test]
    fn a_witness_file_is_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let key = WitnessKey::generate();
        let at = Utc::now();
        append(&path, &Checkpoint::sign(&key, 1, "aa", at)).unwrap();
        append(&path, &Checkpoint::sign(&key, 5, "bb", at)).unwrap();
        let read = read_witness(&path, Some(&key.public_hex())).unwrap();
        assert_eq!(read.iter().map(|c| c.position).collect::<Vec<_>>(), [1, 5]);
        let other = WitnessKey::generate().public_hex();
        assert!(read_witness(&path, Some(&other))
            .unwrap_err()
            .contains(":1: the checkpoint of position 1 is signed by key"));
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"bb\"", "\"bc\"");
        std::fs::write(&path, text).unwrap();
        let forged = read_witness(&path, None).unwrap_err();
        assert!(
            forged.contains(":2: the checkpoint of position 5 is not valid"),
            "{forged}"
        );
    }
}
