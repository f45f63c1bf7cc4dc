//! Validation of real output against the JSON Schemas in docs/schemas/.

use serde_json::Value;

pub const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schemas");

/// One compiled schema: a file in docs/schemas, with an optional `#/$defs/...` fragment.
pub struct Schema {
    name: String,
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Schema {
    pub fn load(name: &str) -> Schema {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        let index = compiler
            .compile(&format!("{SCHEMAS}/{name}"), &mut schemas)
            .unwrap_or_else(|e| panic!("{name} does not compile: {e:#}"));
        Schema {
            name: name.to_string(),
            schemas,
            index,
        }
    }

    /// Panics, saying where, when `instance` does not match.
    pub fn check(&self, instance: &Value, what: &str) {
        if let Err(e) = self.schemas.validate(instance, self.index) {
            panic!("{what} does not match {}:\n{e}", self.name);
        }
    }
}

/// Checks `instance` against the schema `name`.
pub fn validate(name: &str, instance: &Value, what: &str) {
    Schema::load(name).check(instance, what);
}
