//! JSON exporters: pretty JSON for any serializable report; JSONL for lists of items.

use super::Exporter;
use crate::analysis::slices::SliceReport;
use crate::error::{Error, Result};
use serde::Serialize;

pub fn serialize_error(e: serde_json::Error) -> Error {
    Error::Analysis(format!("cannot serialize the report: {e}"))
}

/// Version of the JSON reports' layout: raised when a field is removed, renamed or changes
/// meaning (adding one does not), so that a consumer can check what it parses.
pub const SCHEMA_VERSION: u32 = 1;

/// One pretty-printed JSON document with a trailing newline. A report that is an object starts
/// with `schema_version` ([`SCHEMA_VERSION`]) and `tool_version` (the faultmap version).
pub struct JsonExporter;

impl<R: Serialize> Exporter<R> for JsonExporter {
    fn export(&self, report: &R) -> Result<Vec<u8>> {
        let value = match serde_json::to_value(report).map_err(serialize_error)? {
            serde_json::Value::Object(fields) => {
                let mut versioned = serde_json::Map::with_capacity(fields.len() + 2);
                versioned.insert("schema_version".into(), SCHEMA_VERSION.into());
                versioned.insert("tool_version".into(), env!("CARGO_PKG_VERSION").into());
                versioned.extend(fields);
                serde_json::Value::Object(versioned)
            }
            other => other,
        };
        let mut out = serde_json::to_vec_pretty(&value).map_err(serialize_error)?;
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
