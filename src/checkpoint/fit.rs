//! Does a set of tensors fit a model? Every missing, extra, mis-shaped or mis-typed tensor, named.

use crate::{Error, Result};
use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// At most this many problems are spelled out in one message; the rest are counted.
const MAX_LISTED: usize = 8;

/// What one tensor must be: its shape and, where known, its dtype.
pub(super) struct Spec {
    pub shape: Vec<usize>,
    pub dtype: Option<DType>,
}

impl Spec {
    pub(super) fn of(tensor: &Tensor) -> Self {
        Spec { shape: tensor.dims().to_vec(), dtype: Some(tensor.dtype()) }
    }
}

/// Every difference between what `owner` (e.g. "the model") `expected` and what was `found`,
/// in name order, as sentences.
pub(super) fn problems(expected: &BTreeMap<String, Spec>, found: &BTreeMap<String, Spec>, owner: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, want) in expected {
        let Some(got) = found.get(name) else {
            out.push(format!("missing tensor `{name}` ({owner} expects shape {:?})", want.shape));
            continue;
        };
        if got.shape != want.shape {
            out.push(format!("tensor `{name}` has shape {:?} but {owner} expects {:?}", got.shape, want.shape));
        }
        if let (Some(got), Some(want)) = (got.dtype, want.dtype) {
            if got != want {
                out.push(format!("tensor `{name}` is {} but {owner} expects {}", got.as_str(), want.as_str()));
            }
        }
    }
    for (name, got) in found {
        if !expected.contains_key(name) {
            out.push(format!("extra tensor `{name}` (shape {:?}) that {owner} does not have", got.shape));
        }
    }
    out
}

/// "2 problems: first; second", the list cut after [`MAX_LISTED`].
pub(super) fn report(problems: &[String]) -> String {
    let count = match problems.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    let mut listed = problems.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > MAX_LISTED {
        listed += &format!("; and {} more", problems.len() - MAX_LISTED);
    }
    format!("{count}: {listed}")
}

/// Copies `tensors` (read from `path`) into the variables of `varmap`, each onto its
/// variable's device, after checking that they match one for one; on a mismatch no variable
/// is changed.
pub(super) fn assign(varmap: &VarMap, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    // A poisoned lock only means another thread panicked while holding it; the map is intact.
    let vars = varmap.data().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let expected = vars.iter().map(|(n, v)| (n.clone(), Spec::of(v.as_tensor()))).collect();
    let found = tensors.iter().map(|(n, t)| (n.clone(), Spec::of(t))).collect();
    let problems = problems(&expected, &found, "the model");
    if !problems.is_empty() {
        let hint = if vars.is_empty() {
            " (the VarMap is empty: build the model, which creates its variables, before loading)"
        } else {
            ""
        };
        return Err(Error::format(path, format!("does not fit the model{hint}: {}", report(&problems))));
    }
    for (name, var) in vars.iter() {
        let copy = |tensor: &Tensor| tensor.to_device(var.device()).and_then(|t| var.set(&t));
        if let Some(tensor) = tensors.get(name) {
            copy(tensor)
                .map_err(|e| Error::format(path, format!("cannot copy tensor `{name}` into the model: {e}")))?;
        }
    }
    Ok(())
}
