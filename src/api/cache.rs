//! A persistent cache of API responses: one file per entry, written to a temporary file in the
//! same directory and renamed into place, so a run killed mid-write leaves either the whole
//! entry or none. Each file also carries its length and a checksum, so a file torn by a power
//! loss reads as a miss, never as wrong data.
//!
//! Layout: `DIR/v1/KIND/HH/HASH` where KIND is `embeddings` or `chat`, HASH is the 32 hex
//! digits of the XXH3-128 of the entry's key parts (each prefixed with its length as a
//! little-endian u64: endpoint URL, model, parameters as JSON, text), and HH its first two.
//! File: `FMC1`, payload length (u64 LE), payload, XXH3-64 of the payload (u64 LE). An
//! embedding's payload is its f32 values (LE); a completion's is its UTF-8 text.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

const MAGIC: &[u8; 4] = b"FMC1";

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// XXH3-128 of the length-prefixed `parts`: a specified hash, stable across Rust versions and
/// platforms (the key needs no cryptographic strength: the entries are ours).
pub fn key(parts: &[&str]) -> u128 {
    let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for p in parts {
        bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
        bytes.extend_from_slice(p.as_bytes());
    }
    xxh3_128(&bytes)
}

impl Cache {
    /// A cache under `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, kind: &str, key: u128) -> PathBuf {
        let hex = format!("{key:032x}");
        self.dir.join("v1").join(kind).join(&hex[..2]).join(hex)
    }

    /// The payload stored under `key`, or `None` when missing or damaged.
    pub fn get(&self, kind: &str, key: u128) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(kind, key)).ok()?;
        decode(&bytes)
    }

    /// Stores `payload` under `key` (temporary file + rename).
    pub fn put(&self, kind: &str, key: u128, payload: &[u8]) -> Result<()> {
        let path = self.path(kind, key);
        let dir = path.parent().expect("entry has a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut bytes = Vec::with_capacity(payload.len() + 20);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&xxh3_64(payload).to_le_bytes());
        let mut tmp =
            crate::export::file::temp_file_in(dir, None).map_err(|e| Error::io(&path, e))?;
        tmp.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    pub fn get_vector(&self, kind: &str, key: u128) -> Option<Vec<f32>> {
        let bytes = self.get(kind, key)?;
        if bytes.len() % 4 != 0 || bytes.is_empty() {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    pub fn put_vector(&self, kind: &str, key: u128, v: &[f32]) -> Result<()> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.put(kind, key, &bytes)
    }

    pub fn get_text(&self, kind: &str, key: u128) -> Option<String> {
        String::from_utf8(self.get(kind, key)?).ok()
    }

    pub fn put_text(&self, kind: &str, key: u128, text: &str) -> Result<()> {
        self.put(kind, key, text.as_bytes())
    }
}

fn decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let payload = rest.get(8..8usize.checked_add(len)?)?;
    let sum = rest.get(8 + len..)?;
    (sum.len() == 8 && u64::from_le_bytes(sum.try_into().ok()?) == xxh3_64(payload))
        .then(|| payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let k = key(&["http://x/v1/embeddings", "m", "{}", "hello"]);
        assert!(cache.get_vector("embeddings", k).is_none());
        cache.put_vector("embeddings", k, &[1.0, -2.5]).unwrap();
        assert_eq!(cache.get_vector("embeddings", k).unwrap(), vec![1.0, -2.5]);
        // A torn file (cut anywhere) or a flipped bit reads as a miss.
        let path = cache.path("embeddings", k);
        let full = std::fs::read(&path).unwrap();
        for cut in 0..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            assert!(cache.get("embeddings", k).is_none(), "cut at {cut}");
        }
        let mut flipped = full.clone();
        flipped[14] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(cache.get("embeddings", k).is_none());
        cache.put_text("chat", k, "answer").unwrap();
        assert_eq!(cache.get_text("chat", k).unwrap(), "answer");
    }

    #[test]
    fn key_separates_parts() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
    }
}
