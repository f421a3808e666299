//! Signed checkpoints of the chain's head, kept outside the database.
//!
//! The keyed chain stops anyone without the key from rewriting or extending the
//! log, but not from cutting it short: deleting the newest rows (and moving the
//! head back) or every row leaves a chain that verifies. A checkpoint records
//! the head (chain id, sequence number, hash) with an HMAC under the audit key,
//! in an append-only file of JSON lines outside the database; a database whose
//! head is behind the newest checkpoint was truncated or wiped.
//!
//! Format, one line per checkpoint:
//! `{"chain":"…","seq":42,"hash":"…","at":1733390000000,"node":"…","mac":"…"}`
//! where `mac` is hex HMAC-SHA256, under the checkpoint subkey of the audit key,
//! over the JSON array `[chain, seq, hash, at, node]`.

use std::{
    fs,
    io::{self, BufRead, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::key::{ChainKey, Purpose};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The chain's id (`audit_chain.chain_id`).
    pub chain: String,
    /// The head's sequence number: every row up to it was verified when written.
    pub seq: i64,
    /// The hash of row `seq` (the genesis hash for 0).
    pub hash: String,
    /// When it was written, in Unix milliseconds.
    pub at: i64,
    /// The host that wrote it (on a cluster each node writes its own file).
    pub node: String,
    pub mac: String,
}

impl Checkpoint {
    pub(crate) fn new(key: &ChainKey, chain: &str, seq: i64, hash: &str, at: i64) -> Self {
        let mut c = Self {
            chain: chain.to_owned(),
            seq,
            hash: hash.to_owned(),
            at,
            node: node_name(),
            mac: String::new(),
        };
        c.mac = c.expected_mac(key);
        c
    }

    fn expected_mac(&self, key: &ChainKey) -> String {
        let content = json!([self.chain, self.seq, self.hash, self.at, self.node]).to_string();
        key.mac(Purpose::Checkpoint, &[content.as_bytes()])
    }

    pub fn is_signed(&self, key: &ChainKey) -> bool {
        ChainKey::matches(&self.expected_mac(key), &self.mac)
    }
}

/// What a checkpoint file holds: the newest valid checkpoint and the lines that
/// are not valid checkpoints (unparsable, or not signed with this key).
#[derive(Debug, Default)]
pub struct CheckpointFile {
    pub path: PathBuf,
    pub count: u64,
    pub newest: Option<Checkpoint>,
    pub bad_lines: Vec<u64>,
}

/// Reads every checkpoint in `path`, keeping the one with the highest sequence
/// number. A missing file reads as empty.
pub fn read(path: &Path, key: &ChainKey) -> io::Result<CheckpointFile> {
    let mut out = CheckpointFile {
        path: path.to_owned(),
        ..CheckpointFile::default()
    };
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for (n, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Checkpoint>(&line) {
            Ok(c) if c.is_signed(key) => {
                out.count += 1;
                if out.newest.as_ref().is_none_or(|n| c.seq >= n.seq) {
                    out.newest = Some(c);
                }
            }
            _ => out.bad_lines.push(n as u64 + 1),
        }
    }
    Ok(out)
}

/// Appends one checkpoint as a single write (atomic for a line this short with
/// `O_APPEND`) and syncs it to disk. The file is created 0600.
pub fn append(path: &Path, checkpoint: &Checkpoint) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(checkpoint).map_err(io::Error::other)?;
    line.push('\n');
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// This host's name, to tell apart the files of a cluster's nodes.
fn node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it or truncates, and we stop at the first NUL either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let key = ChainKey::new(&[3u8; 32]);
        let path = std::env::temp_dir().join(format!("ckpt-{}.jsonl", uuid::Uuid::new_v4()));
        append(&path, &Checkpoint::new(&key, "c", 4, "h4", 1)).unwrap();
        append(&path, &Checkpoint::new(&key, "c", 9, "h9", 2)).unwrap();
        let mut forged = Checkpoint::new(&key, "c", 50, "h50", 3);
        forged.seq = 51;
        append(&path, &forged).unwrap();
        let other = ChainKey::new(&[4u8; 32]);
        append(&path, &Checkpoint::new(&other, "c", 60, "h60", 4)).unwrap();
        let file = read(&path, &key).unwrap();
        assert_eq!(file.count, 2);
        assert_eq!(file.newest.as_ref().map(|c| c.seq), Some(9));
        assert_eq!(file.bad_lines, [3, 4]);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_file(&path).unwrap();
        assert!(read(&path, &key).unwrap().newest.is_none());
    }
}
