//! From evidence to a decision: `final`, `disagreement`, then cascaded gates in a fixed
//! priority order. The first gate that matches decides, so every row has exactly one reason.

use super::config::{Gates, ScoreConfig};
use super::evidence::Evidence;
use super::specifics::Specific;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Accept,
    Review,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    None,
    Hallucination,
    WeakGrounding,
    PoorRetrieval,
    OffTopic,
    Uncertain,
    Undetermined,
    EmptyResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HallucinationStatus {
    None,
    Suspected,
    Confirmed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    ServeResponse,
    RegenerateWithGroundingPrompt,
    RetryWithSpecificPrompt,
    RetrieveMoreDocuments,
    RetryWithClearerQuery,
    OptionalHumanReview,
}

/// Which gate decided, in priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    EmptyResponse,
    NoContext,
    UnsupportedSpecifics,
    ConfidentHallucination,
    Unsupported,
    VagueUngrounded,
    PoorRetrieval,
    WeakGrounding,
    OffTopic,
    Disagreement,
    Borderline,
    Pass,
    /// Not a heuristic gate: `score --judge` decided the row (see `judge`).
    LlmJudge,
}

/// The scores of one row, as written under `scores`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// `null` without context (undetermined).
    pub attribution: Option<f64>,
    /// IDF-weighted amount of response content the context lacks (`null` without context).
    pub unsupported_content: Option<f64>,
    pub specificity: f64,
    pub relevance: f64,
    pub context_quality: Option<f64>,
    pub context_precision: Option<f64>,
    pub context_recall: Option<f64>,
    /// Only when the row has a reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_similarity: Option<f64>,
    /// Only with `--consistency` (absent for a row whose check failed: see
    /// `consistency_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<f64>,
    pub disagreement: f64,
    #[serde(rename = "final")]
    pub final_score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    pub failure_type: FailureType,
    pub hallucination_status: HallucinationStatus,
    pub next_action: NextAction,
    pub gate: Gate,
    pub reason: String,
    pub confidence_pct: f64,
}

/// `final` and `disagreement` from the evidence.
pub fn scores(ev: &Evidence, config: &ScoreConfig) -> Scores {
    let w = &config.weights;
    let mut scores = Scores {
        attribution: ev.attribution,
        unsupported_content: ev.unsupported_mass,
        specificity: ev.specificity,
        relevance: ev.relevance,
        context_quality: ev.context_quality,
        context_precision: ev.context_precision,
        context_recall: ev.context_recall,
        reference_similarity: ev.reference_similarity,
        consistency: ev.consistency,
        disagreement: 0.0,
        final_score: 0.0,
    };
    if ev.empty_response {
        return scores;
    }
    // Grounding evidence (is the answer supported or correct?) decides `final` when a row has
    // any: on every labelled set measured, adding relevance, specificity or context quality
    // to attribution lowered the AUROC for "acceptable" (BEGIN 0.932 -> 0.789 with the old
    // blend; docs/score.md, "What final is made of"). They still decide gates. A row with no
    // grounding evidence (no context, reference or consistency) is scored on them instead.
    let weighted = |parts: &[(Option<f64>, f64)]| {
        let (sum, weight) = parts
            .iter()
            .filter_map(|&(v, w)| v.map(|v| (v * w, w)))
            .fold((0.0, 0.0), |(s, t), (v, w)| (s + v, t + w));
        (weight > 0.0).then(|| sum / weight)
    };
    let f = &config.final_score;
    // The context's term: the share supported, and how much is not (a short unsupported
    // pleasantry is not three sentences of invented detail).
    let context_term = ev.attribution.map(|a| {
        let unsupported = ev.unsupported_mass.unwrap_or(0.0);
        (1.0 - f.unsupported_weight) * a
            + f.unsupported_weight * (-unsupported / f.unsupported_scale).exp()
    });
    let grounding = weighted(&[
        (context_term, w.attribution),
        (ev.reference_similarity, w.reference),
        (ev.consistency, w.consistency),
    ]);
    let mut final_score = match grounding {
        Some(g) => g,
        None => {
            let shape = weighted(&[
                (Some(ev.relevance), w.relevance),
                (Some(ev.specificity), w.specificity),
            ])
            .unwrap_or(0.0);
            if ev.relevance < f.relevance_floor && f.relevance_floor > 0.0 {
                shape * (0.5 + 0.5 * ev.relevance / f.relevance_floor)
            } else {
                shape
            }
        }
    };
    if let Some(c) = context_term {
        final_score = final_score.min(c + f.attribution_cap_margin);
    }
    scores.final_score = final_score.clamp(0.0, 1.0);

    // Do the scorers agree on the verdict? Each judges pass or fail against its own gate
    // threshold; its margin, scaled so 0.5 past the threshold counts fully, lies in [-1, 1].
    // Disagreement is half the spread of the margins: 0 when all lean the same way equally,
    // 1 when one is sure of a pass and another sure of a failure.
    let g = &config.gates;
    let margin = |score: f64, threshold: f64| ((score - threshold) / 0.5).clamp(-1.0, 1.0);
    let mut margins = vec![margin(ev.relevance, g.off_topic_relevance)];
    margins.extend(ev.attribution.map(|a| margin(a, g.weak_attribution)));
    margins.extend(
        ev.context_quality
            .map(|c| margin(c, g.poor_context_quality)),
    );
    margins.extend(ev.reference_similarity.map(|r| margin(r, 0.5)));
    margins.extend(ev.consistency.map(|c| margin(c, g.low_consistency)));
    let (low, high) = margins
        .iter()
        .fold((1.0f64, -1.0f64), |(l, h), &m| (l.min(m), h.max(m)));
    scores.disagreement = ((high - low) / 2.0).clamp(0.0, 1.0);
    scores
}

fn round2(x: f64) -> String {
    format!("{x:.2}")
}

/// The first gate that matches, in priority order (cheap: calibration calls it often).
pub fn gate(ev: &Evidence, s: &Scores, g: &Gates) -> Gate {
    if ev.empty_response {
        return Gate::EmptyResponse;
    }
    let Some(attribution) = s.attribution else {
        return Gate::NoContext;
    };
    let unsupported = ev.unsupported.len();
    let weak = attribution < g.weak_attribution;
    if g.unsupported_reject > 0 && unsupported >= g.unsupported_reject as usize && weak {
        Gate::UnsupportedSpecifics
    } else if attribution < g.hallucination_attribution
        && s.specificity >= g.hallucination_specificity
    {
        Gate::ConfidentHallucination
    } else if attribution < g.reject_attribution {
        Gate::Unsupported
    } else if weak && s.specificity < g.vague_specificity {
        Gate::VagueUngrounded
    } else if weak && s.context_quality.unwrap_or(1.0) < g.poor_context_quality {
        Gate::PoorRetrieval
    } else if weak || unsupported > 0 {
        Gate::WeakGrounding
    } else if s.relevance < g.off_topic_relevance {
        Gate::OffTopic
    } else if s.disagreement > g.max_disagreement {
        Gate::Disagreement
    } else if s.final_score < g.accept_final {
        Gate::Borderline
    } else {
        Gate::Pass
    }
}

/// Runs the gates and explains the one that decided.
pub fn decide(ev: &Evidence, s: &Scores, g: &Gates) -> Verdict {
    use Decision::*;
    use FailureType as F;
    use HallucinationStatus as H;
    use NextAction as N;
    let gate = gate(ev, s, g);
    let attribution = s.attribution.unwrap_or(0.0);
    let context_quality = s.context_quality.unwrap_or(1.0);
    let unsupported = ev.unsupported.len();
    let listed = || {
        let names: Vec<String> = ev
            .unsupported
            .iter()
            .take(3)
            .map(Specific::quoted)
            .collect();
        let more = if unsupported > 3 { ", ..." } else { "" };
        format!("{}{more}", names.join(", "))
    };
    let r = round2;
    // (decision, failure type, hallucination status, next action, reason, margin of the
    // deciding number to its threshold)
    let (decision, failure_type, status, action, reason, margin) = match gate {
        Gate::EmptyResponse => (
            Reject,
            F::EmptyResponse,
            H::None,
            N::RetryWithSpecificPrompt,
            "The response is empty.".to_string(),
            1.0,
        ),
        Gate::NoContext => (
            Review,
            F::Undetermined,
            H::None,
            N::OptionalHumanReview,
            format!(
                "No context was given, so grounding cannot be checked (relevance {}, specificity {}).",
                r(s.relevance),
                r(s.specificity)
            ),
            0.0,
        ),
        Gate::UnsupportedSpecifics => (
            Reject,
            F::Hallucination,
            H::Confirmed,
            N::RegenerateWithGroundingPrompt,
            format!(
                "{unsupported} of {} specifics have no support in the context or the query ({}) and attribution is {} < {}.",
                ev.specifics,
                listed(),
                r(attribution),
                r(g.weak_attribution)
            ),
            g.weak_attribution - attribution,
        ),
        Gate::ConfidentHallucination => (
            Reject,
            F::Hallucination,
            if unsupported > 0 { H::Confirmed } else { H::Suspected },
            N::RegenerateWithGroundingPrompt,
            format!(
                "Specific (specificity {} >= {}) but ungrounded (attribution {} < {}).",
                r(s.specificity),
                r(g.hallucination_specificity),
                r(attribution),
                r(g.hallucination_attribution)
            ),
            g.hallucination_attribution - attribution,
        ),
        // Unsupported; when the context itself misses the query, fetching better documents
        // is the fix, not a new prompt.
        Gate::Unsupported if context_quality < g.poor_context_quality => (
            Reject,
            F::PoorRetrieval,
            H::Suspected,
            N::RetrieveMoreDocuments,
            format!(
                "Not supported by the context (attribution {} < {}), which does not cover the query (context quality {} < {}).",
                r(attribution),
                r(g.reject_attribution),
                r(context_quality),
                r(g.poor_context_quality)
            ),
            g.reject_attribution - attribution,
        ),
        Gate::Unsupported => (
            Reject,
            F::Hallucination,
            if unsupported > 0 { H::Confirmed } else { H::Suspected },
            N::RegenerateWithGroundingPrompt,
            format!(
                "Not supported by the context: attribution {} < {}.",
                r(attribution),
                r(g.reject_attribution)
            ),
            g.reject_attribution - attribution,
        ),
        Gate::VagueUngrounded => (
            Review,
            F::WeakGrounding,
            H::None,
            N::RetryWithSpecificPrompt,
            format!(
                "Vague (specificity {} < {}) and weakly grounded (attribution {} < {}).",
                r(s.specificity),
                r(g.vague_specificity),
                r(attribution),
                r(g.weak_attribution)
            ),
            g.weak_attribution - attribution,
        ),
        Gate::PoorRetrieval => (
            Review,
            F::PoorRetrieval,
            H::Suspected,
            N::RetrieveMoreDocuments,
            format!(
                "The context does not cover the query (context quality {} < {}), so the answer is weakly grounded (attribution {}).",
                r(context_quality),
                r(g.poor_context_quality),
                r(attribution)
            ),
            g.poor_context_quality - context_quality,
        ),
        Gate::WeakGrounding if attribution < g.weak_attribution => (
            Review,
            F::WeakGrounding,
            H::Suspected,
            N::RegenerateWithGroundingPrompt,
            format!(
                "Weakly grounded: attribution {} < {}.",
                r(attribution),
                r(g.weak_attribution)
            ),
            g.weak_attribution - attribution,
        ),
        Gate::WeakGrounding => (
            Review,
            F::WeakGrounding,
            H::Suspected,
            N::RegenerateWithGroundingPrompt,
            format!(
                "Grounded overall (attribution {}) but {unsupported} specific(s) have no support in the context ({}).",
                r(attribution),
                listed()
            ),
            0.1,
        ),
        Gate::OffTopic => (
            Review,
            F::OffTopic,
            H::None,
            N::RetryWithClearerQuery,
            format!(
                "The response does not address the query (relevance {} < {}).",
                r(s.relevance),
                r(g.off_topic_relevance)
            ),
            g.off_topic_relevance - s.relevance,
        ),
        Gate::Disagreement => (
            Review,
            F::Uncertain,
            H::None,
            N::OptionalHumanReview,
            format!(
                "The scorers disagree (disagreement {} > {}).",
                r(s.disagreement),
                r(g.max_disagreement)
            ),
            s.disagreement - g.max_disagreement,
        ),
        Gate::Borderline => (
            Review,
            F::Uncertain,
            H::None,
            N::OptionalHumanReview,
            format!("Borderline: final {} < {}.", r(s.final_score), r(g.accept_final)),
            g.accept_final - s.final_score,
        ),
        Gate::Pass => (
            Accept,
            F::None,
            H::None,
            N::ServeResponse,
            format!(
                "Grounded (attribution {}), relevant ({}) and final {} >= {}.",
                r(attribution),
                r(s.relevance),
                r(s.final_score),
                r(g.accept_final)
            ),
            // How far it is from the nearest gate that would not pass it: `accept_final` can
            // be 1 (every claim supported), where a margin to it says nothing.
            (s.final_score - g.reject_attribution).min(s.relevance - g.off_topic_relevance),
        ),
        // `gate` never returns it: the judge's verdict replaces the heuristic one afterwards.
        Gate::LlmJudge => (
            Review,
            F::Uncertain,
            H::None,
            N::OptionalHumanReview,
            "Left to the LLM judge.".to_string(),
            0.0,
        ),
    };
    // Confidence: how far the deciding number is from its threshold (0.25 away counts as
    // certain), discounted when the scorers disagree or grounding could not be checked.
    let clear = (margin.abs() / 0.25).min(1.0);
    let grounded = if s.attribution.is_some() || gate == Gate::EmptyResponse {
        1.0
    } else {
        0.6
    };
    let pct = 100.0 * (0.5 + 0.5 * clear) * (1.0 - 0.5 * s.disagreement) * grounded;
    Verdict {
        decision,
        failure_type,
        hallucination_status: status,
        next_action: action,
        gate,
        reason,
        confidence_pct: pct.round(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::score::specifics::{Specific, SpecificKind};

    /// A grounded, relevant, specific answer; each test changes what its gate looks at.
    fn good() -> Evidence {
        Evidence {
            attribution: Some(1.0),
            attribution_parts: Some((1.0, 1.0)),
            unsupported_mass: Some(0.0),
            specificity: 0.7,
            relevance: 0.8,
            context_quality: Some(0.8),
            context_precision: Some(0.8),
            context_recall: Some(0.8),
            reference_similarity: None,
            consistency: None,
            sentence_support: vec![Some(0.9)],
            specifics: 1,
            unsupported: vec![],
            empty_response: false,
        }
    }

    fn number(text: &str) -> Specific {
        Specific {
            text: text.into(),
            kind: SpecificKind::Number,
            sentence: 0,
        }
    }

    fn run(ev: &Evidence) -> Verdict {
        let config = ScoreConfig::default();
        decide(ev, &scores(ev, &config), &config.gates)
    }

    /// With the unsupported gate off, to reach the REVIEW gates of a weak attribution (with
    /// the defaults, an attribution below `weak_attribution` is already rejected).
    fn run_without_reject(ev: &Evidence) -> Verdict {
        let mut config = ScoreConfig::default();
        config.gates.reject_attribution = 0.0;
        decide(ev, &scores(ev, &config), &config.gates)
    }

    #[test]
    fn unsupported_answer_is_rejected_and_poor_context_asks_for_documents() {
        let v = run(&Evidence {
            attribution: Some(0.52),
            ..good()
        });
        assert_eq!((v.decision, v.gate), (Decision::Reject, Gate::Unsupported));
        assert_eq!(v.failure_type, FailureType::Hallucination);
        assert_eq!(v.next_action, NextAction::RegenerateWithGroundingPrompt);
        assert!(v.reason.contains("0.52 < 0.56"), "{}", v.reason);
        let v = run(&Evidence {
            attribution: Some(0.4),
            context_quality: Some(0.1),
            ..good()
        });
        assert_eq!((v.decision, v.gate), (Decision::Reject, Gate::Unsupported));
        assert_eq!(v.failure_type, FailureType::PoorRetrieval);
        assert_eq!(v.next_action, NextAction::RetrieveMoreDocuments);
        // at the threshold the gate does not fire
        let v = run(&Evidence {
            attribution: Some(0.56),
            ..good()
        });
        assert_eq!((v.decision, v.gate), (Decision::Review, Gate::Borderline));
    }

    #[test]
    fn grounded_relevant_answer_is_accepted() {
        let v = run(&good());
        assert_eq!((v.decision, v.gate), (Decision::Accept, Gate::Pass));
        assert_eq!(v.next_action, NextAction::ServeResponse);
        assert!(v.confidence_pct > 50.0, "{v:?}");
    }

    #[test]
    fn empty_response_is_rejected() {
        let ev = Evidence {
            empty_response: true,
            attribution: None,
            ..good()
        };
        let v = run(&ev);
        assert_eq!(
            (v.decision, v.failure_type),
            (Decision::Reject, FailureType::EmptyResponse)
        );
        assert_eq!(v.reason, "The response is empty.");
        assert_eq!(scores(&ev, &ScoreConfig::default()).final_score, 0.0);
    }

    #[test]
    fn no_context_is_undetermined_review() {
        let ev = Evidence {
            attribution: None,
            attribution_parts: None,
            context_quality: None,
            ..good()
        };
        let v = run(&ev);
        assert_eq!((v.decision, v.gate), (Decision::Review, Gate::NoContext));
        assert_eq!(v.failure_type, FailureType::Undetermined);
        assert!(v.reason.starts_with("No context was given"), "{}", v.reason);
    }

    #[test]
    fn unsupported_specifics_with_weak_grounding_are_confirmed_hallucinations() {
        let ev = Evidence {
            attribution: Some(0.45),
            unsupported: vec![number("60"), number("2019")],
            specifics: 3,
            ..good()
        };
        let v = run(&ev);
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Reject, Gate::UnsupportedSpecifics)
        );
        assert_eq!(v.hallucination_status, HallucinationStatus::Confirmed);
        assert!(v.reason.contains("\"60\", \"2019\""), "{}", v.reason);
    }

    #[test]
    fn specific_but_ungrounded_is_a_confident_hallucination() {
        let v = run(&Evidence {
            attribution: Some(0.2),
            specificity: 0.8,
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Reject, Gate::ConfidentHallucination)
        );
        assert_eq!(v.hallucination_status, HallucinationStatus::Suspected);
    }

    #[test]
    fn vague_and_ungrounded_is_reviewed() {
        let v = run_without_reject(&Evidence {
            attribution: Some(0.2),
            specificity: 0.1,
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::VagueUngrounded)
        );
        assert_eq!(v.next_action, NextAction::RetryWithSpecificPrompt);
    }

    #[test]
    fn poor_context_asks_for_more_documents() {
        let v = run_without_reject(&Evidence {
            attribution: Some(0.4),
            context_quality: Some(0.1),
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::PoorRetrieval)
        );
        assert_eq!(v.next_action, NextAction::RetrieveMoreDocuments);
    }

    #[test]
    fn weak_grounding_or_one_unsupported_specific_is_reviewed() {
        let v = run_without_reject(&Evidence {
            attribution: Some(0.4),
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::WeakGrounding)
        );
        let v = run_without_reject(&Evidence {
            unsupported: vec![number("60")],
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::WeakGrounding)
        );
        assert!(v.reason.contains("\"60\""), "{}", v.reason);
    }

    #[test]
    fn off_topic_answer_is_reviewed() {
        let v = run(&Evidence {
            relevance: 0.1,
            ..good()
        });
        assert_eq!((v.decision, v.gate), (Decision::Review, Gate::OffTopic));
        assert_eq!(v.next_action, NextAction::RetryWithClearerQuery);
    }

    #[test]
    fn disagreeing_scorers_are_reviewed() {
        let v = run(&Evidence {
            relevance: 0.35,
            reference_similarity: Some(0.1),
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::Disagreement),
            "{v:?}"
        );
    }

    #[test]
    fn borderline_final_is_reviewed() {
        // final 0.5 × 0.85 + 0.5 = 0.925, below accept_final 0.97
        let v = run(&Evidence {
            attribution: Some(0.85),
            attribution_parts: Some((0.85, 0.85)),
            relevance: 0.55,
            specificity: 0.3,
            context_quality: Some(0.3),
            ..good()
        });
        assert_eq!(
            (v.decision, v.gate),
            (Decision::Review, Gate::Borderline),
            "{v:?}"
        );
    }

    #[test]
    fn final_is_the_grounding_evidence_when_there_is_some() {
        let config = ScoreConfig::default();
        let final_of = |ev: Evidence| scores(&ev, &config).final_score;
        // The context's term: 0.5 × attribution + 0.5 × exp(-U / 40), whatever relevance,
        // specificity and context quality.
        let term = |a: f64, u: f64| 0.5 * a + 0.5 * (-u / 40.0).exp();
        for (relevance, specificity, context) in [(1.0, 1.0, 1.0), (0.0, 0.0, 0.0)] {
            for u in [0.0, 40.0, 160.0] {
                let f = final_of(Evidence {
                    attribution: Some(0.4),
                    unsupported_mass: Some(u),
                    relevance,
                    specificity,
                    context_quality: Some(context),
                    ..good()
                });
                assert!((f - term(0.4, u)).abs() < 1e-12, "{f}");
            }
        }
        // At equal attribution, more unsupported content scores lower.
        let with_u = |u: f64| {
            final_of(Evidence {
                attribution: Some(0.3),
                unsupported_mass: Some(u),
                ..good()
            })
        };
        assert!(with_u(2.0) > with_u(40.0));
        // Nothing supported fails `slices`' 0.5 cut, however little was said.
        let unsupported = final_of(Evidence {
            attribution: Some(0.0),
            unsupported_mass: Some(0.5),
            ..good()
        });
        assert!(unsupported < 0.5, "{unsupported}");
        // with a reference: their weighted mean (0.55 and 0.15)
        let f = final_of(Evidence {
            attribution: Some(0.6),
            reference_similarity: Some(0.9),
            ..good()
        });
        assert!(
            (f - (0.55 * term(0.6, 0.0) + 0.15 * 0.9) / 0.7).abs() < 1e-12,
            "{f}"
        );
        // capped at the context's term + 0.25: a reference cannot rescue invented content
        let f = final_of(Evidence {
            attribution: Some(0.1),
            unsupported_mass: Some(150.0),
            reference_similarity: Some(1.0),
            consistency: Some(1.0),
            ..good()
        });
        assert!((f - (term(0.1, 150.0) + 0.25)).abs() < 1e-12, "{f}");
        // no grounding evidence: relevance and specificity (0.15 and 0.05), and low relevance
        // pulls it down
        let shape = |relevance: f64| {
            final_of(Evidence {
                attribution: None,
                context_quality: None,
                relevance,
                specificity: 0.6,
                ..good()
            })
        };
        assert!((shape(0.8) - (0.15 * 0.8 + 0.05 * 0.6) / 0.2).abs() < 1e-12);
        let low = (0.15 * 0.15 + 0.05 * 0.6) / 0.2 * (0.5 + 0.5 * 0.15 / 0.3);
        assert!((shape(0.15) - low).abs() < 1e-12, "{}", shape(0.15));
    }
}
