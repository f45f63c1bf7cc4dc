//! `coverage --name-with-llm`: the reported gaps named by a chat model (see
//! [`crate::naming::llm`]). Thin topics keep their keyword names.

use super::{CoverageReport, Gap};
use crate::error::Result;
use crate::naming::llm::{self, Completer, Material, Subject};
use crate::progress::Progress;

impl Gap {
    /// What the model is shown to name this gap.
    fn naming_material(&self) -> Material<'_> {
        Material {
            keyword_name: &self.name,
            keywords: &self.keywords,
            facts: vec![format!(
                "A coverage gap: {} production prompts ({:.1}% of traffic) with no similar test \
                 prompt in the test suite (mean cosine distance to the nearest test {:.2}).",
                self.size,
                100.0 * self.traffic_share,
                self.mean_distance
            )],
            prompts: self
                .representative_prompts
                .iter()
                .map(String::as_str)
                .collect(),
            failures: Vec::new(),
        }
    }
}

impl CoverageReport {
    /// Asks `completer` to name every gap (one call each, all at once). A gap whose call fails
    /// or whose answer is unusable keeps its keyword name. Errs only when the budget refuses
    /// the calls.
    pub fn name_with_llm(&mut self, completer: &dyn Completer, progress: &Progress) -> Result<()> {
        let materials: Vec<Material> = self.gaps.iter().map(Gap::naming_material).collect();
        let outcomes = llm::name_all(completer, Subject::CoverageGap, &materials, progress)?;
        let items = self.gaps.iter_mut().map(|g| (&mut g.name, &mut g.llm));
        self.llm_naming = Some(llm::apply(items, outcomes, completer.model()));
        Ok(())
    }
}
