// Independent forward pass of all-MiniLM-L6-v2 with candle-transformers' BertModel.
// Usage: crosscheck MODEL_DIR IDS_JSON > OUT_JSON
// IDS_JSON: [[101, ..., 102], ...] (one list of token ids per sentence, special tokens included).
// Output: [[f32; 384], ...] mean-pooled (over the given tokens) and L2-normalized, in f32.
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let cfg: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let dev = Device::Cpu;
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &dev)? };
    let model = BertModel::load(vb, &cfg)?;
    let ids: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(&args[2])?)?;
    let mut out: Vec<Vec<f32>> = Vec::new();
    for seq in ids {
        let n = seq.len();
        let input = Tensor::new(seq.as_slice(), &dev)?.unsqueeze(0)?;
        let tt = input.zeros_like()?;
        let mask = input.ones_like()?;
        let h = model.forward(&input, &tt, Some(&mask))?; // (1, n, 384)
        let mean = (h.sum(1)? / n as f64)?.squeeze(0)?;
        let norm = mean.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        let v: Vec<f32> = (mean / norm as f64)?.to_vec1()?;
        out.push(v);
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
