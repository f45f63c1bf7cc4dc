//! Weights and thresholds of `faultmap score`, read from TOML.
//!
//! The defaults are the commented file `default_config.toml`, compiled in: `--print-config`
//! prints it verbatim, and a user's file only needs the keys it changes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The commented default configuration, as printed by `faultmap score --print-config`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default_config.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    pub weights: Weights,
    pub evidence: EvidenceParams,
    #[serde(rename = "final")]
    pub final_score: FinalParams,
    pub gates: Gates,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub attribution: f64,
    pub relevance: f64,
    pub specificity: f64,
    pub context_quality: f64,
    pub reference: f64,
    /// Used only with `--consistency` (the scorer is absent otherwise).
    pub consistency: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceParams {
    pub lexical_share: f64,
    pub cosine_floor: f64,
    pub cosine_full: f64,
    pub unsupported_penalty: f64,
    pub sentence_support: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalParams {
    pub attribution_cap_margin: f64,
    pub relevance_floor: f64,
    /// Share of the context term that is `exp(-U / unsupported_scale)`, U the amount of response
    /// content the context lacks; the rest is attribution.
    pub unsupported_weight: f64,
    /// Amount of unsupported content (IDF-weighted words) at which that part is 1/e.
    pub unsupported_scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    pub unsupported_reject: u32,
    pub hallucination_attribution: f64,
    pub hallucination_specificity: f64,
    /// REJECT below this attribution (unsupported); 0 turns the gate off.
    pub reject_attribution: f64,
    pub weak_attribution: f64,
    pub vague_specificity: f64,
    pub poor_context_quality: f64,
    pub off_topic_relevance: f64,
    pub max_disagreement: f64,
    pub accept_final: f64,
    /// Where consistency leans to a failure in `disagreement` (with `--consistency` only).
    pub low_consistency: f64,
    /// The judge's own score a "faithful" verdict needs to accept (with `--judge` only).
    pub judge_accept_score: f64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        // The compiled-in file is tested to parse; see `defaults_parse_and_validate`.
        parse(DEFAULT_CONFIG_TOML, "<default config>").expect("the default config parses")
    }
}

/// Parses a full configuration document (every key present) and checks its ranges.
fn parse(text: &str, source: &str) -> Result<ScoreConfig> {
    let config: ScoreConfig = toml::from_str(text).map_err(|e| toml_error(source, text, &e))?;
    config.validate(source)?;
    Ok(config)
}

fn toml_error(source: &str, text: &str, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    Error::input(source, line, None, e.message().to_string())
}

impl ScoreConfig {
    /// Reads `path`: a TOML file with any subset of the keys; the rest keep their defaults.
    pub fn from_file(path: &str) -> Result<ScoreConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Overlays `text` on the defaults; unknown keys and out-of-range values are errors.
    pub fn from_toml(text: &str, source: &str) -> Result<ScoreConfig> {
        let mut merged: toml::Table = DEFAULT_CONFIG_TOML
            .parse()
            .expect("the default config parses");
        let user: toml::Table = text.parse().map_err(|e| toml_error(source, text, &e))?;
        for (section, value) in user {
            match (merged.get_mut(&section), value) {
                (Some(toml::Value::Table(base)), toml::Value::Table(overrides)) => {
                    for (key, value) in overrides {
                        let name = format!("{section}.{key}");
                        let value = match (base.get(&key), value) {
                            (None, _) => {
                                return Err(Error::input(source, None, Some(&name), "unknown key"))
                            }
                            // `accept_final = 1` means 1.0.
                            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => {
                                toml::Value::Float(i as f64)
                            }
                            (Some(default), value) if default.same_type(&value) => value,
                            (Some(default), value) => {
                                return Err(Error::input(
                                    source,
                                    None,
                                    Some(&name),
                                    format!(
                                        "expected {}, found {}",
                                        default.type_str(),
                                        value.type_str()
                                    ),
                                ))
                            }
                        };
                        base.insert(key, value);
                    }
                }
                (Some(_), _) => {
                    return Err(Error::input(
                        source,
                        None,
                        Some(&section),
                        format!("expected a table `[{section}]`"),
                    ))
                }
                (None, _) => {
                    return Err(Error::input(
                        source,
                        None,
                        Some(&section),
                        "unknown section; expected one of weights, evidence, final, gates",
                    ))
                }
            }
        }
        let config: ScoreConfig = merged.try_into().map_err(|e: toml::de::Error| {
            Error::input(source, None, None, e.message().to_string())
        })?;
        config.validate(source)?;
        Ok(config)
    }

    /// The configuration as TOML (for `--write-config`), with `header` as leading comments.
    pub fn to_toml(&self, header: &str) -> Result<String> {
        let body = toml::to_string(self)
            .map_err(|e| Error::Analysis(format!("cannot write the configuration: {e}")))?;
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&body);
        Ok(out)
    }

    fn validate(&self, source: &str) -> Result<()> {
        let w = &self.weights;
        let e = &self.evidence;
        let f = &self.final_score;
        let g = &self.gates;
        let unit = [
            ("weights.attribution", w.attribution),
            ("weights.relevance", w.relevance),
            ("weights.specificity", w.specificity),
            ("weights.context_quality", w.context_quality),
            ("weights.reference", w.reference),
            ("weights.consistency", w.consistency),
            ("evidence.lexical_share", e.lexical_share),
            ("evidence.unsupported_penalty", e.unsupported_penalty),
            ("evidence.sentence_support", e.sentence_support),
            ("final.attribution_cap_margin", f.attribution_cap_margin),
            ("final.relevance_floor", f.relevance_floor),
            ("final.unsupported_weight", f.unsupported_weight),
            (
                "gates.hallucination_attribution",
                g.hallucination_attribution,
            ),
            (
                "gates.hallucination_specificity",
                g.hallucination_specificity,
            ),
            ("gates.reject_attribution", g.reject_attribution),
            ("gates.weak_attribution", g.weak_attribution),
            ("gates.vague_specificity", g.vague_specificity),
            ("gates.poor_context_quality", g.poor_context_quality),
            ("gates.off_topic_relevance", g.off_topic_relevance),
            ("gates.max_disagreement", g.max_disagreement),
            ("gates.accept_final", g.accept_final),
            ("gates.low_consistency", g.low_consistency),
            ("gates.judge_accept_score", g.judge_accept_score),
        ];
        for (key, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::input(
                    source,
                    None,
                    Some(key),
                    format!("expected a number in [0, 1], found {value}"),
                ));
            }
        }
        if w.attribution + w.relevance + w.specificity + w.context_quality + w.reference <= 0.0 {
            return Err(Error::input(
                source,
                None,
                Some("weights"),
                "expected at least one positive weight",
            ));
        }
        if !(f.unsupported_scale > 0.0 && f.unsupported_scale.is_finite()) {
            return Err(Error::input(
                source,
                None,
                Some("final.unsupported_scale"),
                format!("expected a positive number, found {}", f.unsupported_scale),
            ));
        }
        if !(-1.0..1.0).contains(&e.cosine_floor)
            || e.cosine_full <= e.cosine_floor
            || e.cosine_full > 1.0
        {
            return Err(Error::input(
                source,
                None,
                Some("evidence.cosine_full"),
                format!(
                    "expected -1 <= cosine_floor < cosine_full <= 1, found {} and {}",
                    e.cosine_floor, e.cosine_full
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let c = ScoreConfig::default();
        assert_eq!(c.gates.accept_final, 0.97);
        assert_eq!(c.gates.reject_attribution, 0.56);
        assert_eq!(ScoreConfig::from_toml("", "x").unwrap(), c);
    }

    #[test]
    fn partial_file_overrides_only_its_keys() {
        let c = ScoreConfig::from_toml("[gates]\naccept_final = 0.7\n", "f.toml").unwrap();
        assert_eq!(c.gates.accept_final, 0.7);
        assert_eq!(
            c.gates.weak_attribution,
            ScoreConfig::default().gates.weak_attribution
        );
    }

    #[test]
    fn written_config_reads_back() {
        let mut c = ScoreConfig::default();
        c.gates.accept_final = 0.625;
        let text = c.to_toml("calibrated on x.jsonl\nF1 0.8").unwrap();
        assert!(text.starts_with("# calibrated on x.jsonl\n# F1 0.8\n"));
        assert_eq!(ScoreConfig::from_toml(&text, "w.toml").unwrap(), c);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let e = ScoreConfig::from_toml("[gates]\naccept_finall = 0.7\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("accept_finall"), "{e}");
        let e = ScoreConfig::from_toml("[gates]\naccept_final = 1.7\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("gates.accept_final"), "{e}");
        let e = ScoreConfig::from_toml("[gatez]\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("unknown section"), "{e}");
        let e = ScoreConfig::from_toml("[gates\n", "f.toml").unwrap_err();
        assert!(e.to_string().starts_with("f.toml:1:"), "{e}");
        let e = ScoreConfig::from_toml("[gates]\naccept_final = \"high\"\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("gates.accept_final"), "{e}");
        let c = ScoreConfig::from_toml("[gates]\naccept_final = 1\n", "f.toml").unwrap();
        assert_eq!(c.gates.accept_final, 1.0);
    }
}
