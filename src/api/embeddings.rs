//! `POST {base}/embeddings`, batched, cached and run with bounded concurrency.

use super::{Budget, Cache, Client};
use crate::error::{Error, Result};
use crate::progress::Progress;
use serde_json::{json, Value};
use std::collections::HashMap;

const KIND: &str = "embeddings";
const PATH: &str = "embeddings";

/// Embeddings of `texts` from `model`, one vector per text as the server returns it (not
/// normalized). Empty texts are not sent (servers reject them) and get an empty vector.
/// Cached vectors are reused and every fetched batch is cached as soon as it arrives, so a
/// rerun after a failure requests only what is missing. The budget is printed and checked
/// before the first request.
pub fn embed(
    client: &Client,
    cache: Option<&Cache>,
    model: &str,
    texts: &[&str],
    progress: &Progress,
) -> Result<Vec<Vec<f32>>> {
    let config = client.config();
    let endpoint = config.shown_endpoint(PATH);
    let key_of = |text: &str| super::cache::key(&[&endpoint, model, "{}", text]);
    // Distinct non-empty texts, in first-seen order.
    let mut distinct: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for &t in texts {
        if !t.is_empty() && !seen.contains_key(t) {
            seen.insert(t, distinct.len());
            distinct.push(t);
        }
    }
    let mut vectors: Vec<Option<Vec<f32>>> = distinct
        .iter()
        .map(|t| cache.and_then(|c| c.get_vector(KIND, key_of(t))))
        .collect();
    let missing: Vec<usize> = (0..distinct.len())
        .filter(|&i| vectors[i].is_none())
        .collect();
    let batches: Vec<&[usize]> = missing.chunks(config.embedding_batch.max(1)).collect();
    let budget = Budget {
        calls: batches.len() as u64,
        texts: missing.len() as u64,
        cached: (distinct.len() - missing.len()) as u64,
        tokens: missing
            .iter()
            .map(|&i| Budget::tokens_of(distinct[i]))
            .sum(),
    };
    budget.check(
        &format!("{endpoint} ({model})"),
        config.max_calls,
        config.quiet,
    )?;

    if !batches.is_empty() {
        let bar = progress.bar(missing.len() as u64, "embedding");
        let results = super::pool::map_bounded(
            batches.len(),
            config.max_concurrent,
            1,
            |b| {
                let batch = batches[b];
                let inputs: Vec<&str> = batch.iter().map(|&i| distinct[i]).collect();
                let vs = request(client, model, &inputs)?;
                if let Some(c) = cache {
                    for (&i, v) in batch.iter().zip(&vs) {
                        c.put_vector(KIND, key_of(distinct[i]), v)?;
                    }
                }
                bar.inc(batch.len() as u64);
                Ok(vs)
            },
            || {},
        );
        bar.finish_and_clear();
        for (batch, result) in batches.iter().zip(results) {
            // A batch not started (None) follows a failed one, whose error is returned.
            if let Some(vs) = result.transpose()? {
                for (&i, v) in batch.iter().zip(vs) {
                    vectors[i] = Some(v);
                }
            }
        }
    }
    let vectors: Vec<Vec<f32>> = vectors
        .into_iter()
        .map(|v| v.expect("every batch fetched"))
        .collect();
    Ok(texts
        .iter()
        .map(|t| seen.get(t).map_or_else(Vec::new, |&i| vectors[i].clone()))
        .collect())
}

/// One request: the vectors of `inputs`, in order (the response's `data[].index`).
fn request(client: &Client, model: &str, inputs: &[&str]) -> Result<Vec<Vec<f32>>> {
    let body = json!({ "model": model, "input": inputs });
    let response = client.post(PATH, &body)?;
    let bad = |message: String| Error::Api {
        endpoint: client.config().shown_endpoint(PATH),
        message: client.config().redact(&message),
    };
    parse(&response, inputs.len()).map_err(bad)
}

/// `data[].embedding` ordered by `data[].index`; exactly `n` vectors of one dimension.
fn parse(response: &Value, n: usize) -> std::result::Result<Vec<Vec<f32>>, String> {
    let data = response
        .get("data")
        .and_then(Value::as_array)
        .ok_or("expected a `data` array in the response")?;
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (pos, item) in data.iter().enumerate() {
        let index = match item.get("index") {
            Some(i) => {
                i.as_u64()
                    .ok_or(format!("data[{pos}].index is not an integer"))? as usize
            }
            None => pos,
        };
        let values = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or(format!("data[{pos}].embedding is not an array of numbers"))?;
        let v: Vec<f32> = values
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()
            .ok_or(format!("data[{pos}].embedding holds a non-number"))?;
        let slot = out.get_mut(index).ok_or(format!(
            "data[{pos}].index {index} is out of range for {n} inputs"
        ))?;
        if slot.replace(v).is_some() {
            return Err(format!("index {index} appears twice in `data`"));
        }
    }
    let out: Vec<Vec<f32>> = out
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or(format!("no embedding for input {i} of {n}")))
        .collect::<std::result::Result<_, _>>()?;
    let dims = out.first().map_or(0, Vec::len);
    if dims == 0 || out.iter().any(|v| v.len() != dims) {
        return Err("embeddings in one response differ in length or are empty".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_orders_by_index() {
        let r = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ]});
        assert_eq!(parse(&r, 2).unwrap(), vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(parse(&r, 3).is_err());
        assert!(parse(
            &json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}),
            2
        )
        .is_err());
        assert!(parse(&json!({"error": "x"}), 1).is_err());
    }
}
