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

/// Tab when the header line has more tabs than commas, else comma.
pub(super) fn delimiter(prefix: &[u8]) -> u8 {
    let line = first_line(prefix).unwrap_or(without_bom(prefix));
    let count = |c: u8| line.iter().filter(|&&b| b == c).count();
    if count(b'\t') > count(b',') {
        b'\t'
    } else {
        b','
    }
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
