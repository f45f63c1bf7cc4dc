//! `faultmap score` on BEGIN dev (`../shared/data/begin_dev`, human attribution labels; not
//! part of the repo): issue 15's aims on the rows the decisions were fitted to. Generic turns
//! are left out and each row is scored from id, prompt, response and context alone, as
//! tools/labelled.py does, so the figures match docs/score.md. These are all-row figures with
//! the compiled-in thresholds (fitted on these rows among others); the held-out ones come from
//! tools/fit_decisions.py and tools/fit_final.py. Ignored by default; `.ci/run` runs it with
//! `--ignored --nocapture` and it prints its figures.

mod common;

use common::{faultmap_ok_timed, shared_data};
use faultmap::stats::auroc;
use serde_json::{json, Value};

#[test]
#[ignore = "needs ../shared/data; run by .ci/run"]
fn begin_dev_decisions_and_auroc_meet_issue_15s_aims() {
    let Some(path) = shared_data("begin_dev/begin_dev.jsonl") else {
        return;
    };
    let mut input = String::new();
    let mut attributable = Vec::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        if row["label"] == "generic" {
            continue;
        }
        attributable.push(row["label"] == "attributable");
        let fields = json!({
            "id": row["id"],
            "prompt": row["prompt"],
            "response": row["response"],
            "context": row["context"],
        });
        input.push_str(&format!("{fields}\n"));
    }
    let dir = std::env::temp_dir().join(format!("faultmap-begin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("begin_dev.jsonl");
    std::fs::write(&file, input).unwrap();
    let (stdout, secs) = faultmap_ok_timed(&[
        "score",
        file.to_str().unwrap(),
        "--format",
        "jsonl",
        "--quiet",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let scored: Vec<Value> = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(scored.len(), attributable.len());

    let column = |key: &str| -> Vec<f64> {
        scored
            .iter()
            .map(|s| s["scores"][key].as_f64().unwrap())
            .collect()
    };
    let final_auroc = auroc(&column("final"), &attributable).unwrap();
    let attribution_auroc = auroc(&column("attribution"), &attributable).unwrap();
    // (attributable, not attributable) rows per decision
    let count = |decision: &str| -> (usize, usize) {
        let decided: Vec<bool> = scored
            .iter()
            .zip(&attributable)
            .filter(|(s, _)| s["decision"] == decision)
            .map(|(_, &good)| good)
            .collect();
        let good = decided.iter().filter(|&&g| g).count();
        (good, decided.len() - good)
    };
    let (accept_good, accept_bad) = count("ACCEPT");
    let (reject_good, reject_bad) = count("REJECT");
    let unattributable = attributable.iter().filter(|&&a| !a).count();
    let accept_precision = accept_good as f64 / (accept_good + accept_bad) as f64;
    let reject_precision = reject_bad as f64 / (reject_good + reject_bad) as f64;
    let reject_recall = reject_bad as f64 / unattributable as f64;
    println!(
        "BEGIN dev: {} rows in {secs:.1} s; AUROC final {final_auroc:.3}, attribution \
         {attribution_auroc:.3}; ACCEPT {accept_good} / {accept_bad} (precision \
         {accept_precision:.3}); REJECT {reject_good} / {reject_bad} (precision \
         {reject_precision:.3}, recall {reject_recall:.3} of {unattributable})",
        scored.len()
    );
    assert!(final_auroc >= 0.93, "AUROC of final {final_auroc:.3}");
    assert!(
        final_auroc >= attribution_auroc,
        "final {final_auroc:.3} below attribution {attribution_auroc:.3}"
    );
    assert!(
        accept_precision >= 0.9,
        "ACCEPT precision {accept_precision:.3}"
    );
    assert!(
        reject_precision >= 0.9,
        "REJECT precision {reject_precision:.3}"
    );
    assert!(reject_recall >= 0.6, "REJECT recall {reject_recall:.3}");
}
