//! Format and delimiter sniffing from the first bytes of an input.

use super::InputFormat;
use std::io::{self, Read};

/// Stop peeking after this many bytes even without a full first line.
const MAX_PEEK: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The input's bytes after a UTF-8 BOM.
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// The first non-blank line (without its line ending), if complete or the input ended.
fn first_line(bytes: &[u8]) -> Option<&[u8]> {
    let bytes = without_bom(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &bytes[start..];
    let end = rest.iter().position(|&b| b == b'\n')?;
    Some(&rest[..end])
}

/// Reads from `reader` until the first non-blank line is complete (or EOF, or [`MAX_PEEK`]
/// bytes), returning what was read; the caller must read these bytes again before the rest.
pub(super) fn peek<R: Read>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::new();
    let mut buf = [0u8; 8192];
    while first_line(&prefix).is_none() && prefix.len() < MAX_PEEK {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => prefix.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(prefix)
}

/// `{` as the first non-whitespace byte → JSONL, else CSV. An empty input counts as JSONL
/// (either way it has no rows).
pub(super) fn format(prefix: &[u8]) -> InputFormat {
    match without_bom(prefix)
        .iter()
        .find(|b| !b.is_ascii_whitespace())
    {
        None | Some(b'{') => InputFormat::Jsonl,
        Some(_) => InputFormat::Csv,
    }
}

/// The commonest of comma, tab and semicolon in the header line; comma on a tie, then tab.
pub(super) fn delimiter(prefix: &[u8]) -> u8 {
    let line = first_line(prefix).unwrap_or(without_bom(prefix));
    let count = |c: u8| line.iter().filter(|&&b| b == c).count();
    let mut best = b',';
    for candidate in [b'\t', b';'] {
        if count(candidate) > count(best) {
            best = candidate;
        }
    }
    best
}

/// The compression format whose magic bytes start the input, if any: such input has to be
/// decompressed first, and reading it as text would only report "malformed" rows.
pub(super) fn compression(prefix: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"PK\x03\x04", "zip"),
    ];
    // bzip2: `BZh`, the block size digit, then the first block's magic (pi in BCD).
    let bzip2 = prefix.len() >= 10
        && prefix.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&prefix[3])
        && &prefix[4..10] == b"1AY&SY";
    if bzip2 {
        return Some("bzip2");
    }
    MAGIC
        .iter()
        .find(|(magic, _)| prefix.starts_with(magic))
        .map(|&(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_format_after_bom_and_whitespace() {
        assert_eq!(format(b"\xEF\xBB\xBF  \n{\"a\":1}"), InputFormat::Jsonl);
        assert_eq!(format(b"prompt,score\n"), InputFormat::Csv);
        assert_eq!(format(b""), InputFormat::Jsonl);
    }

    #[test]
    fn sniffs_delimiter_from_header_line() {
        assert_eq!(delimiter(b"prompt\tscore\nhello, world\t1\n"), b'\t');
        assert_eq!(delimiter(b"prompt,score\na\tb,1\n"), b',');
        assert_eq!(delimiter(b"id;prompt;score\n1;a, b;1\n"), b';');
        assert_eq!(delimiter(b"prompt;x,score\n"), b',');
    }

    #[test]
    fn recognizes_compressed_input() {
        assert_eq!(compression(b"\x1f\x8b\x08\x00"), Some("gzip"));
        assert_eq!(compression(b"\x28\xb5\x2f\xfd\x00"), Some("zstd"));
        assert_eq!(compression(b"{\"prompt\": 1}"), None);
        assert_eq!(compression(b""), None);
        assert_eq!(compression(b"BZh91AY&SY\x00"), Some("bzip2"));
        assert_eq!(compression(b"BZhello,score\n"), None);
    }

    #[test]
    fn peek_stops_after_first_line() {
        let data = b"\n\nprompt,score\nx,1\n".repeat(10_000);
        let mut reader = &data[..];
        let prefix = peek(&mut reader).unwrap();
        assert!(prefix.len() <= 8192);
        assert!(first_line(&prefix).is_some());
    }
}
