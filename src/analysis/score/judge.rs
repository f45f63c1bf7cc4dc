//! `score --judge`: an LLM judge for the rows the heuristics are unsure of.
//!
//! Which rows ([`JudgeBand`]): by default those whose heuristic decision is REVIEW. The gate
//! cascade ends in REVIEW exactly when no gate could decide (weak grounding, no context, a
//! borderline `final`, disagreeing scorers): it is the heuristics' own "ask someone", and the
//! judge is that someone. ACCEPT and REJECT rows matched a gate on evidence and keep their
//! decision, which bounds the cost to the REVIEW share. `LOW,HIGH` picks rows by `final`
//! instead (whatever their decision; `0,1` is every row), e.g. to second-guess ACCEPTs just
//! above `accept_final` too. An empty response is never sent: nothing can make it acceptable.
//!
//! Inside the band the judge is one more piece of evidence, not a veto ([`fold`]): it moves a
//! row at most one step. Faithful turns REVIEW into ACCEPT only when the judge's own score
//! reaches `gates.judge_accept_score` and no strong heuristic evidence stands against it
//! ([`objection`]: an unsupported number or name, an off-topic response, attribution below
//! `hallucination_attribution`, a heuristic REJECT); otherwise the row is REVIEW and
//! `judge.disagreement` says what the verdict contradicts. Small models call nearly every
//! answer faithful, and a hallucinated number must not be waved through by one. Hallucinated
//! turns REVIEW into REJECT, and a heuristic ACCEPT into REVIEW. The scores and the heuristic
//! decision stay in the row (`judge.heuristic_*`). A judge that failed or gave no verdict
//! leaves the heuristic decision in place and the row says why (`judge_error`).

use super::config::Gates;
use super::decide::{
    Decision, FailureType, Gate, HallucinationStatus, NextAction, Scores, Verdict,
};
use super::specifics::Specific;
use crate::api::chat::{ChatParams, ChatRequest, Message, ReplySchema};
use crate::api::reply::{clip, first_json};
use serde::Serialize;
use serde_json::Value;

const QUERY_CHARS: usize = 2_000;
const CONTEXT_CHARS: usize = 6_000;
const RESPONSE_CHARS: usize = 3_000;
/// Characters of the judge's reason kept in the row.
const REASON_CHARS: usize = 300;

/// The rows sent to the judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JudgeBand {
    /// Rows whose heuristic decision is REVIEW.
    Review,
    /// Rows with `low <= final <= high`.
    Final { low: f64, high: f64 },
}

impl JudgeBand {
    /// `review`, or `LOW,HIGH` with 0 <= LOW <= HIGH <= 1 (the `--judge-band` value).
    pub fn parse(text: &str) -> std::result::Result<JudgeBand, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("review") {
            return Ok(JudgeBand::Review);
        }
        let bad = || {
            format!(
                "expected `review` or LOW,HIGH on the final score (e.g. 0.4,0.7), found `{text}`"
            )
        };
        let (low, high) = text.split_once(',').ok_or_else(bad)?;
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| (0.0..=1.0).contains(x))
        };
        match (number(low), number(high)) {
            (Some(low), Some(high)) if low <= high => Ok(JudgeBand::Final { low, high }),
            _ => Err(bad()),
        }
    }

    /// Whether a row with this heuristic verdict and `final` is judged.
    pub fn contains(&self, verdict: &Verdict, final_score: f64) -> bool {
        if verdict.gate == Gate::EmptyResponse {
            return false;
        }
        match *self {
            JudgeBand::Review => verdict.decision == Decision::Review,
            JudgeBand::Final { low, high } => (low..=high).contains(&final_score),
        }
    }
}

impl std::fmt::Display for JudgeBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JudgeBand::Review => write!(f, "review"),
            JudgeBand::Final { low, high } => write!(f, "final in [{low}, {high}]"),
        }
    }
}

/// The judge's request for one row. `context` is the row's passages (empty without context).
pub fn request(query: &str, context: &[String], response: &str, seed: u64) -> ChatRequest {
    let context = if context.is_empty() {
        "(none: judge the response by whether it is correct)".to_string()
    } else {
        clip(&context.join("\n\n"), CONTEXT_CHARS)
    };
    let prompt = format!(
        "Is the RESPONSE faithful? It is faithful when every claim in it is supported by the \
         CONTEXT (or, without a context, is correct) and it answers the QUERY. It is \
         hallucinated when it adds facts the context does not contain, contradicts it, or does \
         not answer the query.\n\n\
         QUERY:\n{}\n\nCONTEXT:\n{context}\n\nRESPONSE:\n{}\n\n\
         Reply with one JSON object and nothing else:\n\
         {{\"verdict\": \"faithful\" or \"hallucinated\", \"score\": the probability from 0 to 1 \
         that the response is faithful, \"reason\": \"one short sentence\"}}",
        clip(query, QUERY_CHARS),
        clip(response, RESPONSE_CHARS),
    );
    ChatRequest {
        messages: vec![
            Message::system(
                "You check answers for hallucinations against their context. You reply with JSON only.",
            ),
            Message::user(prompt),
        ],
        // The schema bounds the reason, so the reply fits even at one character a token (small
        // models write debris; a reply cut short is not JSON).
        params: ChatParams {
            temperature: 0.0,
            max_tokens: 240,
            seed: Some(seed),
        },
        schema: Some(ReplySchema {
            name: "judge_verdict",
            schema: serde_json::json!({
                "type": "object",
                "properties": {
                    "verdict": {"type": "string", "enum": ["faithful", "hallucinated"]},
                    "score": {"type": "number"},
                    "reason": {"type": "string", "maxLength": 160},
                },
                "required": ["verdict", "score", "reason"],
                "additionalProperties": false,
            }),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeVerdict {
    Faithful,
    Hallucinated,
}

/// What the judge answered.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeReply {
    pub verdict: JudgeVerdict,
    /// Probability that the response is faithful, when the judge gave one.
    pub score: Option<f64>,
    pub reason: String,
}

fn verdict_word(word: &str) -> Option<JudgeVerdict> {
    use JudgeVerdict::*;
    match word.trim().to_ascii_lowercase().as_str() {
        "faithful" | "supported" | "grounded" | "correct" | "yes" | "pass" => Some(Faithful),
        "hallucinated" | "hallucination" | "unsupported" | "unfaithful" | "incorrect" | "no"
        | "fail" => Some(Hallucinated),
        _ => None,
    }
}

/// An enum's serialized name (`REVIEW`, `borderline`).
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => "?".into(),
    }
}

/// A reason quoted on one line, clipped.
fn one_line(text: &str) -> String {
    clip(&crate::export::escape::one_line(text), REASON_CHARS)
}

/// The verdict in a judge's reply: a JSON object (alone, fenced or in prose) with `verdict`
/// and/or `score` (>= 0.5 is faithful) and `reason`; else a reply that starts with a verdict
/// word ("Hallucinated: the response ..."). `None` when neither is there.
pub fn parse(reply: &str) -> Option<JudgeReply> {
    if let Some(Value::Object(map)) = first_json(reply) {
        let field = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k));
        let score = field(&["score", "probability", "faithfulness"])
            .and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .filter(|s| (0.0..=1.0).contains(s));
        let verdict = field(&["verdict", "label", "judgement", "judgment"])
            .and_then(Value::as_str)
            .and_then(verdict_word)
            .or(score.map(|s| {
                if s >= 0.5 {
                    JudgeVerdict::Faithful
                } else {
                    JudgeVerdict::Hallucinated
                }
            }))?;
        let reason = field(&["reason", "explanation", "rationale"])
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        return Some(JudgeReply {
            verdict,
            score,
            reason,
        });
    }
    let text = reply.trim_start().trim_start_matches(['*', '#', '"', ' ']);
    let end = text
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(text.len());
    let verdict = verdict_word(&text[..end])?;
    let rest = text[end..].trim_start_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    Some(JudgeReply {
        verdict,
        score: None,
        reason: one_line(rest),
    })
}

/// What the row records about the judge (the `judge` field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeRecord {
    pub verdict: JudgeVerdict,
    pub score: Option<f64>,
    pub reason: String,
    /// The decision the heuristics had made, and why.
    pub heuristic_decision: Decision,
    pub heuristic_gate: Gate,
    pub heuristic_reason: String,
    /// Why the verdict did not decide the row, when it did not: the heuristic evidence it
    /// contradicts, or a score below `judge_accept_score`. The row is REVIEW then.
    pub disagreement: Option<String>,
}

/// Heuristic evidence strong enough that a "faithful" verdict alone cannot accept the row,
/// as a clause ("2 of its numbers, names or negations are without support ...").
pub fn objection(
    heuristic: &Verdict,
    scores: &Scores,
    unsupported: &[Specific],
    gates: &Gates,
) -> Option<String> {
    if heuristic.decision == Decision::Reject {
        return Some(format!("the heuristics rejected it ({})", heuristic.reason));
    }
    if !unsupported.is_empty() {
        let quoted: Vec<String> = unsupported.iter().take(3).map(Specific::quoted).collect();
        return Some(format!(
            "{} of its numbers, names or negations {} without support in the context or the query ({})",
            unsupported.len(),
            if unsupported.len() == 1 { "is" } else { "are" },
            quoted.join(", ")
        ));
    }
    if let Some(attribution) = scores.attribution {
        if attribution < gates.hallucination_attribution {
            return Some(format!(
                "the context supports little of it (attribution {:.2} < {})",
                attribution, gates.hallucination_attribution
            ));
        }
    }
    if scores.relevance < gates.off_topic_relevance {
        return Some(format!(
            "it does not answer the query (relevance {:.2} < {})",
            scores.relevance, gates.off_topic_relevance
        ));
    }
    None
}

/// The judge's verdict folded into the row's decision (see the module comment): `objection`
/// is the heuristic evidence against a faithful verdict ([`objection`]), `accept_score` the
/// judge's own score a faithful verdict needs. Without context a hallucinated verdict is
/// `suspected` (the judge could only go by what it knows), with one `confirmed`.
pub fn fold(
    heuristic: &Verdict,
    reply: &JudgeReply,
    has_context: bool,
    objection: Option<String>,
    accept_score: f64,
) -> (Verdict, JudgeRecord) {
    use JudgeVerdict::*;
    let because = if reply.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", reply.reason)
    };
    let was = format!(
        " (heuristics: {} at gate {})",
        name(&heuristic.decision),
        name(&heuristic.gate)
    );
    let score = reply
        .score
        .map_or("no score".to_string(), |s| format!("score {s:.2}"));
    let disagreement = match reply.verdict {
        Faithful => objection
            .map(|o| format!("found faithful, but {o}"))
            .or_else(|| match reply.score {
                Some(s) if s >= accept_score => None,
                _ => Some(format!(
                    "found faithful with {score}, below the {accept_score} it needs to accept"
                )),
            }),
        Hallucinated => (heuristic.decision == Decision::Accept).then(|| {
            format!(
                "found hallucinated, but the heuristics accepted it ({})",
                heuristic.reason
            )
        }),
    };
    let verdict = match (&disagreement, reply.verdict) {
        (Some(d), _) => Verdict {
            decision: Decision::Review,
            failure_type: match heuristic.failure_type {
                FailureType::None => FailureType::Uncertain,
                other => other,
            },
            hallucination_status: heuristic.hallucination_status,
            next_action: NextAction::OptionalHumanReview,
            gate: Gate::LlmJudge,
            reason: format!("The LLM judge {d}{because}; a person should decide."),
            confidence_pct: 0.0,
        },
        (None, Faithful) => Verdict {
            decision: Decision::Accept,
            failure_type: FailureType::None,
            hallucination_status: HallucinationStatus::None,
            next_action: NextAction::ServeResponse,
            gate: Gate::LlmJudge,
            reason: format!("The LLM judge found the response faithful ({score}){because}{was}."),
            confidence_pct: 0.0,
        },
        (None, Hallucinated) => Verdict {
            decision: Decision::Reject,
            failure_type: FailureType::Hallucination,
            hallucination_status: if has_context {
                HallucinationStatus::Confirmed
            } else {
                HallucinationStatus::Suspected
            },
            next_action: NextAction::RegenerateWithGroundingPrompt,
            gate: Gate::LlmJudge,
            reason: format!("The LLM judge found the response hallucinated{because}{was}."),
            confidence_pct: 0.0,
        },
    };
    // Confidence: the judge's own probability of its verdict, when it gave one that agrees
    // with the verdict; a bare verdict counts halfway between a coin flip and certainty. A
    // row the judge and the heuristics disagree on is a coin flip.
    let own = reply.score.map(|s| match reply.verdict {
        Faithful => s,
        Hallucinated => 1.0 - s,
    });
    let pct = match own {
        _ if disagreement.is_some() => 50.0,
        Some(p) if p >= 0.5 => 100.0 * p,
        _ => 75.0,
    };
    let record = JudgeRecord {
        verdict: reply.verdict,
        score: reply.score,
        reason: reply.reason.clone(),
        heuristic_decision: heuristic.decision,
        heuristic_gate: heuristic.gate,
        heuristic_reason: heuristic.reason.clone(),
        disagreement,
    };
    (
        Verdict {
            confidence_pct: pct.round(),
            ..verdict
        },
        record,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review() -> Verdict {
        Verdict {
            decision: Decision::Review,
            failure_type: FailureType::Uncertain,
            hallucination_status: HallucinationStatus::None,
            next_action: NextAction::OptionalHumanReview,
            gate: Gate::Borderline,
            reason: "Borderline: final 0.50 < 0.55.".into(),
            confidence_pct: 60.0,
        }
    }

    #[test]
    fn band_parses_and_selects() {
        assert_eq!(JudgeBand::parse("review"), Ok(JudgeBand::Review));
        assert_eq!(
            JudgeBand::parse(" 0.4, 0.7 "),
            Ok(JudgeBand::Final {
                low: 0.4,
                high: 0.7
            })
        );
        for bad in ["0.7,0.4", "0.4", "a,b", "0,1.5", ""] {
            assert!(JudgeBand::parse(bad).is_err(), "{bad}");
        }
        let v = review();
        assert!(JudgeBand::Review.contains(&v, 0.5));
        let accept = Verdict {
            decision: Decision::Accept,
            gate: Gate::Pass,
            ..review()
        };
        assert!(!JudgeBand::Review.contains(&accept, 0.6));
        let band = JudgeBand::parse("0.4,0.7").unwrap();
        assert!(band.contains(&accept, 0.6) && !band.contains(&v, 0.3));
        let empty = Verdict {
            gate: Gate::EmptyResponse,
            ..review()
        };
        assert!(!JudgeBand::parse("0,1").unwrap().contains(&empty, 0.0));
    }

    #[test]
    fn replies_parse_from_json_fences_and_words() {
        let r = parse("```json\n{\"verdict\": \"Hallucinated\", \"score\": 0.1, \"reason\": \"Says 60,\n not 30.\"}\n```").unwrap();
        assert_eq!(r.verdict, JudgeVerdict::Hallucinated);
        assert_eq!(r.score, Some(0.1));
        assert_eq!(r.reason, "Says 60, not 30.");
        let r = parse("Here you go: {\"score\": \"0.8\"} hope it helps").unwrap();
        assert_eq!((r.verdict, r.score), (JudgeVerdict::Faithful, Some(0.8)));
        let r = parse("**Supported** - the context says so.").unwrap();
        assert_eq!(r.verdict, JudgeVerdict::Faithful);
        assert_eq!(r.reason, "the context says so.");
        assert_eq!(parse("I cannot tell."), None);
        assert_eq!(parse("{\"verdict\": \"maybe\"}"), None);
        assert_eq!(parse("{\"score\": 7}"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn the_judge_decides_and_the_heuristics_are_kept() {
        let reply = JudgeReply {
            verdict: JudgeVerdict::Hallucinated,
            score: Some(0.2),
            reason: "Adds a price.".into(),
        };
        let (v, record) = fold(&review(), &reply, true, None, 0.8);
        assert_eq!((v.decision, v.gate), (Decision::Reject, Gate::LlmJudge));
        assert_eq!(v.hallucination_status, HallucinationStatus::Confirmed);
        assert_eq!(v.confidence_pct, 80.0);
        assert!(
            v.reason.contains("Adds a price.") && v.reason.contains("REVIEW"),
            "{}",
            v.reason
        );
        assert_eq!(record.heuristic_gate, Gate::Borderline);
        assert_eq!(record.disagreement, None);
        let (v, _) = fold(&review(), &reply, false, None, 0.8);
        assert_eq!(v.hallucination_status, HallucinationStatus::Suspected);
        let faithful = JudgeReply {
            verdict: JudgeVerdict::Faithful,
            score: Some(0.9),
            reason: String::new(),
        };
        let (v, record) = fold(&review(), &faithful, true, None, 0.8);
        assert_eq!(
            (v.decision, v.next_action),
            (Decision::Accept, NextAction::ServeResponse)
        );
        assert_eq!(v.confidence_pct, 90.0);
        assert_eq!(record.disagreement, None);
    }

    #[test]
    fn a_faithful_verdict_accepts_only_with_its_score_and_no_evidence_against_it() {
        let faithful = |score| JudgeReply {
            verdict: JudgeVerdict::Faithful,
            score,
            reason: "Fine.".into(),
        };
        for score in [Some(0.79), Some(0.2), None] {
            let (v, record) = fold(&review(), &faithful(score), true, None, 0.8);
            assert_eq!(v.decision, Decision::Review, "{score:?}");
            assert_eq!(v.failure_type, FailureType::Uncertain);
            assert!(record.disagreement.unwrap().contains("below the 0.8"));
        }
        // A hallucinated number the heuristics found: REVIEW, whatever the judge's score.
        let objection = Some(
            "1 of its numbers, names or negations is without support in the context or the query (\"$60\")"
                .to_string(),
        );
        let weak = Verdict {
            failure_type: FailureType::WeakGrounding,
            gate: Gate::WeakGrounding,
            ..review()
        };
        let (v, record) = fold(&weak, &faithful(Some(1.0)), true, objection, 0.8);
        assert_eq!((v.decision, v.gate), (Decision::Review, Gate::LlmJudge));
        assert_eq!(v.failure_type, FailureType::WeakGrounding);
        assert_eq!(v.confidence_pct, 50.0);
        let d = record.disagreement.unwrap();
        assert!(d.contains("$60") && v.reason.contains(&d), "{}", v.reason);
        assert_eq!(record.verdict, JudgeVerdict::Faithful);
        // Hallucinated against a heuristic ACCEPT (a --judge-band run): REVIEW, not REJECT.
        let accept = Verdict {
            decision: Decision::Accept,
            failure_type: FailureType::None,
            gate: Gate::Pass,
            ..review()
        };
        let hallucinated = JudgeReply {
            verdict: JudgeVerdict::Hallucinated,
            score: Some(0.1),
            reason: String::new(),
        };
        let (v, record) = fold(&accept, &hallucinated, true, None, 0.8);
        assert_eq!(v.decision, Decision::Review);
        assert!(record.disagreement.unwrap().contains("heuristics accepted"));
    }

    #[test]
    fn objections_are_the_strong_heuristic_evidence() {
        let gates = super::super::config::ScoreConfig::default().gates;
        let scores = |attribution: Option<f64>, relevance: f64| Scores {
            attribution,
            unsupported_content: attribution.map(|_| 0.0),
            specificity: 0.5,
            relevance,
            context_quality: None,
            context_precision: None,
            context_recall: None,
            reference_similarity: None,
            consistency: None,
            disagreement: 0.0,
            final_score: 0.5,
        };
        let fine = scores(Some(0.6), 0.8);
        assert_eq!(objection(&review(), &fine, &[], &gates), None);
        let number = Specific {
            text: "$60".into(),
            kind: super::super::specifics::SpecificKind::Number,
            sentence: 0,
        };
        assert!(objection(&review(), &fine, &[number], &gates)
            .unwrap()
            .contains("\"$60\""));
        assert!(objection(&review(), &scores(Some(0.05), 0.8), &[], &gates)
            .unwrap()
            .contains("attribution 0.05"));
        assert!(objection(&review(), &scores(None, 0.05), &[], &gates)
            .unwrap()
            .contains("relevance 0.05"));
        let reject = Verdict {
            decision: Decision::Reject,
            ..review()
        };
        assert!(objection(&reject, &fine, &[], &gates).is_some());
    }
}
