//! Throughput of `score` on synthetic RAG rows.
//!
//! Rows are about a pool of invented companies (one per 4 rows, at least 100), each with eight
//! facts (founding year and founder, staff, headquarters, chief executive, revenue, product
//! price, support hours, a second site). A row asks about one fact; its context is 3-6
//! sentences of that company's facts (the asked one 90% of the time) and neutral filler,
//! a string or, for a quarter of rows, an array of 2-3 passages (sometimes one of them about
//! another company). The response has 1-3 sentences copied or paraphrased from the
//! facts; 40% of rows are hallucinated: one sentence gets a changed number, a swapped name
//! or city, or is invented outright. 10% of rows have no context (the field missing or
//! null), 1% an empty response. `label` is true for grounded rows (not hallucinated, and the
//! asked fact is in the context), so the run also prints
//! the AUROC of `final` for telling grounded from hallucinated rows (a sanity check of the
//! data, not a quality benchmark).
//!
//! The child reads the file as the CLI does (rows kept for echoing), times `score::analyze`
//! with the default hashing embedder and configuration, records the peak memory, and then
//! re-runs the same pipeline step by step (`prepare`, with the embedder wrapped to time the
//! embedding inside it, then `evidence`, then `decide` and row assembly) to time the phases. The phase timings come from a second pass
//! in the same process and are not part of the totals.

use crate::runs::{field, run_child, with_median, Fields};
use faultmap::analysis::score::{self, config::ScoreConfig, decide, evidence, prepare};
use faultmap::embed::Embedder;
use faultmap::input::{read_dataset, ReadOptions, Requirements};
use faultmap::matrix::Matrix;
use faultmap::progress::Progress;
use faultmap::stats::auroc;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

const NAME_A: &[&str] = &[
    "Norta",
    "Velix",
    "Quandry",
    "Borealis",
    "Kestrel",
    "Lumen",
    "Orchid",
    "Paragon",
    "Sable",
    "Tamarind",
    "Umber",
    "Vantor",
    "Willow",
    "Zephyr",
    "Altair",
    "Brightwater",
    "Cobalt",
    "Dunmore",
    "Everly",
    "Harbor",
];
const NAME_B: &[&str] = &[
    "Labs",
    "Systems",
    "Logistics",
    "Foods",
    "Energy",
    "Health",
    "Robotics",
    "Analytics",
    "Motors",
    "Textiles",
    "Pharma",
    "Media",
];
const FIRST: &[&str] = &[
    "Maria", "James", "Aiko", "Olu", "Priya", "Lars", "Sofia", "Mateo", "Chen", "Fatima", "Noah",
    "Ingrid", "Ravi", "Elena", "Tomas", "Amara",
];
const LAST: &[&str] = &[
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Castillo",
    "Novak",
    "Haddad",
    "Brennan",
    "Kowalski",
    "Achebe",
    "Silva",
    "Nakamura",
    "Fischer",
    "Romano",
    "Petrov",
    "Osei",
];
const CITIES: &[&str] = &[
    "Lisbon", "Denver", "Osaka", "Nairobi", "Tallinn", "Porto", "Calgary", "Lyon", "Austin",
    "Gdansk", "Valencia", "Auckland", "Bergen", "Cork", "Leipzig", "Tucson",
];
const PRODUCTS: &[&str] = &[
    "analytics dashboard",
    "delivery tracker",
    "billing suite",
    "mobile app",
    "sensor kit",
    "training course",
    "cloud backup",
    "routing engine",
];
const FILLER: &[&str] = &[
    "The company publishes a sustainability report every spring.",
    "Employees can work remotely two days a week.",
    "Its website lists answers to the most common questions.",
    "The board meets four times a year.",
    "Most customers sign up through the online store.",
    "The firm sponsors a local football club.",
    "Its annual conference draws partners from many countries.",
    "Internal teams use an agile planning process.",
];
const AWARDS: &[&str] = &["Red Dot", "Webby", "Golden Gear", "Innovator"];

struct Company {
    name: String,
    founder: String,
    ceo: String,
    city: &'static str,
    city2: &'static str,
    founded: u32,
    ceo_since: u32,
    staff: u32,
    offices: u32,
    revenue: u32,
    revenue_year: u32,
    product: &'static str,
    price: u32,
    open: u32,
    close: u32,
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn person(rng: &mut ChaCha8Rng) -> String {
    format!("{} {}", pick(rng, FIRST), pick(rng, LAST))
}

impl Company {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        let founded = rng.gen_range(1950..2016);
        Company {
            name: format!("{} {}", pick(rng, NAME_A), pick(rng, NAME_B)),
            founder: person(rng),
            ceo: person(rng),
            city: pick(rng, CITIES),
            city2: pick(rng, CITIES),
            founded,
            ceo_since: rng.gen_range(founded + 1..2025),
            staff: rng.gen_range(12..40_000),
            offices: rng.gen_range(2..30),
            revenue: rng.gen_range(3..900),
            revenue_year: rng.gen_range(2018..2025),
            product: pick(rng, PRODUCTS),
            price: rng.gen_range(5..400),
            open: rng.gen_range(6..10),
            close: rng.gen_range(4..9),
        }
    }

    const FACTS: usize = 8;

    /// Fact `k` as the context states it.
    fn fact(&self, k: usize) -> String {
        let c = self;
        match k {
            0 => format!("{} was founded in {} by {}.", c.name, c.founded, c.founder),
            1 => format!(
                "{} employs {} people across {} offices.",
                c.name, c.staff, c.offices
            ),
            2 => format!("The headquarters of {} are in {}.", c.name, c.city),
            3 => format!(
                "{} has been chief executive of {} since {}.",
                c.ceo, c.name, c.ceo_since
            ),
            4 => format!(
                "In {}, {} reported revenue of {} million dollars.",
                c.revenue_year, c.name, c.revenue
            ),
            5 => format!(
                "Its best-known product is the {}, priced at {} dollars per month.",
                c.product, c.price
            ),
            6 => format!(
                "Customer support is open from {} am to {} pm on weekdays.",
                c.open, c.close
            ),
            _ => format!("Last year {} opened a second site in {}.", c.name, c.city2),
        }
    }

    /// The same fact in other words (what a grounded response says).
    fn paraphrase(&self, k: usize) -> String {
        let c = self;
        match k {
            0 => format!("{} started {} in {}.", c.founder, c.name, c.founded),
            1 => format!(
                "It has a staff of {} spread over {} offices.",
                c.staff, c.offices
            ),
            2 => format!("{} is headquartered in {}.", c.name, c.city),
            3 => format!(
                "The company is run by {}, who took over in {}.",
                c.ceo, c.ceo_since
            ),
            4 => format!(
                "Revenue reached {} million dollars in {}.",
                c.revenue, c.revenue_year
            ),
            5 => format!("The {} costs {} dollars a month.", c.product, c.price),
            6 => format!(
                "Support answers between {} am and {} pm, Monday to Friday.",
                c.open, c.close
            ),
            _ => format!("{} added a site in {} last year.", c.name, c.city2),
        }
    }

    /// The fact with a changed number or a swapped name or city (a hallucination).
    fn corrupted(&self, k: usize, rng: &mut ChaCha8Rng) -> String {
        let c = self;
        let bump = |rng: &mut ChaCha8Rng, x: u32| x + rng.gen_range(1..9);
        let other_city = |rng: &mut ChaCha8Rng, not: &str| loop {
            let city = pick(rng, CITIES);
            if city != not {
                break city;
            }
        };
        match k {
            0 if rng.gen_bool(0.5) => {
                format!(
                    "{} started {} in {}.",
                    c.founder,
                    c.name,
                    bump(rng, c.founded)
                )
            }
            0 => format!("{} started {} in {}.", person(rng), c.name, c.founded),
            1 => format!(
                "It has a staff of {} spread over {} offices.",
                bump(rng, c.staff) * 3,
                c.offices
            ),
            2 => format!(
                "{} is headquartered in {}.",
                c.name,
                other_city(rng, c.city)
            ),
            3 => format!(
                "The company is run by {}, who took over in {}.",
                person(rng),
                c.ceo_since
            ),
            4 => format!(
                "Revenue reached {} million dollars in {}.",
                bump(rng, c.revenue),
                c.revenue_year
            ),
            5 => format!(
                "The {} costs {} dollars a month.",
                c.product,
                bump(rng, c.price)
            ),
            6 => format!(
                "Support answers between {} am and {} pm, Monday to Friday.",
                c.open,
                c.close + rng.gen_range(1..4)
            ),
            _ => format!(
                "{} added a site in {} last year.",
                c.name,
                other_city(rng, c.city2)
            ),
        }
    }

    fn question(&self, k: usize) -> String {
        let c = self;
        match k {
            0 => format!("When was {} founded and by whom?", c.name),
            1 => format!("How many people work at {}?", c.name),
            2 => format!("Where is {} based?", c.name),
            3 => format!("Who leads {}?", c.name),
            4 => format!("How much revenue did {} make?", c.name),
            5 => format!("What does the {} from {} cost?", c.product, c.name),
            6 => format!("When can I reach {} support?", c.name),
            _ => format!("Where did {} expand to?", c.name),
        }
    }

    /// A sentence about something the context never mentions.
    fn invented(&self, rng: &mut ChaCha8Rng) -> String {
        match rng.gen_range(0..3) {
            0 => format!(
                "{} also runs a research lab in {} with {} scientists.",
                self.name,
                pick(rng, CITIES),
                rng.gen_range(10..500)
            ),
            1 => format!(
                "The company won the {} {} award for design.",
                rng.gen_range(2000..2025),
                pick(rng, AWARDS)
            ),
            _ => format!(
                "{} plans to list its shares on the stock exchange in {}.",
                self.name,
                rng.gen_range(2026..2031)
            ),
        }
    }
}

/// Writes `rows` synthetic RAG rows as JSONL (same seed, same bytes).
pub fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let companies: Vec<Company> = (0..(rows / 4).max(100))
        .map(|_| Company::new(&mut rng))
        .collect();
    let mut out = BufWriter::new(File::create(path)?);
    for i in 0..rows {
        let c = &companies[rng.gen_range(0..companies.len())];
        let asked = rng.gen_range(0..Company::FACTS);
        // Context: the asked fact (usually), other facts and filler, 3-6 sentences.
        let n_sentences = rng.gen_range(3..=6);
        let mut facts: Vec<usize> = (0..Company::FACTS).filter(|&k| k != asked).collect();
        facts.shuffle(&mut rng);
        let mut used: Vec<usize> = Vec::new();
        let retrieved = rng.gen_bool(0.9);
        if retrieved {
            used.push(asked);
        }
        let mut sentences: Vec<String> = used.iter().map(|&k| c.fact(k)).collect();
        while sentences.len() < n_sentences {
            if rng.gen_bool(0.2) {
                sentences.push(pick(&mut rng, FILLER).to_string());
            } else {
                let k = facts.pop().expect("enough facts");
                used.push(k);
                sentences.push(c.fact(k));
            }
        }
        sentences.shuffle(&mut rng);
        let context = if rng.gen_bool(0.25) {
            // 2-3 passages; sometimes the last is about another company (a retrieval miss).
            let n_passages = rng.gen_range(2..=3);
            let distractor = rng.gen_bool(0.3);
            let own = n_passages - usize::from(distractor);
            let mut passages: Vec<String> = vec![String::new(); own];
            for (j, s) in sentences.iter().enumerate() {
                let p = &mut passages[j * own / sentences.len()];
                if !p.is_empty() {
                    p.push(' ');
                }
                p.push_str(s);
            }
            if distractor {
                let other = &companies[rng.gen_range(0..companies.len())];
                let k = rng.gen_range(0..Company::FACTS);
                passages.push(format!(
                    "{} {}",
                    other.fact(k),
                    other.fact((k + 1) % Company::FACTS)
                ));
            }
            serde_json::json!(passages)
        } else {
            serde_json::json!(sentences.join(" "))
        };
        // Response: the asked fact, then up to two more facts the context states.
        let mut said = vec![asked];
        for &k in used
            .iter()
            .filter(|&&k| k != asked)
            .take(rng.gen_range(0..=2))
        {
            said.push(k);
        }
        let grounded = !rng.gen_bool(0.4);
        let wrong = if grounded {
            usize::MAX
        } else {
            rng.gen_range(0..said.len())
        };
        let mut response: Vec<String> = Vec::new();
        for (j, &k) in said.iter().enumerate() {
            let sentence = if j == wrong {
                if rng.gen_bool(0.25) {
                    c.invented(&mut rng)
                } else {
                    c.corrupted(k, &mut rng)
                }
            } else if rng.gen_bool(0.4) {
                c.fact(k)
            } else {
                c.paraphrase(k)
            };
            response.push(sentence);
        }
        let response = if rng.gen_bool(0.01) {
            String::new()
        } else {
            response.join(" ")
        };
        let mut row = serde_json::json!({
            "id": format!("q{i}"),
            "prompt": c.question(asked),
            "response": response,
            // A true statement the context does not contain is not grounded either.
            "label": grounded && retrieved,
        });
        match rng.gen_range(0..20) {
            0 => {}                                        // no context field
            1 => row["context"] = serde_json::Value::Null, // explicit null
            _ => row["context"] = context,
        }
        writeln!(out, "{row}")?;
    }
    out.flush()
}

/// One measured run in this process; prints one `key=value` result line for the parent.
/// `phases`: also time the phases (off for profiling the real `analyze` alone).
pub fn run_one(path: &Path, phases: bool) -> faultmap::Result<()> {
    let hidden = Progress::hidden();
    let started = Instant::now();
    let options = ReadOptions {
        requirements: Requirements {
            response: true,
            ..Requirements::default()
        },
        // `faultmap score` echoes every input row in its output, so it keeps them.
        keep_raw: true,
        ..Default::default()
    };
    let data = read_dataset(path.to_str().expect("utf-8 path"), &options)?;
    let read = started.elapsed().as_secs_f64();
    let embedder = faultmap::analysis::score::scoring_embedder(256, 42);
    let config = ScoreConfig::default();
    let t = Instant::now();
    let cpu = cpu_seconds();
    let report = score::analyze(&data, &embedder, &config, &hidden)?;
    let scored = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let total = started.elapsed().as_secs_f64();
    let peak = crate::peak_rss_mib();
    let grounded: Vec<bool> = data.records.iter().map(|r| r.label == Some(true)).collect();
    let finals: Vec<f64> = report.rows.iter().map(|r| r.scores.final_score).collect();
    let area = auroc(&finals, &grounded).unwrap_or(f64::NAN);
    drop(report);
    if !phases {
        println!(
            "RESULT rows={} total={total:.4} read={read:.4} score={scored:.4} cpu={cpu:.2} peak={peak:.1} auroc={area:.4}",
            data.records.len()
        );
        return Ok(());
    }

    // Phases: the same pipeline again, step by step, each timed in wall and CPU seconds.
    let mut timings = String::new();
    let phase = |timings: &mut String, name: &str, wall: Instant, cpu: f64| {
        timings.push_str(&format!(
            " {name}={:.4} {name}_cpu={:.2}",
            wall.elapsed().as_secs_f64(),
            cpu_seconds() - cpu
        ));
    };
    let timed = TimedEmbedder {
        inner: &embedder,
        wall_cpu: std::sync::Mutex::new((0.0, 0.0)),
    };
    let (t, c) = (Instant::now(), cpu_seconds());
    let (texts, corpus) = prepare::prepare(&data.records, &timed, &hidden)?;
    let (prepare_wall, prepare_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let (embed_wall, embed_cpu) = *timed.wall_cpu.lock().expect("not poisoned");
    timings.push_str(&format!(
        " prepare_rest={:.4} prepare_rest_cpu={:.2} embed={embed_wall:.4} embed_cpu={embed_cpu:.2}",
        prepare_wall - embed_wall,
        prepare_cpu - embed_cpu
    ));
    let (t, c) = (Instant::now(), cpu_seconds());
    let ev: Vec<evidence::Evidence> = data
        .records
        .par_iter()
        .zip(&texts)
        .map(|(record, row)| {
            evidence::evidence(
                row,
                &corpus,
                record.response.as_deref().unwrap_or(""),
                &record.prompt,
                &config.evidence,
            )
        })
        .collect();
    phase(&mut timings, "evidence", t, c);
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut kept = 0usize;
    for (record, e) in data.records.iter().zip(&ev) {
        let s = decide::scores(e, &config);
        let v = decide::decide(e, &s, &config.gates);
        let input = record.raw.clone();
        kept += input.len() + v.reason.len() + e.unsupported.clone().len();
    }
    std::hint::black_box(kept);
    phase(&mut timings, "decide", t, c);

    println!(
        "RESULT rows={} texts={} total={total:.4} read={read:.4} score={scored:.4} cpu={cpu:.2} \
         peak={peak:.1} auroc={area:.4}{timings}",
        data.records.len(),
        corpus.texts.len(),
    );
    Ok(())
}

/// Delegates to another embedder and records the wall and CPU time spent in it, so the
/// embedding can be told apart from the rest of `prepare`.
struct TimedEmbedder<'a> {
    inner: &'a dyn Embedder,
    wall_cpu: std::sync::Mutex<(f64, f64)>,
}

impl Embedder for TimedEmbedder<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn embed(&self, texts: &[&str], progress: &Progress) -> faultmap::Result<Matrix> {
        let (t, c) = (Instant::now(), cpu_seconds());
        let out = self.inner.embed(texts, progress);
        let mut w = self.wall_cpu.lock().expect("not poisoned");
        w.0 += t.elapsed().as_secs_f64();
        w.1 += cpu_seconds() - c;
        out
    }
}

/// CPU seconds (user + system, all threads) this process has used so far, from
/// /proc/self/stat (clock ticks of 1/100 s, the Linux default).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Generates the data if needed, runs each size `runs` times in child processes, then prints
/// a throughput table and a phase table, a row per run and the median of each column.
pub fn run_all(sizes: &[usize], runs: usize) {
    let dir = PathBuf::from("bench-data");
    std::fs::create_dir_all(&dir).expect("create bench-data/");
    let mut all: Vec<Vec<Fields>> = Vec::new();
    for &rows in sizes {
        let path = dir.join(format!("score{rows}.jsonl"));
        if !path.exists() {
            generate(&path, rows).expect("write benchmark data");
        }
        let results = (1..=runs)
            .filter_map(|run| {
                run_child(
                    &[OsStr::new("--one-score"), path.as_os_str()],
                    &format!("{rows} rows, run {run}"),
                )
            })
            .collect();
        all.push(results);
    }
    println!("| run | rows | distinct texts | total s | read s | score s | score CPU s | rows/s (score) | rows/s (read + score) | peak MiB | AUROC final vs label |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for runs in &all {
        for (label, f) in with_median(runs) {
            let g = |k: &str| field(&f, k);
            println!(
                "| {label} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.2} | {:.0} | {:.0} | {:.0} | {:.3} |",
                g("rows"),
                g("texts"),
                g("total"),
                g("read"),
                g("score"),
                g("cpu"),
                g("rows") / g("score"),
                g("rows") / g("total"),
                g("peak"),
                g("auroc"),
            );
        }
    }
    println!();
    println!("Phases (a second pass in the same process), wall s / CPU s:");
    println!();
    println!("| run | rows | prepare without embedding | embedding | evidence | decide + rows |");
    println!("|---|---:|---:|---:|---:|---:|");
    for runs in &all {
        for (label, f) in with_median(runs) {
            let g = |k: &str| field(&f, k);
            println!(
                "| {label} | {:.0} | {:.3} / {:.2} | {:.3} / {:.2} | {:.3} / {:.2} | {:.3} / {:.2} |",
                g("rows"),
                g("prepare_rest"),
                g("prepare_rest_cpu"),
                g("embed"),
                g("embed_cpu"),
                g("evidence"),
                g("evidence_cpu"),
                g("decide"),
                g("decide_cpu"),
            );
        }
    }
}
