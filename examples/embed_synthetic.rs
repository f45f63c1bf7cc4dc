//! Speed and memory of the built-in embedder on N synthetic support-ticket prompts
//! (10–20 words, a few hundred templates' worth of words plus a long tail of made-up words,
//! order numbers and names). Deterministic; nothing is read or written.
//!
//! cargo build --release --example embed_synthetic
//! /usr/bin/time -v target/release/examples/embed_synthetic 1000000
//!
//! Prints the time to generate and to embed; peak RSS comes from `time -v`. Run with a second
//! argument `--generate-only` for the baseline without the embedder (the output matrix adds
//! 4 × dims bytes per row on top), `static` for the built-in static model or `static:DIR` for
//! a model2vec directory instead of the hashing embedder (load time and texts/s, best of 3).

use faultmap::embed::hashing::{HashingConfig, HashingEmbedder};
use faultmap::embed::static_model::StaticEmbedder;
use faultmap::embed::Embedder;
use faultmap::progress::Progress;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const OPENERS: &[&str] = &[
    "hi",
    "hello",
    "hey team",
    "good morning",
    "urgent",
    "help",
    "please help",
    "dear support",
    "quick question",
    "",
    "",
    "",
];
const PRODUCTS: &[&str] = &[
    "app",
    "mobile app",
    "website",
    "account",
    "subscription",
    "invoice",
    "payment",
    "order",
    "delivery",
    "package",
    "refund",
    "password",
    "login",
    "router",
    "printer",
    "laptop",
    "phone",
    "headphones",
    "smart watch",
    "tv",
    "camera",
    "card",
    "bank transfer",
    "coupon",
    "gift card",
    "membership",
    "premium plan",
    "email",
    "notifications",
    "dashboard",
    "report",
    "export",
    "api key",
    "integration",
    "calendar",
    "sync",
    "backup",
    "storage",
    "profile",
];
const PROBLEMS: &[&str] = &[
    "is not working",
    "keeps crashing",
    "was charged twice",
    "never arrived",
    "is broken",
    "shows an error",
    "is very slow",
    "cannot be cancelled",
    "was declined",
    "is missing",
    "stopped syncing",
    "will not load",
    "logs me out",
    "arrived damaged",
    "is the wrong size",
    "does not turn on",
    "has a wrong amount",
    "expired too early",
    "is stuck in processing",
    "cannot be reset",
    "freezes on startup",
    "drains the battery",
    "was delivered late",
];
const DETAILS: &[&str] = &[
    "since yesterday",
    "after the last update",
    "for three days",
    "every time I try",
    "on my new phone",
    "since last week",
    "after I changed my address",
    "when I pay by card",
    "even after restarting",
    "although I followed the guide",
    "for the second time",
    "since I upgraded my plan",
    "on the checkout page",
    "when I open settings",
];
const ASKS: &[&str] = &[
    "can you fix it",
    "I want a refund",
    "please cancel my order",
    "what should I do",
    "please send a replacement",
    "can someone call me",
    "how long will this take",
    "I need this today",
    "please escalate",
    "is there a workaround",
    "thanks",
    "",
    "",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ter", "zan", "pro", "vel", "qui", "dra", "nor", "sen", "tal", "bri", "cor",
    "fex", "gul", "hom", "jin", "lux", "mor", "nix", "pol", "rus", "sor", "tiv", "ul",
];

fn pseudo_word(rng: &mut ChaCha8Rng) -> String {
    // Zipf-like long tail: word ids concentrated near 0, up to ~40k distinct words.
    let u: f64 = rng.gen();
    let mut id = (u.powi(3) * 40_000.0) as usize;
    let mut w = String::new();
    for _ in 0..3 {
        w.push_str(SYLLABLES[id % SYLLABLES.len()]);
        id /= SYLLABLES.len();
    }
    w
}

fn pick<'a>(rng: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

pub fn generate(n: usize, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut parts: Vec<String> = Vec::new();
            let o = pick(&mut rng, OPENERS);
            if !o.is_empty() {
                parts.push(o.to_string());
            }
            parts.push(format!("my {}", pick(&mut rng, PRODUCTS)));
            if rng.gen_bool(0.3) {
                parts.push(pseudo_word(&mut rng));
            }
            parts.push(pick(&mut rng, PROBLEMS).to_string());
            parts.push(pick(&mut rng, DETAILS).to_string());
            if rng.gen_bool(0.4) {
                parts.push(format!("order {}", rng.gen_range(100_000..999_999)));
            }
            if rng.gen_bool(0.5) {
                parts.push(pseudo_word(&mut rng));
            }
            let a = pick(&mut rng, ASKS);
            if !a.is_empty() {
                parts.push(a.to_string());
            }
            parts.join(" ")
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(100_000);
    let start = Instant::now();
    let texts = generate(n, 1);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "generated {n} prompts ({:.1} words on average) in {:.2}s",
        words as f64 / n as f64,
        start.elapsed().as_secs_f64()
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    if std::env::args().nth(2).as_deref() == Some("--generate-only") {
        // Baseline for peak-RSS comparisons: the prompts without the embedder.
        println!("{} prompts held", refs.len());
        return;
    }
    let arg = std::env::args().nth(2);
    if let Some(choice) = arg.as_deref().filter(|a| a.starts_with("static")) {
        let start = Instant::now();
        let embedder = match choice.strip_prefix("static:") {
            Some(dir) => StaticEmbedder::from_dir(dir),
            None => StaticEmbedder::builtin(),
        }
        .expect("model loads");
        println!(
            "loaded {} ({} dims) in {:.3}s",
            embedder.name(),
            embedder.dims(),
            start.elapsed().as_secs_f64()
        );
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            let m = embedder.embed(&refs, &Progress::hidden()).expect("embeds");
            best = best.min(start.elapsed().as_secs_f64());
            assert_eq!(m.rows(), n);
        }
        println!(
            "embedded {n} in {best:.3}s (best of 3): {:.0} texts/s on {} threads",
            n as f64 / best,
            rayon::current_num_threads()
        );
        return;
    }
    let embedder = HashingEmbedder::new(HashingConfig::default());
    let start = Instant::now();
    let m = embedder
        .embed(&refs, &Progress::new(false))
        .expect("embeds");
    println!(
        "embedded {} × {} in {:.2}s",
        m.rows(),
        m.cols(),
        start.elapsed().as_secs_f64()
    );
}
