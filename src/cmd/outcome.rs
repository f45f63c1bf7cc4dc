//! `slices`' options for rows that carry no score and no label: the outcome is derived from
//! the row's `reference` (always) or from answers sampled from the LLM (`--sample N`).

use super::common::{unit_interval, EmbedArgs, OutputArgs};
use crate::analysis::outcome::{
    derive, OutcomeConfig, OutcomeSummary, SamplingConfig, DEFAULT_MATCH_THRESHOLD,
};
use crate::api::{ApiArgs, ChatArgs, Llm};
use crate::embed::Embedder;
use crate::error::Result;
use crate::input::{Dataset, Requirements};

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Rows without a score or label")]
pub struct OutcomeArgs {
    /// Cosine at or above which two answers count as the same: a row with a `reference` and no
    /// score or label passes when its response is this close to the reference; a sampled answer
    /// agrees with the response when this close.
    #[arg(long, default_value_t = DEFAULT_MATCH_THRESHOLD, value_name = "X", value_parser = unit_interval)]
    pub match_threshold: f64,
    /// Rows with a response but no score, label or reference: sample N answers per prompt from
    /// the LLM (--llm-model) and score the row by sampling agreement (fails below
    /// --failure-threshold).
    #[arg(long, value_name = "N", value_parser = super::common::whole::<2, 100>)]
    pub sample: Option<u64>,
    /// Temperature of the sampled answers.
    #[arg(long, default_value_t = 1.0, value_name = "T", value_parser = temperature)]
    pub sample_temperature: f64,
}

/// A sampling temperature: a number in [0, 2].
fn temperature(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=2.0).contains(&t) => Ok(t),
        Ok(t) => Err(format!("{t} is outside [0, 2]")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

impl OutcomeArgs {
    /// An outcome on every row, from a score, a label, a reference, or (with --sample) a
    /// response.
    pub fn requirements(&self) -> Requirements {
        Requirements {
            outcome: true,
            outcome_from_reference: true,
            outcome_from_sampling: self.sample.is_some(),
            ..Requirements::default()
        }
    }

    /// The LLM that `--sample` asks (checked before reading the input); `None` without it.
    pub fn llm(&self, chat: &ChatArgs, api: &ApiArgs, quiet: bool) -> Result<Option<Llm>> {
        match self.sample {
            Some(_) => chat.llm(api, "--sample", quiet).map(Some),
            None => Ok(None),
        }
    }

    /// Fills the outcomes of rows without a score or label, embedding answers with the
    /// prompts' embedder (or, when that one only holds the rows' precomputed prompt vectors,
    /// with the default text embedder). Rows left out because their samples failed are reported
    /// on stderr.
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        &self,
        data: &mut Dataset,
        llm: Option<&Llm>,
        embed: &EmbedArgs,
        prompt_embedder: &dyn Embedder,
        failure_threshold: f64,
        skip_invalid: bool,
        seed: u64,
        output: &OutputArgs,
    ) -> Result<Option<OutcomeSummary>> {
        let own = embed.answer_embedder(data, seed)?;
        let embedder = own.as_deref().unwrap_or(prompt_embedder);
        let config = OutcomeConfig {
            match_threshold: self.match_threshold,
            failure_threshold,
            sampling: llm.zip(self.sample).map(|(llm, n)| SamplingConfig {
                llm,
                samples: n as usize,
                temperature: self.sample_temperature,
                skip_invalid,
            }),
        };
        let before: Vec<usize> = data.skipped.iter().map(|s| s.line).collect();
        let summary = derive(data, embedder, &config, &output.progress())?;
        let left_out: Vec<_> = data
            .skipped
            .iter()
            .filter(|s| !before.contains(&s.line))
            .cloned()
            .collect();
        if !left_out.is_empty() {
            // Always shown, even with --quiet: rows were dropped from the analysis.
            crate::diag!(
                "{}: sampled answers failed: {}",
                data.source,
                crate::input::summarize_skipped(&left_out)
            );
        }
        Ok(summary)
    }
}
