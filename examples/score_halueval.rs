//! Scores HaluEval files and prints AUROC, pairwise accuracy and the length baseline.
//! `cargo run --release --example score_halueval -- ../shared/data/halueval/qa.jsonl ...`
use faultmap::analysis::score::{analyze, config::ScoreConfig};
use faultmap::input::{read_dataset, ReadOptions, Requirements};
use faultmap::progress::Progress;
use faultmap::stats::auroc;
use std::collections::HashMap;

fn main() {
    for path in std::env::args().skip(1) {
        let mut options = ReadOptions {
            requirements: Requirements {
                response: true,
                outcome: true,
                ..Requirements::default()
            },
            extra_fields: vec!["metadata.pair_id".into()],
            ..ReadOptions::default()
        };
        options.fields.reference = "__withheld__".into();
        let data = read_dataset(&path, &options).unwrap();
        let embedder = faultmap::analysis::score::scoring_embedder(256, 42);
        let t = std::time::Instant::now();
        let report = analyze(
            &data,
            &embedder,
            &std::env::var("FM_CONFIG")
                .map(|p| ScoreConfig::from_file(&p).unwrap())
                .unwrap_or_default(),
            &Progress::hidden(),
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let good: Vec<bool> = data
            .records
            .iter()
            .map(|r| r.failed == Some(false))
            .collect();
        let fin: Vec<f64> = report.rows.iter().map(|r| r.scores.final_score).collect();
        let att: Vec<f64> = report
            .rows
            .iter()
            .map(|r| r.scores.attribution.unwrap_or(0.0))
            .collect();
        let rel: Vec<f64> = report.rows.iter().map(|r| r.scores.relevance).collect();
        let spec: Vec<f64> = report.rows.iter().map(|r| r.scores.specificity).collect();
        let cq: Vec<f64> = report
            .rows
            .iter()
            .map(|r| r.scores.context_quality.unwrap_or(0.0))
            .collect();
        let unsup: Vec<f64> = report
            .rows
            .iter()
            .map(|r| -(r.unsupported.len() as f64))
            .collect();
        let len: Vec<f64> = data
            .records
            .iter()
            .map(|r| -(r.response.as_ref().unwrap().chars().count() as f64))
            .collect();
        let mut pairs: HashMap<String, [Option<usize>; 2]> = HashMap::new();
        for (i, r) in data.records.iter().enumerate() {
            let id = r.extra[0]
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default();
            let e = pairs.entry(id).or_default();
            e[usize::from(good[i])] = Some(i);
        }
        let pairwise = |s: &[f64]| {
            let (mut win, mut n) = (0.0, 0);
            for p in pairs.values() {
                if let [Some(b), Some(g)] = p {
                    n += 1;
                    if s[*g] > s[*b] {
                        win += 1.0
                    } else if s[*g] == s[*b] {
                        win += 0.5
                    }
                }
            }
            win / n as f64
        };
        let mut counts: HashMap<String, [usize; 2]> = HashMap::new();
        for (i, r) in report.rows.iter().enumerate() {
            counts
                .entry(format!("{:?}/{:?}", r.verdict.decision, r.verdict.gate))
                .or_default()[usize::from(good[i])] += 1;
        }
        if std::env::var("DUMP").is_ok() {
            for (r, rec) in report.rows.iter().zip(&data.records) {
                println!("{} | {} | a={:?} rel={:.2} spec={:.2} cq={:?} dis={:.2} fin={:.2} {:?} unsup={:?}", rec.failed.unwrap(), rec.response.as_ref().unwrap(), r.scores.attribution.map(|x| (x*100.0).round()/100.0), r.scores.relevance, r.scores.specificity, r.scores.context_quality.map(|x| (x*100.0).round()/100.0), r.scores.disagreement, r.scores.final_score, r.verdict.gate, r.unsupported.iter().map(|u| u.text.clone()).collect::<Vec<_>>());
            }
        }
        println!(
            "{path}: {} rows in {secs:.2}s ({} rows/s)",
            data.records.len(),
            faultmap::export::rate(data.records.len() as f64 / secs)
        );
        for (name, s) in [
            ("final", &fin),
            ("attribution", &att),
            ("relevance", &rel),
            ("specificity", &spec),
            ("context_quality", &cq),
            ("-unsupported", &unsup),
            ("-length", &len),
        ] {
            println!(
                "  {name:16} auroc {:.3}  pairwise {:.3}",
                auroc(s, &good).unwrap_or(f64::NAN),
                pairwise(s)
            );
        }
        let mut keys: Vec<_> = counts.into_iter().collect();
        keys.sort();
        for (k, [bad, good]) in keys {
            println!("  {k:40} bad {bad:6} good {good:6}");
        }
    }
}
