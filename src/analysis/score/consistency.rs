//! `score --consistency N`: does the model say the same thing when the query is asked in other
//! words? One call per row asks for N paraphrases of the query; one call per paraphrase
//! answers it (with the row's context); the answers are embedded with score's own embedder
//! next to the response, and consistency is their mean agreement with it.
//!
//! One call for all N paraphrases, not N seeded calls: the model sees the ones it already wrote
//! and makes them differ, where N independent samples of the same prompt often repeat each
//! other, and it costs 1 call instead of N.

use super::config::EvidenceParams;
use super::evidence::map_cosine;
use super::prepare::passages;
use crate::api::chat::{non_empty, ChatParams, ChatRequest, Message, ReplySchema};
use crate::api::reply::{clip, first_json, list_lines};
use crate::api::Llm;
use crate::embed::Embedder;
use crate::error::Result;
use crate::input::Record;
use crate::matrix::dot;
use crate::progress::Progress;
use serde::Serialize;
use serde_json::Value;

/// Characters of the query and of the context put in a prompt.
const QUERY_CHARS: usize = 2_000;
const CONTEXT_CHARS: usize = 6_000;

/// What one row's check found (the `consistency_check` field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsistencyCheck {
    pub paraphrases: Vec<String>,
    /// The model's answer to each paraphrase (a failed answer is left out, with its
    /// paraphrase).
    pub answers: Vec<String>,
    /// Agreement of each answer with the response, in [0, 1].
    pub agreements: Vec<f64>,
}

/// The request for `n` paraphrases of `query`.
pub fn paraphrase_request(query: &str, n: usize, seed: u64) -> ChatRequest {
    let prompt = format!(
        "Rewrite the question below in {n} different ways. Each rewrite must ask exactly the \
         same thing: keep every name, number and constraint, and add nothing.\n\
         Reply with a JSON array of {n} strings and nothing else.\n\n\
         Question:\n{}",
        clip(query, QUERY_CHARS)
    );
    ChatRequest {
        messages: vec![
            Message::system("You paraphrase questions. You reply with JSON only."),
            Message::user(prompt),
        ],
        // Some temperature, so the rewrites vary their wording; the seed keeps them
        // reproducible (and is part of the cache key).
        params: ChatParams {
            temperature: 0.7,
            // Each paraphrase at its longest even at one character a token, and the JSON
            // around: a reply cut short is not JSON.
            max_tokens: (PARAPHRASE_CHARS as u32 + 8) * n as u32 + 24,
            seed: Some(seed),
        },
        schema: Some(paraphrases_schema(n)),
    }
}

/// Longest paraphrase the schema lets a model write.
const PARAPHRASE_CHARS: usize = 160;

/// `{"paraphrases": [n strings]}`: structured output wants an object at the top.
fn paraphrases_schema(n: usize) -> ReplySchema {
    ReplySchema {
        name: "paraphrases",
        schema: serde_json::json!({
            "type": "object",
            "properties": {"paraphrases": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": PARAPHRASE_CHARS},
                "minItems": n,
                "maxItems": n,
            }},
            "required": ["paraphrases"],
            "additionalProperties": false,
        }),
    }
}

/// The request that answers `question` from `context` (the row's passages), as the row's
/// model answered the original query.
pub fn answer_request(question: &str, context: &[String], seed: u64) -> ChatRequest {
    let prompt = if context.is_empty() {
        format!("Question:\n{question}")
    } else {
        format!(
            "Context:\n{}\n\nQuestion:\n{question}",
            clip(&context.join("\n\n"), CONTEXT_CHARS)
        )
    };
    ChatRequest {
        messages: vec![
            Message::system(
                "Answer the question concisely. When a context is given, answer from it.",
            ),
            Message::user(prompt),
        ],
        // "Concisely": a short answer carries the claims to compare, and costs a CPU server
        // seconds, not minutes.
        params: ChatParams {
            temperature: 0.0,
            max_tokens: 160,
            seed: Some(seed),
        },
        schema: None,
    }
}

/// Up to `n` paraphrases from a reply: a JSON array of strings (alone, fenced, in prose or
/// under any key of an object), else the reply's lines without numbering. `None` when there
/// is none.
pub fn parse_paraphrases(reply: &str, n: usize) -> Option<Vec<String>> {
    let from_json = |v: Value| -> Option<Vec<String>> {
        let items = match v {
            Value::Array(items) => items,
            Value::Object(map) => map.into_iter().find_map(|(_, v)| match v {
                Value::Array(items) => Some(items),
                _ => None,
            })?,
            _ => return None,
        };
        let texts: Vec<String> = items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        (!texts.is_empty()).then_some(texts)
    };
    let mut texts = match first_json(reply) {
        Some(value) => from_json(value)?,
        // Plain lines; a preamble ("Here are three rewrites:") is not a question.
        None => list_lines(reply)
            .into_iter()
            .filter(|l| !l.ends_with(':'))
            .collect(),
    };
    texts.truncate(n);
    (!texts.is_empty()).then_some(texts)
}

/// Consistency from the agreements: their mean, in [0, 1]; `None` without any.
pub fn consistency(agreements: &[f64]) -> Option<f64> {
    if agreements.is_empty() {
        return None;
    }
    Some((agreements.iter().sum::<f64>() / agreements.len() as f64).clamp(0.0, 1.0))
}

/// Seed of the `k`-th answer of a row: each paraphrase its own reproducible cache entry.
fn answer_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add(1 + k as u64)
}

fn asked(record: &Record) -> bool {
    !record.response.as_deref().unwrap_or("").trim().is_empty()
}

/// An upper bound of the calls a run makes, after the cache: a row whose paraphrases are
/// cached counts its uncached answers; any other row counts 1 + `n`. Empty responses are not
/// checked (they are rejected whatever the model says).
pub fn planned_calls(llm: &Llm, records: &[Record], n: usize, seed: u64) -> u64 {
    records
        .iter()
        .filter(|r| asked(r))
        .map(
            |r| match llm.cached(&paraphrase_request(&r.prompt, n, seed)) {
                None => 1 + n as u64,
                Some(reply) => {
                    let context = passages(&r.context);
                    parse_paraphrases(&reply, n)
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .filter(|(k, p)| {
                            llm.cached(&answer_request(p, &context, answer_seed(seed, *k)))
                                .is_none()
                        })
                        .count() as u64
                }
            },
        )
        .sum()
}

/// One row's outcome: `None` when the row was not checked (empty response).
pub type RowCheck = Option<std::result::Result<(f64, ConsistencyCheck), String>>;

/// Runs the check on every row: the paraphrases (one budget line), the answers (a second),
/// then one embedding call for the responses and answers together. A row whose paraphrases or
/// every answer failed gets its error; the run fails only on a usage error (`--max-calls`).
pub fn check(
    llm: &Llm,
    records: &[Record],
    n: usize,
    seed: u64,
    embedder: &dyn Embedder,
    params: &EvidenceParams,
    progress: &Progress,
) -> Result<Vec<RowCheck>> {
    let rows: Vec<usize> = (0..records.len()).filter(|&i| asked(&records[i])).collect();
    let requests: Vec<ChatRequest> = rows
        .iter()
        .map(|&i| paraphrase_request(&records[i].prompt, n, seed))
        .collect();
    let has_paraphrases = |_: usize, text: &str| {
        parse_paraphrases(text, n)
            .map(drop)
            .ok_or_else(|| "no question in it".to_string())
    };
    let replies = llm.complete_all(
        &requests,
        "score --consistency: paraphrases",
        progress,
        &has_paraphrases,
    )?;
    let mut out: Vec<RowCheck> = vec![None; records.len()];
    // (row, paraphrases) of the rows that have some.
    let mut paraphrased: Vec<(usize, Vec<String>)> = Vec::new();
    for (&i, reply) in rows.iter().zip(replies) {
        match reply {
            Err(e) => out[i] = Some(Err(format!("paraphrases: {e}"))),
            Ok(text) => match parse_paraphrases(&text, n) {
                None => out[i] = Some(Err("paraphrases: no question in the reply".into())),
                Some(p) => paraphrased.push((i, p)),
            },
        }
    }
    let mut answer_requests = Vec::new();
    for (i, paraphrases) in &paraphrased {
        let context = passages(&records[*i].context);
        for (k, p) in paraphrases.iter().enumerate() {
            answer_requests.push(answer_request(p, &context, answer_seed(seed, k)));
        }
    }
    let mut answers = llm
        .complete_all(
            &answer_requests,
            "score --consistency: answers",
            progress,
            &non_empty,
        )?
        .into_iter();
    // (row, check with answers, errors) before embedding.
    let mut answered: Vec<(usize, ConsistencyCheck)> = Vec::new();
    for (i, paraphrases) in paraphrased {
        let mut check = ConsistencyCheck {
            paraphrases: Vec::new(),
            answers: Vec::new(),
            agreements: Vec::new(),
        };
        let mut first_error = None;
        for p in paraphrases {
            match answers.next() {
                Some(Ok(a)) if !a.trim().is_empty() => {
                    check.paraphrases.push(p);
                    check.answers.push(a.trim().to_string());
                }
                Some(Ok(_)) => {
                    first_error.get_or_insert_with(|| "answers: an empty answer".to_string());
                }
                Some(Err(e)) => {
                    first_error.get_or_insert_with(|| format!("answers: {e}"));
                }
                None => {}
            }
        }
        if check.answers.is_empty() {
            out[i] = Some(Err(
                first_error.unwrap_or_else(|| "answers: none came back".into())
            ));
        } else {
            answered.push((i, check));
        }
    }
    if answered.is_empty() {
        return Ok(out);
    }
    // Responses first, then every answer, in one call: one fitted embedding space.
    let mut texts: Vec<&str> = answered
        .iter()
        .map(|(i, _)| records[*i].response.as_deref().unwrap_or("").trim())
        .collect();
    for (_, check) in &answered {
        texts.extend(check.answers.iter().map(String::as_str));
    }
    let embeddings = embedder.embed(&texts, progress)?;
    let mut next = answered.len();
    for (slot, (i, mut check)) in answered.into_iter().enumerate() {
        let response = embeddings.row(slot);
        for _ in 0..check.answers.len() {
            check
                .agreements
                .push(map_cosine(dot(response, embeddings.row(next)), params));
            next += 1;
        }
        let score = consistency(&check.agreements).unwrap_or(0.0);
        out[i] = Some(Ok((score, check)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paraphrases_from_json_fences_objects_and_lines() {
        let want = vec!["What is X?".to_string(), "Which is X?".to_string()];
        assert_eq!(
            parse_paraphrases("[\"What is X?\", \"Which is X?\", \"Tell me X.\"]", 2),
            Some(want.clone())
        );
        assert_eq!(
            parse_paraphrases(
                "Sure:\n```json\n{\"paraphrases\": [\"What is X?\", \" \", \"Which is X?\"]}\n```",
                3
            ),
            Some(want.clone())
        );
        assert_eq!(
            parse_paraphrases("Here are two rewrites:\n1. What is X?\n2. Which is X?\n", 5),
            Some(want)
        );
        assert_eq!(parse_paraphrases("", 3), None);
        assert_eq!(parse_paraphrases("[]", 3), None);
    }

    #[test]
    fn consistency_is_the_mean_agreement() {
        assert_eq!(consistency(&[]), None);
        assert_eq!(consistency(&[1.0, 0.5, 0.0]), Some(0.5));
        assert_eq!(consistency(&[1.0, 1.0]), Some(1.0));
    }

    #[test]
    fn agreement_maps_cosine_like_support() {
        let p = super::super::config::ScoreConfig::default().evidence;
        assert_eq!(map_cosine(1.0, &p), 1.0);
        assert!(map_cosine(p.cosine_floor as f32, &p) < 1e-6);
        assert_eq!(map_cosine(-0.3, &p), 0.0);
        let mid = ((p.cosine_floor + p.cosine_full) / 2.0) as f32;
        assert!((map_cosine(mid, &p) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn requests_carry_the_seed_and_the_context() {
        let r = answer_request("What is X?", &["X is 3.".to_string()], 7);
        assert_eq!(r.params.seed, Some(7));
        assert!(r.messages[1].content.contains("X is 3."));
        let p = paraphrase_request("What is X?", 3, 42);
        assert!(p.messages[1].content.contains("3 different ways"));
        assert_ne!(answer_seed(42, 0), answer_seed(42, 1));
    }
}
