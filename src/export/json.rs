//! JSON exporters: pretty JSON for any serializable report; JSONL for lists of items.

use super::Exporter;
use crate::analysis::slices::SliceReport;
use crate::error::{Error, Result};
use serde::Serialize;

pub fn serialize_error(e: serde_json::Error) -> Error {
    Error::Analysis(format!("cannot serialize the report: {e}"))
}

/// One pretty-printed JSON document with a trailing newline.
pub struct JsonExporter;

impl<R: Serialize> Exporter<R> for JsonExporter {
    fn export(&self, report: &R) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(report).map_err(serialize_error)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// One compact JSON object per line.
pub struct JsonlExporter;

/// Appends one compact JSON line for `item`.
pub fn push_line<T: Serialize>(out: &mut Vec<u8>, item: &T) -> Result<()> {
    serde_json::to_writer(&mut *out, item).map_err(serialize_error)?;
    out.push(b'\n');
    Ok(())
}

impl Exporter<SliceReport> for JsonlExporter {
    fn export(&self, report: &SliceReport) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for slice in &report.slices {
            push_line(&mut out, slice)?;
        }
        Ok(out)
    }
}
