//! Exporters: report structs to table, JSON, JSONL, Markdown.
