//! How eval's own small networks (the judge, the feature network) are kept in a folder: the
//! crate's checkpoint (checkpoint.json and weights.safetensors, written atomically) with what
//! their training was as the checkpoint's training config, so that a network of an older recipe
//! is recognised and not used.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::checkpoint::{self, Checkpoint};
use crate::Result;

/// Saves the variables `varmap` of the network `name` and `info` (how it was trained, with the
/// seed `seed`) into `dir`, atomically, replacing what is there.
pub fn save(dir: &Path, name: &str, seed: u64, varmap: &VarMap, info: &impl Serialize) -> Result<()> {
    let meta = Checkpoint::new(0, seed, &name, info)?;
    checkpoint::save(dir, &meta, varmap, None).map(|_| ())
}

/// The network saved in `dir` by [`save`], built by `build` (f32, on `device`) and given the
/// saved weights, with the `info` saved beside it; None when the folder holds none, or when
/// `current(&info)` says it was trained by another recipe.
pub fn load<M, I: DeserializeOwned>(
    dir: &Path,
    device: &Device,
    current: impl Fn(&I) -> bool,
    build: impl FnOnce(VarBuilder) -> Result<M>,
) -> Result<Option<(M, I)>> {
    // checkpoint.json is read once: the weights read are those of the save it names.
    let Some(manifest) = checkpoint::Manifest::read(dir)? else { return Ok(None) };
    let info: I = manifest.checkpoint().training_config()?;
    if !current(&info) {
        return Ok(None);
    }
    let varmap = VarMap::new();
    let model = build(VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    let weights = checkpoint::read_weights(dir, &manifest, &Device::Cpu)?;
    checkpoint::assign(&varmap, &weights, &dir.join(checkpoint::WEIGHTS_FILE))?;
    Ok(Some((model, info)))
}
