//! What a run will cost before it starts: calls after the cache and roughly how many tokens.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Requests the run will make (cache misses, batched).
    pub calls: u64,
    /// Texts sent.
    pub texts: u64,
    /// Texts answered by the cache.
    pub cached: u64,
    /// Rough input tokens: characters / 4, rounded up.
    pub tokens: u64,
}

impl Budget {
    /// Rough tokens of `text` (characters / 4, rounded up).
    pub fn tokens_of(text: &str) -> u64 {
        (text.chars().count() as u64).div_ceil(4)
    }

    /// Prints the budget on stderr unless `quiet`, and refuses (a usage error, exit 2) when it
    /// is above `max_calls`.
    pub fn check(&self, what: &str, max_calls: Option<u64>, quiet: bool) -> Result<()> {
        if !quiet {
            crate::diag!(
                "{what}: {} API call{} for {} text{} (~{} tokens); {} answered by the cache",
                self.calls,
                if self.calls == 1 { "" } else { "s" },
                self.texts,
                if self.texts == 1 { "" } else { "s" },
                self.tokens,
                self.cached
            );
        }
        match max_calls {
            Some(max) if self.calls > max => Err(Error::Usage(format!(
                "{what}: this run would make {} API calls (~{} tokens), above --max-calls {max}; raise it or narrow the input",
                self.calls, self.tokens
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_above_max_calls() {
        let b = Budget {
            calls: 3,
            texts: 150,
            cached: 0,
            tokens: 900,
        };
        assert!(b.check("embeddings", Some(3), true).is_ok());
        assert!(matches!(
            b.check("embeddings", Some(2), true),
            Err(Error::Usage(_))
        ));
        assert_eq!(Budget::tokens_of("abcde"), 2);
    }
}
