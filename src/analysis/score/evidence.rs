//! The scorers: attribution, specificity, relevance, context quality and reference similarity
//! of one row, from its prepared texts. Thresholds play no part here, so calibration can
//! re-run the gates on these numbers without scoring again.

use super::config::EvidenceParams;
use super::prepare::{Corpus, RowTexts};
use super::specifics::{self, SourceIndex, Specific, SpecificKind};

/// Everything the gates and `final` are computed from.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// `None` without context: undetermined, never an invented number.
    pub attribution: Option<f64>,
    /// Lexical and embedding halves of attribution (for `disagreement`).
    pub attribution_parts: Option<(f64, f64)>,
    /// How much of the response's content the context lacks: each content sentence's IDF mass
    /// times one minus its lexical coverage, summed (0 when no sentence makes a claim; `None`
    /// without context). Unlike attribution, a mean, it grows with the unsupported content.
    pub unsupported_mass: Option<f64>,
    pub specificity: f64,
    pub relevance: f64,
    pub context_quality: Option<f64>,
    pub context_precision: Option<f64>,
    pub context_recall: Option<f64>,
    pub reference_similarity: Option<f64>,
    /// Agreement of the LLM's answers to paraphrased queries with the response (only with
    /// `--consistency`; filled in after the offline scorers).
    pub consistency: Option<f64>,
    /// Support of each response sentence (empty without context; `None` for a sentence
    /// without content words, which makes no claim).
    pub sentence_support: Vec<Option<f64>>,
    pub specifics: usize,
    pub unsupported: Vec<Specific>,
    pub empty_response: bool,
}

/// Relevance evidence at or above this counts as fully relevant.
const RELEVANCE_FULL: f64 = 0.75;

/// Responses of at most this many words are direct answers (see relevance).
const SHORT_ANSWER_WORDS: usize = 5;

/// A response sentence restates a context sentence when that sentence alone covers at least
/// this share of its content; a negation it adds is then a flip, unless a negating context
/// sentence covers at least `NEGATION_NEARBY` times as much of it (the same claim, said in
/// another sentence). Chosen among 0.5/0.7/0.85 and 1/0.5/0.3 on BEGIN dev and HaluEval
/// (docs/score.md).
const NEGATION_RESTATES: f64 = 0.7;
const NEGATION_NEARBY: f64 = 0.3;

/// Phrases that commit to nothing; each occurrence lowers specificity.
const HEDGES: &[&str] = &[
    "i think",
    "i believe",
    "i guess",
    "i'm not sure",
    "i am not sure",
    "not sure",
    "maybe",
    "perhaps",
    "possibly",
    "probably",
    "might",
    "may be",
    "could be",
    "it depends",
    "generally",
    "typically",
    "usually",
    "in general",
    "some people",
    "various",
    "several factors",
    "i don't know",
    "i do not know",
    "as an ai",
    "hard to say",
    "it is difficult to",
    "it's difficult to",
    "there are many",
    "a number of",
    "somewhat",
    "kind of",
    "sort of",
];

pub(super) fn map_cosine(cos: f32, p: &EvidenceParams) -> f64 {
    ((cos as f64 - p.cosine_floor) / (p.cosine_full - p.cosine_floor)).clamp(0.0, 1.0)
}

/// Scores one row. `response` and `sentences` are the response text and its sentences.
pub fn evidence(
    row: &RowTexts,
    corpus: &Corpus,
    response: &str,
    query: &str,
    p: &EvidenceParams,
) -> Evidence {
    let empty_response = corpus.texts[row.response].is_empty();
    let sentences: Vec<&str> = row
        .sentences
        .iter()
        .map(|&s| corpus.texts[s].as_str())
        .collect();
    let found = specifics::extract(&sentences);
    let specificity = specificity(
        response,
        sentences.len(),
        found.len(),
        corpus.token_counts[row.response] as usize,
        corpus.stems[row.response].len(),
    );

    let mut ev = Evidence {
        attribution: None,
        attribution_parts: None,
        unsupported_mass: None,
        specificity,
        relevance: 0.0,
        context_quality: None,
        context_precision: None,
        context_recall: None,
        reference_similarity: None,
        consistency: None,
        sentence_support: Vec::new(),
        specifics: found.len(),
        unsupported: Vec::new(),
        empty_response,
    };
    if empty_response {
        return ev;
    }
    let cos = |a: usize, b: usize| map_cosine(corpus.cosine(a, b), p);
    // Relevance of the response itself: embedding similarity (whole and best sentence) and
    // the share of the query's content words it uses.
    let direct_cos = row
        .sentences
        .iter()
        .map(|&s| cos(row.query, s))
        .fold(cos(row.query, row.response), f64::max);
    let query_coverage = corpus
        .coverage(row.query, &corpus.stems[row.response])
        .map(f64::from);
    // Full marks from 3/4 of the way: answers rarely repeat the question's own phrasing
    // ("how long", "which kind"), so a wholly relevant answer covers ~70-80% of it.
    let direct = match query_coverage {
        Some(c) => 0.5 * direct_cos + 0.5 * c.max(direct_cos),
        None => direct_cos,
    };
    let direct = (direct / RELEVANCE_FULL).min(1.0);
    ev.relevance = direct;

    if let Some(reference) = row.reference {
        let lexical = token_f1(corpus, row.response, reference);
        ev.reference_similarity = Some(0.5 * lexical + 0.5 * cos(row.response, reference));
    }
    if !row.has_context || row.units.is_empty() {
        return ev;
    }

    // Attribution: each sentence's best support, weighted by its content.
    let context_all = &row.context_stems;
    if !found.is_empty() {
        let mut sources = SourceIndex::default();
        for &u in &row.units[..row.sentence_units] {
            sources.add(&corpus.texts[u]);
        }
        sources.add(query);
        ev.unsupported = specifics::unsupported(&found, &sources);
    }

    let query_relevance: Vec<f64> = row
        .units
        .iter()
        .map(|&u| {
            let lexical = corpus
                .coverage(row.query, &corpus.stems[u])
                .map_or(0.0, f64::from);
            lexical.max(cos(row.query, u))
        })
        .collect();
    let mut used = vec![false; row.units.len()];
    let query_relevance: Vec<f64> = query_relevance
        .iter()
        .map(|q| (q / RELEVANCE_FULL).min(1.0))
        .collect();
    let (mut lexical_sum, mut embedding_sum, mut support_sum, mut mass_sum) = (0.0, 0.0, 0.0, 0.0);
    let mut unsupported_sum = 0.0;
    let mut via_context = 0.0f64;
    let mut content_free_fallback = None;
    for (k, &s) in row.sentences.iter().enumerate() {
        let mut best_lexical = 0.0f64;
        let mut best_cos = 0.0f64;
        let mut best_unit = 0;
        let mut best_score = -1.0;
        for (i, &u) in row.units.iter().enumerate() {
            let lexical = corpus.coverage(s, &corpus.stems[u]).map_or(0.0, f64::from);
            let c = cos(s, u);
            // The best single sentence: a whole passage would make this half the same as
            // coverage by the whole context, and a summary that joins words of separate
            // sentences into a new claim would look as supported as one that restates one.
            if i < row.sentence_units {
                best_lexical = best_lexical.max(lexical);
            }
            best_cos = best_cos.max(c);
            let combined = p.lexical_share * lexical + (1.0 - p.lexical_share) * c;
            if combined > best_score {
                best_score = combined;
                best_unit = i;
            }
        }
        let whole = corpus.coverage(s, context_all).map(f64::from);
        // A sentence may join facts from several context sentences (multi-hop answers), so
        // coverage by the whole context counts as much as by the best single sentence.
        let Some(whole) = whole else {
            // No content words ("Yes.", "Sure!"): no claim to check. Such sentences count
            // only when the whole response is made of them, through the embedding alone.
            if content_free_fallback.is_none() {
                content_free_fallback = Some(best_cos);
            }
            ev.sentence_support.push(None);
            continue;
        };
        let lexical = 0.5 * best_lexical + 0.5 * whole;
        // Embedding similarity can raise a sentence's support (a paraphrase shares few words)
        // but not lower what its words already show: with the built-in embedder, letting it
        // pull support down cost 0.14 AUROC on HaluEval QA (docs/score.md).
        let blended = p.lexical_share * lexical + (1.0 - p.lexical_share) * best_cos;
        let mut support = lexical.max(blended);
        if best_lexical >= NEGATION_RESTATES {
            if let Some(word) = flipped_negation(row, corpus, s, sentences[k], best_lexical) {
                ev.specifics += 1;
                ev.unsupported.push(Specific {
                    text: word.to_string(),
                    kind: SpecificKind::Negation,
                    sentence: k,
                });
            }
        }
        // Unsupported specifics of this sentence, and how many of them are invented facts
        // (numbers and negations, which change what a sentence says; a name may be a byline).
        let (misses, invented) = ev
            .unsupported
            .iter()
            .filter(|x| x.sentence == k)
            .fold((0, 0), |(all, facts), x| {
                (all + 1, facts + i32::from(x.kind != SpecificKind::Name))
            });
        support *= (1.0 - p.unsupported_penalty).powi(misses);
        let mass = f64::from(corpus.mass(s));
        unsupported_sum += mass * (1.0 - lexical * (1.0 - p.unsupported_penalty).powi(invented));
        lexical_sum += mass * lexical;
        embedding_sum += mass * best_cos;
        support_sum += mass * support;
        mass_sum += mass;
        if support >= p.sentence_support {
            used[best_unit] = true;
        }
        via_context = via_context.max(support * query_relevance[best_unit]);
        ev.sentence_support.push(Some(support));
    }
    // Negations were added sentence by sentence: keep the list in response order.
    ev.unsupported.sort_by_key(|x| x.sentence);
    // Lexical coverage, not the embedding-raised support: on BEGIN dev and HaluEval the
    // embedding vouched for invented content as often as for paraphrase here.
    ev.unsupported_mass = Some(unsupported_sum);
    if mass_sum == 0.0 {
        let fallback = content_free_fallback.unwrap_or(0.0);
        (support_sum, lexical_sum, embedding_sum, mass_sum) = (fallback, fallback, fallback, 1.0);
    }
    ev.attribution = Some(support_sum / mass_sum);
    ev.attribution_parts = Some((lexical_sum / mass_sum, embedding_sum / mass_sum));
    let recall = corpus
        .coverage(row.query, context_all)
        .map_or(0.0, f64::from)
        .max(query_relevance.iter().copied().fold(0.0, f64::max));
    // A short answer ("Delhi", "2006") shares no words with its question; it is relevant
    // when the context passage it comes from is, or, being a direct answer, when it is
    // grounded at all (multi-hop answers come from passages that never mention the question).
    let words = response.split_whitespace().count();
    let short_answer = if words <= SHORT_ANSWER_WORDS {
        0.8 * support_sum / mass_sum
    } else {
        0.0
    };
    // A query that points at the supplied text ("Summarize the following document.") is an
    // instruction over the context: when the context does not mention the query's own words,
    // a response grounded in that context is on task. (Without the pointer, a grounded answer
    // from a context about something else is off topic, not on task.)
    let instruction = if refers_to_supplied_text(query) {
        (1.0 - recall) * 0.8 * support_sum / mass_sum
    } else {
        0.0
    };
    ev.relevance = direct.max(via_context).max(short_answer).max(instruction);

    // Context quality: does the context cover what was asked (recall), and how much of it is
    // on the question or used by the answer (precision)?
    let relevant = query_relevance
        .iter()
        .zip(&used)
        .filter(|(&q, &u)| u || q >= 0.5)
        .count();
    let precision = relevant as f64 / row.units.len() as f64;
    ev.context_recall = Some(recall);
    ev.context_precision = Some(precision);
    ev.context_quality = Some(0.7 * recall + 0.3 * precision);
    ev
}

/// The negation response sentence `s` (text `text`) adds to the context sentence it restates
/// (`best_lexical` of its content): none when no context sentence that negates covers at
/// least `NEGATION_NEARBY` times as much of it.
fn flipped_negation<'t>(
    row: &RowTexts,
    corpus: &Corpus,
    s: usize,
    text: &'t str,
    best_lexical: f64,
) -> Option<&'t str> {
    let word = specifics::negation(text)?;
    let said = row.units[..row.sentence_units].iter().any(|&u| {
        specifics::negation(&corpus.texts[u]).is_some()
            && corpus.coverage(s, &corpus.stems[u]).map_or(0.0, f64::from)
                >= NEGATION_NEARBY * best_lexical
    });
    (!said).then_some(word)
}

/// F1 of the two texts' stem sets (unweighted, as in SQuAD's token F1).
fn token_f1(corpus: &Corpus, a: usize, b: usize) -> f64 {
    let (x, y) = (&corpus.stems[a], &corpus.stems[b]);
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let common = x.iter().filter(|h| y.binary_search(h).is_ok()).count() as f64;
    if common == 0.0 {
        return 0.0;
    }
    let (p, r) = (common / x.len() as f64, common / y.len() as f64);
    2.0 * p * r / (p + r)
}

/// Phrases by which a query points at the text supplied with it.
const POINTERS: &[&str] = &[
    "following",
    "above",
    "below",
    "this text",
    "the text",
    "this document",
    "the document",
    "this passage",
    "the passage",
    "this article",
    "the article",
    "given",
    "provided",
    "the context",
    "this context",
];

fn refers_to_supplied_text(query: &str) -> bool {
    let lower = query.to_lowercase();
    POINTERS.iter().any(|p| count_phrase(&lower, p) > 0)
}

/// Concrete vs. vague, from the response alone: share of content words, distinct terms,
/// numbers and names per sentence, and hedging phrases.
fn specificity(
    response: &str,
    sentences: usize,
    specifics: usize,
    content_words: usize,
    distinct_stems: usize,
) -> f64 {
    let words = response
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .count();
    if words == 0 {
        return 0.0;
    }
    let density = (content_words as f64 / words as f64 / 0.6).min(1.0);
    let diversity = if content_words == 0 {
        0.0
    } else {
        distinct_stems as f64 / content_words as f64
    };
    let n_sentences = sentences.max(1) as f64;
    let concrete = specifics as f64 / n_sentences;
    let lower = response.to_lowercase();
    let hedges = HEDGES
        .iter()
        .map(|h| count_phrase(&lower, h))
        .sum::<usize>() as f64
        / n_sentences;
    let score = 0.35 * density + 0.15 * diversity + 0.5 * (1.0 - (-concrete).exp()) - 0.4 * hedges;
    score.clamp(0.0, 1.0)
}

/// Occurrences of `phrase` in `text` at word boundaries.
fn count_phrase(text: &str, phrase: &str) -> usize {
    let bytes = text.as_bytes();
    text.match_indices(phrase)
        .filter(|&(i, _)| {
            let before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let end = i + phrase.len();
            let after = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
            before && after
        })
        .count()
}
