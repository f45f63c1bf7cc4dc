//! What cosines real paraphrases get from score's embedder, for the `unrelated` check of
//! `score --consistency` (`paraphrases::MIN_COSINE`, docs/score.md).
//!
//! cargo run --release --example paraphrase_cosines [-- FILLER]
//!
//! 22 queries of support and RAG logs, each with 3 paraphrases written as a model asked to
//! "keep every name, number and constraint" would. Positives: a query and its own paraphrase;
//! cross pairs: a query and another query's paraphrase (many on the same topic). The check
//! embeds the queries and paraphrases of a run in one call, and the embedder is fitted on
//! that call, so the figures are given for the set alone and with 300 and 2,000 more queries
//! from FILLER (JSON lines with `prompt`; default: CLINC150 in ../shared/data, skipped when
//! missing), as in larger runs.

use faultmap::analysis::score::scoring_embedder;
use faultmap::embed::Embedder;
use faultmap::matrix::dot;
use faultmap::progress::Progress;

const SETS: &[(&str, [&str; 3])] = &[
    ("How long do I have to request a refund?", ["What is the deadline for requesting a refund?", "Until when can I ask for a refund?", "How much time do I have to ask for my money back?"]),
    ("How do I reset my password?", ["What are the steps to reset my password?", "How can I change my forgotten password?", "What should I do to reset my password?"]),
    ("Can I export my time entries to Excel?", ["Is it possible to export my time entries to Excel?", "Can my time entries be exported to an Excel file?", "Do you support exporting time entries to Excel?"]),
    ("Which plans include single sign-on?", ["Which subscription plans come with single sign-on?", "What plans offer SSO?", "In which plans is single sign-on included?"]),
    ("How do I add a teammate to my workspace?", ["How can I invite a colleague to my workspace?", "What is the way to add a team member to my workspace?", "How do I bring a coworker into my workspace?"]),
    ("Why was my card declined?", ["What caused my card to be declined?", "Why did my card payment get rejected?", "For what reason was my credit card declined?"]),
    ("How do I download last month's invoice as a PDF?", ["How can I get last month's invoice in PDF format?", "Where do I download the PDF of my invoice from last month?", "How do I save last month's invoice as a PDF file?"]),
    ("When will my refund arrive?", ["How soon will I receive my refund?", "When should I expect my refund?", "How long until my refund gets to me?"]),
    ("Does the mobile app work offline?", ["Can I use the mobile app without an internet connection?", "Is the mobile app usable offline?", "Does the phone app function when I'm offline?"]),
    ("How do I cancel my subscription?", ["What are the steps to cancel my subscription?", "How can I end my subscription?", "How do I stop my subscription?"]),
    ("What file types can I attach to a ticket?", ["Which file formats are allowed as ticket attachments?", "What kinds of files can be attached to a ticket?", "Which types of files can I add to a support ticket?"]),
    ("Is there a limit on API requests?", ["Are API requests rate limited?", "Is the number of API requests capped?", "How many API requests am I allowed to make?"]),
    ("How do I change the email address on my account?", ["How can I update my account's email address?", "What is the way to change the email on my account?", "How do I switch my account to a different email address?"]),
    ("Can I change my billing currency?", ["Is it possible to switch the currency I am billed in?", "Can my billing currency be changed?", "Am I able to pay in a different currency?"]),
    ("When will my order ship to Berlin?", ["When is my order going to be shipped to Berlin?", "How soon will my order be sent to Berlin?", "What is the shipping date for my order to Berlin?"]),
    ("How do I turn on two-factor authentication with Google Authenticator?", ["How can I enable two-factor authentication using Google Authenticator?", "What are the steps to set up 2FA with Google Authenticator?", "How do I activate two-factor authentication through Google Authenticator?"]),
    ("My package to Osaka is stuck in transit, what can I do?", ["What should I do if my package to Osaka is stuck in transit?", "My shipment to Osaka has not moved in transit; what are my options?", "How can I fix a package to Osaka that is stuck in transit?"]),
    ("Why did the Pro plan bill go up?", ["Why has my Pro plan bill increased?", "What made the Pro plan charge higher?", "Why am I paying more for the Pro plan now?"]),
    ("what expression would i use to say i love you if i were an italian", ["How do I say 'I love you' in Italian?", "What is the Italian phrase for 'I love you'?", "If I were Italian, how would I express 'I love you'?"]),
    ("What is the maximum file size for uploads on the free plan, and can I increase it?", ["On the free plan, how big can an uploaded file be, and is there a way to raise that limit?", "What's the upload size limit for free plan users, and can it be increased?", "How large may uploads be on the free plan, and can I get a higher limit?"]),
    ("Summarize the following document in three bullet points.", ["Give a three-bullet summary of the following document.", "Write a summary of the document below in 3 bullet points.", "Condense the following document into three bullet points."]),
    ("Who directed the movie Zodiac and when was it released?", ["Which director made Zodiac, and in what year did it come out?", "Who was the director of Zodiac, and what is its release date?", "Zodiac: who directed it and when was it released?"]),
];

const THRESHOLDS: [f32; 5] = [0.05, 0.1, 0.15, 0.2, 0.3];

fn filler(path: &str, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_string))
        .take(n)
        .collect()
}

/// (positive cosines, cross cosines) with `extra` more texts in the call.
fn cosines(extra: &[String]) -> (Vec<f32>, Vec<f32>) {
    let mut texts: Vec<&str> = Vec::new();
    for (query, paraphrases) in SETS {
        texts.push(query);
        texts.extend(paraphrases);
    }
    texts.extend(extra.iter().map(String::as_str));
    let m = scoring_embedder(256, 42)
        .embed(&texts, &Progress::hidden())
        .expect("the built-in embedder does not fail");
    let (mut positive, mut cross) = (Vec::new(), Vec::new());
    for i in 0..SETS.len() {
        for j in 0..SETS.len() {
            for k in 0..3 {
                let c = dot(m.row(4 * i), m.row(4 * j + 1 + k));
                if i == j {
                    positive.push(c);
                } else {
                    cross.push(c);
                }
            }
        }
    }
    positive.sort_by(f32::total_cmp);
    cross.sort_by(f32::total_cmp);
    (positive, cross)
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/clinc150/all.jsonl".into());
    println!("| texts in the call | paraphrases: median, min | cross pairs: median, p95 | paraphrases below / cross pairs at or above each threshold |");
    println!("|---|---|---|---|");
    for n in [0, 300, 2_000] {
        let extra = filler(&path, n);
        if extra.len() < n {
            continue;
        }
        let (positive, cross) = cosines(&extra);
        let by_threshold: Vec<String> = THRESHOLDS
            .iter()
            .map(|&t| {
                let dropped = positive.iter().filter(|&&c| c < t).count();
                let kept = cross.iter().filter(|&&c| c >= t).count();
                format!(
                    "{t}: {dropped}/{}, {:.1}%",
                    positive.len(),
                    100.0 * kept as f64 / cross.len() as f64
                )
            })
            .collect();
        println!(
            "| {} | {:.2}, {:.2} | {:.2}, {:.2} | {} |",
            4 * SETS.len() + n,
            quantile(&positive, 0.5),
            positive[0],
            quantile(&cross, 0.5),
            quantile(&cross, 0.95),
            by_threshold.join("; ")
        );
    }
}
