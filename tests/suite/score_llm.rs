//! `score --judge` and `score --consistency N` against a loopback chat server on 127.0.0.1
//! whose answers each test scripts: which rows are asked, how the answers change the decision
//! and the scores, failures, the cache, the call budget and the key.

use crate::common;

use common::fake_api::{FakeApi, Fault};
use common::{faultmap, faultmap_env, json, stderr};
use serde_json::Value;
use std::collections::BTreeSet;

const SECRET: &str = "sk-faultmap-test-SECRET-score-4d1e";
const INPUT: &str = "fixtures/rag_answers.jsonl";
/// The gate thresholds the scripted judge expectations were written for (six REVIEW rows).
const JUDGE_GATES: &str = "fixtures/score_judge_gates.toml";

fn rows(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_id<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter().find(|r| r["id"] == id).unwrap()
}

/// The user message of a chat request.
fn user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The query of a paraphrase request.
fn asked_query(request: &Value) -> String {
    let text = user_text(request);
    text.split("Question:\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Two paraphrases of the query of a paraphrase request, as a JSON array: the query with a
/// polite opening, so they share its words and numbers.
fn reworded(request: &Value) -> String {
    let query = asked_query(request);
    serde_json::json!([
        format!("Could you tell me this: {query}"),
        format!("I would like to know the following. {query}"),
    ])
    .to_string()
}

/// The RESPONSE part of a judge prompt.
fn judged_response(request: &Value) -> String {
    let text = user_text(request);
    let after = text.split("RESPONSE:\n").nth(1).unwrap_or("");
    after.split("\n\nReply with").next().unwrap().to_string()
}

/// JSONL unless `extra` says otherwise (stdout is not a terminal).
fn score_args<'a>(base: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "score",
        INPUT,
        "--config",
        JUDGE_GATES,
        "--api-base",
        base,
        "--llm-model",
        "judge-model",
    ];
    args.extend_from_slice(extra);
    args
}

/// The judge answers by the response it is shown: the office hours (rag-09) are
/// hallucinated, the cancellation steps (rag-12) get an answer without a verdict, the rest
/// are faithful.
fn scripted_judge(request: &Value) -> String {
    let response = judged_response(request);
    if response.contains("Dublin office") {
        "Sure.\n```json\n{\"verdict\": \"hallucinated\", \"score\": 0.1, \"reason\": \"The context never mentions an office.\"}\n```".into()
    } else if response.contains("Cancel plan") {
        "I cannot tell.".into()
    } else {
        "{\"verdict\": \"faithful\", \"score\": 0.9, \"reason\": \"Supported.\"}".into()
    }
}

#[test]
fn judge_decides_only_the_review_rows() {
    let offline = faultmap(&[
        "score",
        INPUT,
        "--config",
        JUDGE_GATES,
        "--format",
        "jsonl",
        "--quiet",
    ]);
    assert_eq!(offline.status.code(), Some(0));
    let offline = rows(&offline.stdout);
    let review: BTreeSet<String> = offline
        .iter()
        .filter(|r| r["decision"] == "REVIEW")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(review.len(), 6, "{review:?}");

    // One at a time, so the 4th request (0-based 3: rag-10, in input order) is the one that
    // fails.
    let api = FakeApi::with_chat(
        |n| {
            if n == 3 {
                Fault::ServerError
            } else {
                Fault::None
            }
        },
        scripted_judge,
    );
    let base = api.base();
    let out = faultmap_env(
        &score_args(
            &base,
            &[
                "--judge",
                "--no-cache",
                "--max-concurrent",
                "1",
                "--max-retries",
                "0",
            ],
        ),
        &[("FAULTMAP_API_KEY", SECRET)],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(api.requests(), 6, "one request per REVIEW row: {err}");
    assert!(err.contains("score --judge: "), "the budget line: {err}");
    assert!(err.contains("6 API calls"), "{err}");
    assert!(
        err.contains("2 failed and kept the heuristic decision"),
        "{err}"
    );

    // The judge saw exactly the REVIEW rows' responses (the failed one is not answered).
    let scored = rows(&out.stdout);
    let row_schema = common::schema::Schema::load("score.schema.json#/$defs/row");
    for row in &scored {
        row_schema.check(row, "a row of score --judge");
    }
    let asked: BTreeSet<String> = api
        .chats
        .lock()
        .unwrap()
        .iter()
        .map(judged_response)
        .collect();
    let expected: BTreeSet<String> = review
        .iter()
        .filter(|id| *id != "rag-10")
        .map(|id| {
            by_id(&offline, id)["response"]
                .as_str()
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(asked, expected);

    for (before, after) in offline.iter().zip(&scored) {
        let id = before["id"].as_str().unwrap();
        assert_eq!(
            before["scores"], after["scores"],
            "{id}: scores are the heuristics'"
        );
        let judged = review.contains(id) && id != "rag-10" && id != "rag-12";
        assert_eq!(after["used_llm_judge"], judged, "{id}");
        if !review.contains(id) {
            assert_eq!(before["decision"], after["decision"], "{id}");
            assert_eq!(before["reason"], after["reason"], "{id}");
            assert!(after.get("judge").is_none() && after.get("judge_error").is_none());
        }
    }
    let r09 = by_id(&scored, "rag-09");
    assert_eq!(r09["decision"], "REJECT");
    assert_eq!(r09["gate"], "llm_judge");
    assert_eq!(r09["failure_type"], "hallucination");
    assert_eq!(r09["hallucination_status"], "confirmed");
    assert_eq!(r09["next_action"], "regenerate_with_grounding_prompt");
    assert_eq!(r09["confidence_pct"], 90.0);
    assert_eq!(r09["judge"]["verdict"], "hallucinated");
    assert_eq!(r09["judge"]["heuristic_decision"], "REVIEW");
    assert_eq!(r09["judge"]["heuristic_gate"], "off_topic");
    assert!(r09["reason"]
        .as_str()
        .unwrap()
        .contains("The context never mentions an office."));
    // Judged faithful against strong heuristic evidence: REVIEW, with the disagreement.
    // rag-16 ("I'm not sure, it probably depends on your plan.", no context) does not answer
    // its query; rag-07's context supports none of it. rag-08 has no such evidence: ACCEPT.
    for (id, evidence) in [
        ("rag-16", "does not answer the query (relevance 0.00"),
        (
            "rag-07",
            "the context supports little of it (attribution 0.00",
        ),
    ] {
        let r = by_id(&scored, id);
        assert_eq!(
            (&r["decision"], &r["gate"]),
            (&"REVIEW".into(), &"llm_judge".into()),
            "{id}"
        );
        assert_eq!(r["judge"]["verdict"], "faithful", "{id}");
        let disagreement = r["judge"]["disagreement"].as_str().unwrap();
        assert!(disagreement.contains(evidence), "{id}: {disagreement}");
        assert!(r["reason"].as_str().unwrap().contains(disagreement), "{id}");
        assert_eq!(r["next_action"], "optional_human_review", "{id}");
    }
    let r08 = by_id(&scored, "rag-08");
    assert_eq!(
        (&r08["decision"], &r08["gate"]),
        (&"ACCEPT".into(), &"llm_judge".into())
    );
    assert_eq!(r08["judge"]["disagreement"], Value::Null);
    assert_eq!(r08["next_action"], "serve_response");
    // A failed call and a reply without a verdict keep the heuristic decision, and say so.
    for (id, error) in [("rag-10", "500"), ("rag-12", "no verdict")] {
        let r = by_id(&scored, id);
        assert_eq!(r["decision"], "REVIEW", "{id}");
        assert_eq!(r["reason"], by_id(&offline, id)["reason"], "{id}");
        assert!(
            r["judge_error"].as_str().unwrap().contains(error),
            "{id}: {r}"
        );
    }
    assert!(!err.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET));
    assert!(api
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == &format!("Bearer {SECRET}")));
}

#[test]
fn judge_band_on_final_and_the_summary() {
    let api = FakeApi::with_chat(|_| Fault::None, scripted_judge);
    let base = api.base();
    // final in [0.74, 0.91]: rag-01 (0.80), rag-03 (0.84), rag-12 (0.82), rag-15 (0.80).
    let out = faultmap_env(
        &score_args(
            &base,
            &[
                "--judge",
                "--judge-band",
                "0.74,0.91",
                "--no-cache",
                "--format",
                "json",
            ],
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.requests(), 4);
    let summary = json(&out);
    common::schema::validate("score.schema.json", &summary, "score --judge --format json");
    let judge = &summary["judge"];
    assert_eq!(judge["band"], "final in [0.74, 0.91]");
    assert_eq!(judge["rows_in_band"], 4);
    assert_eq!(judge["rows_judged"], 3);
    assert_eq!(judge["errors"], 1);
    assert_eq!(judge["faithful"], 3);
    assert_eq!(judge["decisions_changed"], 0, "the ACCEPT rows stay ACCEPT");
    assert_eq!(summary["gates"]["llm_judge"], 3);

    let table = faultmap_env(
        &score_args(
            &base,
            &[
                "--judge",
                "--judge-band",
                "0.74,0.91",
                "--no-cache",
                "--format",
                "table",
            ],
        ),
        &[],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("LLM judge (band: final in [0.74, 0.91])"),
        "{text}"
    );
    assert!(text.contains("judge failed (heuristic kept)"), "{text}");
}

#[test]
fn rerun_from_the_cache_makes_no_request_and_gives_the_same_bytes() {
    let api = FakeApi::with_chat(
        |_| Fault::None,
        |request| {
            if user_text(request).contains("different ways") {
                reworded(request)
            } else if user_text(request).contains("RESPONSE:") {
                scripted_judge(request)
            } else {
                "Within 30 days of purchase.".into()
            }
        },
    );
    let base = api.base();
    let cache = tempfile::tempdir().unwrap();
    let extra = [
        "--judge",
        "--consistency",
        "2",
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ];
    let first = faultmap_env(&score_args(&base, &extra), &[]);
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(0), "{err}");
    let made = api.requests();
    // 16 rows with a response: 16 paraphrase calls, 32 answers, and the judge's REVIEW rows.
    assert!(made > 48, "{made}: {err}");
    assert!(err.contains("score --consistency: paraphrases: "), "{err}");
    assert!(err.contains("score --consistency: answers: "), "{err}");

    // Only usable replies were cached: the judge's "I cannot tell." is asked again.
    let second = faultmap_env(&score_args(&base, &extra), &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        api.requests(),
        made + 1,
        "the rerun is answered by the cache but for the unusable reply"
    );
    assert_eq!(first.stdout, second.stdout);
    let err = stderr(&second);
    assert!(
        err.contains(" (judge-model): 1 API call for 1 text"),
        "{err}"
    );
}

#[test]
fn max_calls_refuses_before_any_request() {
    let api = FakeApi::with_chat(|_| Fault::None, scripted_judge);
    let base = api.base();
    for extra in [
        // 6 REVIEW rows.
        vec!["--judge", "--max-calls", "5"],
        // 16 rows with a response × (1 + 2).
        vec!["--consistency", "2", "--max-calls", "47"],
        vec!["--judge", "--consistency", "1", "--max-calls", "40"],
    ] {
        let mut extra = extra;
        extra.push("--no-cache");
        let out = faultmap_env(&score_args(&base, &extra), &[("FAULTMAP_API_KEY", SECRET)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("--max-calls"), "{err}");
        assert!(!err.contains(SECRET));
        assert!(out.stdout.is_empty());
    }
    assert_eq!(api.requests(), 0);
    // The bound is tight: exactly the planned calls pass.
    let out = faultmap_env(
        &score_args(&base, &["--judge", "--max-calls", "6", "--no-cache"]),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.requests(), 6);
}

#[test]
fn llm_options_are_usage_errors_without_a_model() {
    for (args, expected) in [
        (vec!["score", INPUT, "--judge"], "--judge needs --llm-model"),
        (
            vec!["score", INPUT, "--consistency", "3"],
            "--consistency needs --llm-model",
        ),
        (vec!["score", INPUT, "--judge-band", "0.4,0.6"], "--judge"),
        (
            vec![
                "score",
                INPUT,
                "--judge",
                "--judge-band",
                "0.6,0.4",
                "--llm-model",
                "m",
            ],
            "LOW,HIGH",
        ),
        (vec!["score", INPUT, "--consistency", "0"], "0"),
        (
            vec!["score", INPUT, "--judge", "--calibrate", "--llm-model", "m"],
            "--calibrate",
        ),
    ] {
        let out = faultmap_env(&args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Two RAG rows; the server answers every paraphrase with `answer(row's context)`.
fn consistency_run(answer: fn(&str) -> String) -> (Vec<Value>, FakeApi, String) {
    let api = FakeApi::with_chat(
        |_| Fault::None,
        move |request| {
            let text = user_text(request);
            if text.contains("different ways") && text.contains("refund") {
                "```json\n[\"What is the deadline for requesting a refund?\", \"Until when can I ask for a refund?\", \"How much time do I get to request a refund?\"]\n```"
                    .into()
            } else if text.contains("different ways") {
                "```json\n[\"Which plan comes with single sign-on?\", \"In which plan is single sign-on included?\", \"Single sign-on is part of which plan?\"]\n```"
                    .into()
            } else {
                answer(&text)
            }
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(&input, CONSISTENCY_ROWS).unwrap();
    let base = api.base();
    let out = faultmap_env(
        &[
            "score",
            input.to_str().unwrap(),
            "--format",
            "jsonl",
            "--api-base",
            &base,
            "--llm-model",
            "m",
            "--consistency",
            "3",
            "--no-cache",
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    (rows(&out.stdout), api, err)
}

const CONSISTENCY_ROWS: &str = r#"{"id": "a", "prompt": "How long do I have to request a refund?", "context": "Refunds are available within 30 days of purchase. Open Billing > Orders and click Request refund.", "response": "You can request a refund within 30 days of purchase from Billing > Orders."}
{"id": "b", "prompt": "Which plan includes single sign-on?", "context": "Single sign-on is included in the Enterprise plan. The Team plan has two-factor authentication.", "response": "Single sign-on is included in the Enterprise plan."}
"#;

fn same_answer(prompt: &str) -> String {
    if prompt.contains("30 days") {
        "You can request a refund within 30 days of purchase from Billing > Orders.".into()
    } else {
        "Single sign-on is included in the Enterprise plan.".into()
    }
}

fn other_answer(_: &str) -> String {
    "Penguins huddle together through the long antarctic winter night.".into()
}

/// `final` and `disagreement` recomputed from a row's scores as docs/score.md documents them,
/// with the default weights and thresholds.
fn documented(scores: &Value) -> (f64, f64) {
    let get = |k: &str| scores[k].as_f64();
    let weighted = |parts: &[(Option<f64>, f64)]| {
        let (sum, weight) = parts
            .iter()
            .filter_map(|(v, w)| v.map(|v| (v * w, *w)))
            .fold((0.0, 0.0), |(s, t), (v, w)| (s + v, t + w));
        (weight > 0.0).then(|| sum / weight)
    };
    // Grounding evidence (the context's term, reference, consistency) when there is some,
    // capped at the term + 0.25; else relevance and specificity, pulled down below relevance
    // 0.3. The context's term is 0.5 × attribution + 0.5 × exp(-unsupported_content / 40).
    let relevance = get("relevance").unwrap();
    let term = get("attribution")
        .map(|a| 0.5 * a + 0.5 * (-get("unsupported_content").unwrap() / 40.0).exp());
    let grounding = weighted(&[
        (term, 0.55),
        (get("reference_similarity"), 0.15),
        (get("consistency"), 0.15),
    ]);
    let fin = match grounding {
        Some(g) => g.min(term.map_or(f64::INFINITY, |t| t + 0.25)),
        None => {
            let shape = weighted(&[(Some(relevance), 0.15), (get("specificity"), 0.05)]).unwrap();
            if relevance < 0.3 {
                shape * (0.5 + 0.5 * relevance / 0.3)
            } else {
                shape
            }
        }
    };
    let margin = |s: f64, t: f64| ((s - t) / 0.5).clamp(-1.0, 1.0);
    let mut margins = vec![
        margin(relevance, 0.2),
        margin(get("attribution").unwrap(), 0.5),
    ];
    margins.extend(get("context_quality").map(|c| margin(c, 0.3)));
    margins.extend(get("consistency").map(|c| margin(c, 0.5)));
    let high = margins.iter().cloned().fold(-1.0, f64::max);
    let low = margins.iter().cloned().fold(1.0, f64::min);
    (fin.clamp(0.0, 1.0), ((high - low) / 2.0).clamp(0.0, 1.0))
}

#[test]
fn consistency_follows_the_answers_and_moves_final_and_disagreement() {
    let (stable, api, err) = consistency_run(same_answer);
    assert_eq!(api.requests(), 2 * (1 + 3), "{err}");
    // The answer requests carry the row's context and a paraphrase.
    let chats = api.chats.lock().unwrap().clone();
    assert!(chats.iter().any(|c| {
        let t = user_text(c);
        t.contains("Until when can I ask for a refund?")
            && t.contains("Refunds are available within 30 days")
    }));
    let (unstable, _, _) = consistency_run(other_answer);

    let offline_dir = tempfile::tempdir().unwrap();
    let input = offline_dir.path().join("rows.jsonl");
    std::fs::write(&input, CONSISTENCY_ROWS).unwrap();
    let offline = faultmap(&[
        "score",
        input.to_str().unwrap(),
        "--format",
        "jsonl",
        "--quiet",
    ]);
    let offline = rows(&offline.stdout);

    for i in 0..2 {
        let (s, u, o) = (
            &stable[i]["scores"],
            &unstable[i]["scores"],
            &offline[i]["scores"],
        );
        assert!(o.get("consistency").is_none());
        let (cs, cu) = (
            s["consistency"].as_f64().unwrap(),
            u["consistency"].as_f64().unwrap(),
        );
        assert!(cs > 0.95, "the same answer agrees: {cs}");
        assert!(cu < 0.3, "an unrelated answer does not: {cu}");
        let check = &stable[i]["consistency_check"];
        assert_eq!(check["paraphrases"].as_array().unwrap().len(), 3);
        assert_eq!(check["agreements"].as_array().unwrap().len(), 3);
        // The other scorers are the offline ones; final and disagreement follow the docs.
        for key in ["attribution", "relevance", "specificity", "context_quality"] {
            assert_eq!(s[key], o[key], "{key}");
            assert_eq!(u[key], o[key], "{key}");
        }
        for scores in [s, u, o] {
            let (fin, dis) = documented(scores);
            assert!(
                (fin - scores["final"].as_f64().unwrap()).abs() < 1e-9,
                "{scores}"
            );
            assert!(
                (dis - scores["disagreement"].as_f64().unwrap()).abs() < 1e-9,
                "{scores}"
            );
        }
        let fin = |v: &Value| v["final"].as_f64().unwrap();
        assert!(fin(u) < fin(o), "{u} vs {o}");
        assert!(fin(s) >= fin(o), "{s} vs {o}");
        let dis = |v: &Value| v["disagreement"].as_f64().unwrap();
        assert!(
            dis(u) > dis(o),
            "low consistency against good grounding: {u} vs {o}"
        );
    }
}

#[test]
fn consistency_failures_are_per_row() {
    // The paraphrase request of the row about refunds gets no question back.
    let api = FakeApi::with_chat(
        |_| Fault::None,
        |request| {
            let text = user_text(request);
            if text.contains("different ways") && text.contains("refund") {
                "```\n```".into()
            } else if text.contains("different ways") {
                "[\"Which plan has single sign-on?\"]".into()
            } else {
                "Single sign-on is included in the Enterprise plan.".into()
            }
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(&input, CONSISTENCY_ROWS).unwrap();
    let base = api.base();
    let out = faultmap_env(
        &[
            "score",
            input.to_str().unwrap(),
            "--format",
            "jsonl",
            "--api-base",
            &base,
            "--llm-model",
            "m",
            "--consistency",
            "2",
            "--no-cache",
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 failed and were scored without it"), "{err}");
    let scored = rows(&out.stdout);
    for row in &scored {
        common::schema::validate("score.schema.json#/$defs/row", row, "score --consistency");
    }
    assert!(scored[0]["consistency_error"]
        .as_str()
        .unwrap()
        .contains("no question"));
    assert!(scored[0]["scores"].get("consistency").is_none());
    // One paraphrase came back where two were asked for: it is used.
    assert_eq!(
        scored[1]["consistency_check"]["paraphrases"],
        serde_json::json!(["Which plan has single sign-on?"])
    );
    assert!(scored[1]["scores"]["consistency"].as_f64().unwrap() > 0.95);
    assert!(scored.iter().all(|r| r.get("used_llm_judge").is_none()));
}

const GARBAGE_ROWS: &str = r#"{"id": "fragments", "prompt": "How long do I have to request a refund?", "context": "Refunds are available within 30 days of purchase.", "response": "You can request a refund within 30 days of purchase."}
{"id": "debris", "prompt": "Which plan includes single sign-on?", "context": "Single sign-on is included in the Enterprise plan.", "response": "Single sign-on is included in the Enterprise plan."}
{"id": "echo", "prompt": "How do I reset my password?", "context": "To reset your password, click Forgot password on the sign-in page.", "response": "Click Forgot password on the sign-in page."}
{"id": "good", "prompt": "Does the mobile app work offline?", "context": "The mobile app works offline and syncs when you reconnect.", "response": "Yes, the mobile app works offline and syncs when you reconnect."}
{"id": "copy", "prompt": "How do I cancel my subscription?", "context": "To cancel, open Settings > Billing and click Cancel plan.", "response": "Open Settings > Billing and click Cancel plan."}
"#;

/// What a small model (SmolLM2-135M, issue 18) sent back as paraphrases, by query: fragments,
/// the debris of broken JSON, the request's instructions, a copy of the query and a question
/// about something else; and good ones for the app.
fn small_model(request: &Value) -> String {
    let text = user_text(request);
    if !text.contains("different ways") {
        // An answer, from the context it was given.
        let context = text.split("Context:\n").nth(1).unwrap_or("");
        return context.split("\n\n").next().unwrap_or("").to_string();
    }
    let query = asked_query(request);
    let reply = if query.contains("refund") {
        r#"["pdf", "image"]"#
    } else if query.contains("sign-on") {
        "{\n  \"card_number\": 12345,\n"
    } else if query.contains("password") {
        r#"["Reply with a JSON array of 2 strings and nothing else.", "What are the steps to reset my password?"]"#
    } else if query.contains("offline") {
        r#"["Can I use the mobile app without an internet connection?", "Is the mobile app usable offline?"]"#
    } else {
        r#"["How do I cancel my subscription", "What is the capital of France?"]"#
    };
    reply.to_string()
}

#[test]
fn garbage_paraphrases_are_dropped_and_counted() {
    let api = FakeApi::with_chat(|_| Fault::None, small_model);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(&input, GARBAGE_ROWS).unwrap();
    let cache = dir.path().join("cache");
    let base = api.base();
    let run = |format: &str| {
        faultmap_env(
            &[
                "score",
                input.to_str().unwrap(),
                "--format",
                format,
                "--api-base",
                &base,
                "--llm-model",
                "m",
                "--consistency",
                "2",
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
            &[],
        )
    };
    let out = run("jsonl");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // 5 paraphrase requests, then answers for the 3 paraphrases that passed only.
    assert_eq!(api.requests(), 5 + 3, "{err}");
    let answered: Vec<String> = api
        .chats
        .lock()
        .unwrap()
        .iter()
        .map(user_text)
        .filter(|t| !t.contains("different ways"))
        .collect();
    for garbage in ["pdf", "card_number", "JSON array", "capital of France"] {
        assert!(
            answered.iter().all(|t| !t.contains(garbage)),
            "{garbage} was answered"
        );
    }

    let scored = rows(&out.stdout);
    for row in &scored {
        common::schema::validate("score.schema.json#/$defs/row", row, "score --consistency");
    }
    for (id, why) in [
        ("fragments", "none usable: 2 not a question"),
        ("debris", "none usable: 2 not a question"),
        (
            "copy",
            "none usable: 1 the query itself, 1 unrelated to the query",
        ),
    ] {
        let row = by_id(&scored, id);
        let error = row["consistency_error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("paraphrases: ") && error.contains(why),
            "{id}: {row}"
        );
        assert!(row.get("consistency_check").is_none(), "{id}");
        assert!(
            row["scores"].get("consistency").is_none(),
            "{id}: no score from garbage"
        );
    }
    let echo = &by_id(&scored, "echo")["consistency_check"];
    assert_eq!(
        echo["paraphrases"],
        serde_json::json!(["What are the steps to reset my password?"])
    );
    let good = &by_id(&scored, "good")["consistency_check"];
    assert_eq!(good["paraphrases"].as_array().unwrap().len(), 2);
    assert!(
        err.contains(
            "consistency: 2 rows checked with 3 paraphrases in all (1 to 2 a row, 2 asked for); \
             7 of 10 dropped: 4 not a question (too few words or JSON debris), 1 the request's \
             instructions, 1 the query itself, 1 unrelated to the query (cosine below 0.1); \
             3 failed and were scored without it"
        ),
        "{err}"
    );

    // The same figures in the JSON summary (from the cache).
    let out = run("json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(api.requests(), 8, "answered by the cache");
    let summary = json(&out);
    common::schema::validate(
        "score.schema.json",
        &summary,
        "score --consistency --format json",
    );
    assert_eq!(
        summary["consistency"],
        serde_json::json!({
            "paraphrases_per_row": 2,
            "rows_checked": 2,
            "errors": 3,
            "paraphrases_received": 10,
            "paraphrases_used": 3,
            "min_paraphrases_used": 1,
            "max_paraphrases_used": 2,
            "paraphrases_dropped": {
                "not_a_question": 4,
                "instructions": 1,
                "same_as_query": 1,
                "changed_numbers": 0,
                "duplicate": 0,
                "unrelated": 1,
                "no_answer": 0,
            },
        })
    );
    let table = String::from_utf8(run("table").stdout).unwrap();
    assert!(
        table.contains("Consistency (2 paraphrases asked for per row)"),
        "{table}"
    );
    assert!(table.contains("the request's instructions"), "{table}");
}
