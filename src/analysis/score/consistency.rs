//! `score --consistency N`: does the model say the same thing when the query is asked in other
//! words? One call per row asks for N paraphrases of the query; the unusable ones are dropped
//! ([`super::paraphrases`]); one call per paraphrase left answers it (with the row's context);
//! consistency is the answers' mean [`agreement`] with the response (their claims, and their
//! embedding cosine with score's own embedder).
//!
//! One call for all N paraphrases, not N seeded calls: the model sees the ones it already wrote
//! and makes them differ, where N independent samples of the same prompt often repeat each
//! other, and it costs 1 call instead of N.

use super::config::EvidenceParams;
use super::evidence::map_cosine;
use super::paraphrases::{content_stems, count, describe, DropReason, Original, MIN_COSINE};
use super::prepare::{passages, Interner};
use super::specifics::SourceIndex;
use crate::api::chat::{non_empty, ChatParams, ChatRequest, Message, ReplySchema};
use crate::api::reply::{clip, first_json, list_lines};
use crate::api::Llm;
use crate::embed::Embedder;
use crate::error::Result;
use crate::input::Record;
use crate::matrix::dot;
use crate::progress::Progress;
use crate::text::numbers::numbers;
use crate::text::Analyzer;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

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

/// The claims of a text that [`agreement`] compares: its content words and its numbers.
struct Claims {
    stems: HashSet<String>,
    /// Normalized, without repeats.
    numbers: BTreeSet<String>,
}

impl Claims {
    fn of(text: &str, analyzer: &Analyzer) -> Claims {
        Claims {
            stems: content_stems(text, analyzer),
            numbers: numbers(text).into_iter().map(|n| n.1).collect(),
        }
    }

    fn len(&self) -> usize {
        self.stems.len() + self.numbers.len()
    }
}

/// Agreement of an answer with the response, in [0, 1]: claims are compared, not lengths.
/// The shorter text (fewer content words and numbers) agrees with the longer as far as the
/// longer contains its claims, or as far as their embedding cosine says (mapped like sentence
/// support), whichever is higher; so "30 days" agrees fully with "You can return items within
/// 30 days of purchase." A number of the shorter text that the longer does not state is a
/// conflict: agreement is at most the share of the shorter's numbers that the longer states
/// ("60 days" against the same sentence gets 0).
pub fn agreement(
    response: &str,
    answer: &str,
    cosine: f32,
    params: &EvidenceParams,
    analyzer: &Analyzer,
) -> f64 {
    let by_embedding = map_cosine(cosine, params);
    let (r, a) = (Claims::of(response, analyzer), Claims::of(answer, analyzer));
    let ((shorter, _), (longer, longer_text)) = if r.len() <= a.len() {
        ((r, response), (a, answer))
    } else {
        ((a, answer), (r, response))
    };
    if shorter.len() == 0 {
        return by_embedding;
    }
    let mut stated = SourceIndex::default();
    stated.add(longer_text);
    let numbers_found = shorter
        .numbers
        .iter()
        .filter(|n| stated.has_number(n))
        .count();
    let words_found = shorter
        .stems
        .iter()
        .filter(|s| longer.stems.contains(*s))
        .count();
    let contained = (numbers_found + words_found) as f64 / shorter.len() as f64;
    let numbers_agree = if shorter.numbers.is_empty() {
        1.0
    } else {
        numbers_found as f64 / shorter.numbers.len() as f64
    };
    by_embedding.max(contained).min(numbers_agree)
}

/// Seed of the `k`-th answer of a row: each paraphrase its own reproducible cache entry.
fn answer_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add(1 + k as u64)
}

fn asked(record: &Record) -> bool {
    !record.response.as_deref().unwrap_or("").trim().is_empty()
}

/// The paraphrases of a reply that pass the text checks, with their positions (`k`, which
/// seeds their answers).
fn passing(
    query: &str,
    request: &ChatRequest,
    reply: &str,
    n: usize,
    analyzer: &Analyzer,
) -> Vec<(usize, String)> {
    let candidates = parse_paraphrases(reply, n).unwrap_or_default();
    let verdicts = Original::new(query, request, analyzer).screen(&candidates, analyzer);
    candidates
        .into_iter()
        .zip(verdicts)
        .enumerate()
        .filter(|(_, (_, drop))| drop.is_none())
        .map(|(k, (p, _))| (k, p))
        .collect()
}

/// An upper bound of the calls a run makes, after the cache: a row whose paraphrases are
/// cached counts the uncached answers of those that pass the text checks (the embedding check
/// may drop more); any other row counts 1 + `n`. Empty responses are not checked (they are
/// rejected whatever the model says).
pub fn planned_calls(llm: &Llm, records: &[Record], n: usize, seed: u64) -> u64 {
    let analyzer = Analyzer::default();
    records
        .iter()
        .filter(|r| asked(r))
        .map(|r| {
            let request = paraphrase_request(&r.prompt, n, seed);
            match llm.cached(&request) {
                None => 1 + n as u64,
                Some(reply) => {
                    let context = passages(&r.context);
                    passing(&r.prompt, &request, &reply, n, &analyzer)
                        .iter()
                        .filter(|(k, p)| {
                            llm.cached(&answer_request(p, &context, answer_seed(seed, *k)))
                                .is_none()
                        })
                        .count() as u64
                }
            }
        })
        .sum()
}

/// One row's outcome: `None` when the row was not checked (empty response).
pub type RowCheck = Option<std::result::Result<(f64, ConsistencyCheck), String>>;

/// What a run of the check did: each row's outcome and the paraphrases' fate.
pub struct ConsistencyRun {
    pub rows: Vec<RowCheck>,
    /// Paraphrases read from the replies (at most N a row).
    pub received: usize,
    /// Paraphrases not used, by reason.
    pub dropped: BTreeMap<DropReason, usize>,
}

/// What `--consistency` did, in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencySummary {
    /// Asked for, per row.
    pub paraphrases_per_row: usize,
    pub rows_checked: usize,
    pub errors: usize,
    pub paraphrases_received: usize,
    /// Answered and scored: `paraphrases_received` less the dropped ones.
    pub paraphrases_used: usize,
    /// Fewest and most used by one checked row (0 when no row was checked).
    pub min_paraphrases_used: usize,
    pub max_paraphrases_used: usize,
    /// Every reason, with 0 for those that dropped nothing.
    pub paraphrases_dropped: BTreeMap<DropReason, usize>,
}

impl ConsistencySummary {
    /// Paraphrases dropped, all reasons together.
    pub fn dropped(&self) -> usize {
        self.paraphrases_dropped.values().sum()
    }

    /// What the check did, in one line: rows checked, paraphrases used and dropped, and why.
    pub fn describe(&self) -> String {
        let dropped = match self.dropped() {
            0 => format!("none of {} dropped", self.paraphrases_received),
            n => format!(
                "{n} of {} dropped: {}",
                self.paraphrases_received,
                describe(&self.paraphrases_dropped)
            ),
        };
        format!(
            "{} rows checked with {} paraphrases in all ({} to {} a row, {} asked for); {dropped}",
            self.rows_checked,
            self.paraphrases_used,
            self.min_paraphrases_used,
            self.max_paraphrases_used,
            self.paraphrases_per_row
        )
    }
}

impl ConsistencyRun {
    fn new(rows: usize) -> ConsistencyRun {
        ConsistencyRun {
            rows: vec![None; rows],
            received: 0,
            dropped: DropReason::ALL.into_iter().map(|r| (r, 0)).collect(),
        }
    }

    fn drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    /// The summary of a run that asked for `n` paraphrases a row.
    pub fn summary(&self, n: usize) -> ConsistencySummary {
        let used: Vec<usize> = self
            .rows
            .iter()
            .filter_map(|r| match r {
                Some(Ok((_, check))) => Some(check.paraphrases.len()),
                _ => None,
            })
            .collect();
        ConsistencySummary {
            paraphrases_per_row: n,
            rows_checked: used.len(),
            errors: self
                .rows
                .iter()
                .filter(|r| matches!(r, Some(Err(_))))
                .count(),
            paraphrases_received: self.received,
            paraphrases_used: used.iter().sum(),
            min_paraphrases_used: used.iter().copied().min().unwrap_or(0),
            max_paraphrases_used: used.iter().copied().max().unwrap_or(0),
            paraphrases_dropped: self.dropped.clone(),
        }
    }
}

/// One row's candidate paraphrases and each one's reason to drop it (`None`: kept so far).
struct Candidates {
    row: usize,
    texts: Vec<String>,
    drops: Vec<Option<DropReason>>,
}

impl Candidates {
    fn kept(&self) -> impl Iterator<Item = (usize, &String)> {
        self.texts
            .iter()
            .enumerate()
            .filter(|(k, _)| self.drops[*k].is_none())
    }
}

/// Runs the check on every row: the paraphrases (one budget line), checked by text and then by
/// one embedding call for the queries and paraphrases together; the answers (a second budget
/// line); then one embedding call for the responses and answers. A row whose paraphrases are
/// missing or all dropped, or whose every answer failed, gets its error; the run fails only on
/// a usage error (`--max-calls`).
pub fn check(
    llm: &Llm,
    records: &[Record],
    n: usize,
    seed: u64,
    embedder: &dyn Embedder,
    params: &EvidenceParams,
    progress: &Progress,
) -> Result<ConsistencyRun> {
    let analyzer = Analyzer::default();
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
    let mut run = ConsistencyRun::new(records.len());
    let mut candidates: Vec<Candidates> = Vec::new();
    for ((&i, request), reply) in rows.iter().zip(&requests).zip(replies) {
        let texts = match reply {
            Err(e) => {
                run.rows[i] = Some(Err(format!("paraphrases: {e}")));
                continue;
            }
            Ok(text) => match parse_paraphrases(&text, n) {
                None => {
                    run.rows[i] = Some(Err("paraphrases: no question in the reply".into()));
                    continue;
                }
                Some(texts) => texts,
            },
        };
        let drops = Original::new(&records[i].prompt, request, &analyzer).screen(&texts, &analyzer);
        run.received += texts.len();
        candidates.push(Candidates {
            row: i,
            texts,
            drops,
        });
    }
    drop_unrelated(&mut candidates, records, embedder, progress)?;
    candidates.retain(|c| {
        for reason in c.drops.iter().flatten() {
            run.drop(*reason);
        }
        if c.kept().next().is_some() {
            return true;
        }
        let reasons = count(c.drops.iter().flatten().copied());
        run.rows[c.row] = Some(Err(format!(
            "paraphrases: none usable: {}",
            describe(&reasons)
        )));
        false
    });
    let answered = answer(llm, records, &candidates, seed, &mut run, progress)?;
    score(
        answered, records, embedder, params, &analyzer, &mut run, progress,
    )?;
    Ok(run)
}

/// Marks the kept paraphrases whose embedding cosine with their query is below
/// [`MIN_COSINE`], with one embedding call for the queries and paraphrases together.
fn drop_unrelated(
    candidates: &mut [Candidates],
    records: &[Record],
    embedder: &dyn Embedder,
    progress: &Progress,
) -> Result<()> {
    // Each distinct text once, as in scoring: repeats would skew the fitted weights.
    let mut interner = Interner::default();
    // (candidates, paraphrase k, query id, paraphrase id)
    let mut pairs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (c, cand) in candidates.iter().enumerate() {
        let query = interner.id(&records[cand.row].prompt);
        for (k, text) in cand.kept() {
            pairs.push((c, k, query, interner.id(text)));
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let texts: Vec<&str> = interner.texts.iter().map(String::as_str).collect();
    let embeddings = embedder.embed(&texts, progress)?;
    for (c, k, query, paraphrase) in pairs {
        if dot(embeddings.row(query), embeddings.row(paraphrase)) < MIN_COSINE {
            candidates[c].drops[k] = Some(DropReason::Unrelated);
        }
    }
    Ok(())
}

/// Answers every kept paraphrase (one budget line). A paraphrase whose answer failed or is
/// empty is dropped; a row left without any answer gets the first error.
fn answer(
    llm: &Llm,
    records: &[Record],
    candidates: &[Candidates],
    seed: u64,
    run: &mut ConsistencyRun,
    progress: &Progress,
) -> Result<Vec<(usize, ConsistencyCheck)>> {
    let mut requests = Vec::new();
    for c in candidates {
        let context = passages(&records[c.row].context);
        for (k, p) in c.kept() {
            requests.push(answer_request(p, &context, answer_seed(seed, k)));
        }
    }
    let mut answers = llm
        .complete_all(
            &requests,
            "score --consistency: answers",
            progress,
            &non_empty,
        )?
        .into_iter();
    let mut answered = Vec::new();
    for c in candidates {
        let mut check = ConsistencyCheck {
            paraphrases: Vec::new(),
            answers: Vec::new(),
            agreements: Vec::new(),
        };
        let mut first_error = None;
        for (_, p) in c.kept() {
            let error = match answers.next() {
                Some(Ok(a)) if !a.trim().is_empty() => {
                    check.paraphrases.push(p.clone());
                    check.answers.push(a.trim().to_string());
                    continue;
                }
                Some(Ok(_)) => "answers: an empty answer".to_string(),
                Some(Err(e)) => format!("answers: {e}"),
                None => "answers: none came back".to_string(),
            };
            run.drop(DropReason::NoAnswer);
            first_error.get_or_insert(error);
        }
        if check.answers.is_empty() {
            run.rows[c.row] = Some(Err(
                first_error.unwrap_or_else(|| "answers: none came back".into())
            ));
        } else {
            answered.push((c.row, check));
        }
    }
    Ok(answered)
}

/// Each answer's [`agreement`] with its row's response, from one embedding call for the
/// responses and answers together, and each row's consistency.
fn score(
    answered: Vec<(usize, ConsistencyCheck)>,
    records: &[Record],
    embedder: &dyn Embedder,
    params: &EvidenceParams,
    analyzer: &Analyzer,
    run: &mut ConsistencyRun,
    progress: &Progress,
) -> Result<()> {
    if answered.is_empty() {
        return Ok(());
    }
    let response = |i: usize| records[i].response.as_deref().unwrap_or("").trim();
    // Responses first, then every answer, in one call: one fitted embedding space.
    let mut texts: Vec<&str> = answered.iter().map(|(i, _)| response(*i)).collect();
    for (_, check) in &answered {
        texts.extend(check.answers.iter().map(String::as_str));
    }
    let embeddings = embedder.embed(&texts, progress)?;
    let mut next = answered.len();
    for (slot, (i, mut check)) in answered.into_iter().enumerate() {
        for answer in &check.answers {
            let cosine = dot(embeddings.row(slot), embeddings.row(next));
            check
                .agreements
                .push(agreement(response(i), answer, cosine, params, analyzer));
            next += 1;
        }
        let score = consistency(&check.agreements).unwrap_or(0.0);
        run.rows[i] = Some(Ok((score, check)));
    }
    Ok(())
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

    /// Other rows' responses and answers, embedded in the same call as a check's are.
    const OTHERS: [&str; 4] = [
        "Click Forgot password on the sign-in page and enter your email address.",
        "Single sign-on is included in the Enterprise plan.",
        "Open Billing > Invoices and click Download PDF next to last month's invoice.",
        "The mobile app works offline and syncs when you reconnect.",
    ];

    /// The embedding cosine of two texts as the check computes it: in one call of score's
    /// embedder with other rows' texts.
    fn cosine(a: &str, b: &str) -> f32 {
        let embedder = super::super::scoring_embedder(256, 42);
        let mut texts = vec![a, b];
        texts.extend(OTHERS);
        let m = embedder.embed(&texts, &Progress::hidden()).unwrap();
        dot(m.row(0), m.row(1))
    }

    fn agree(response: &str, answer: &str) -> f64 {
        let p = super::super::config::ScoreConfig::default().evidence;
        let cos = cosine(response, answer);
        agreement(response, answer, cos, &p, &Analyzer::default())
    }

    const LONG: &str = "You can return items within 30 days of purchase.";

    #[test]
    fn a_terse_answer_agrees_with_a_long_one_that_states_it() {
        let p = super::super::config::ScoreConfig::default().evidence;
        let by_cosine = map_cosine(cosine(LONG, "30 days"), &p);
        assert!(
            by_cosine < 0.8,
            "the embedding alone reads a disagreement: {by_cosine}"
        );
        assert_eq!(agree(LONG, "30 days"), 1.0);
        assert_eq!(agree("30 days", LONG), 1.0, "whichever is the response");
        assert_eq!(agree(LONG, "Within 30 days."), 1.0);
        // More detail in the longer text is not a conflict.
        let detailed =
            "Items can be returned within 30 days; the refund arrives within 5 business days.";
        assert_eq!(agree("Within 30 days.", detailed), 1.0);
        assert_eq!(agree(LONG, LONG), 1.0);
    }

    #[test]
    fn conflicting_numbers_disagree() {
        assert_eq!(agree(LONG, "60 days"), 0.0);
        assert_eq!(
            agree(LONG, "You can return items within 60 days of purchase."),
            0.0,
            "the same words around another number"
        );
        let response = "Refunds are accepted within 30 days and paid within 5 business days.";
        let half = agree(
            response,
            "Refunds are accepted within 30 days and paid within 10 business days.",
        );
        assert_eq!(half, 0.5, "one of two numbers conflicts");
    }

    #[test]
    fn unrelated_and_claimless_answers_go_by_the_embedding() {
        assert!(agree(LONG, "Penguins huddle through the antarctic winter.") < 0.1);
        let p = super::super::config::ScoreConfig::default().evidence;
        let a = Analyzer::default();
        assert_eq!(agreement(LONG, "Yes.", 0.45, &p, &a), map_cosine(0.45, &p));
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
