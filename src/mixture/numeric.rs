//! Small numeric helpers of the mixture: Gaussian log-densities, log-sum-exp and sampling a component.

use rand::Rng as _;

use crate::rng::Rng;
use crate::Result;

/// ln N(x; mu, var I) in d dimensions from ||x - mu||^2: -(d ln(2 pi var) + ||x - mu||^2 / var) / 2.
pub(super) fn log_normal(sq_dist: f64, var: f64, d: usize) -> f64 {
    -0.5 * (d as f64 * (2.0 * std::f64::consts::PI * var).ln() + sq_dist / var)
}

pub(super) fn sq_dist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// ln sum_k exp(v_k), shifted by the largest term so that nothing overflows.
pub(super) fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + v.iter().map(|a| (a - max).exp()).sum::<f64>().ln()
}

/// exp(v_k) / sum_j exp(v_j), computed stably; an error if every term is -inf (x too far away).
pub(super) fn softmax(mut v: Vec<f64>, name: &str) -> Result<Vec<f64>> {
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return Err(invalid!(
            "{name} is so far from every component that all log-weights are {max}; use a point closer to the data"
        ));
    }
    let mut total = 0.0;
    for a in v.iter_mut() {
        *a = (*a - max).exp();
        total += *a;
    }
    v.iter_mut().for_each(|a| *a /= total);
    Ok(v)
}

/// Running sums of the weights, for [`pick`].
pub(super) fn cumulative(weights: &[f64]) -> Vec<f64> {
    weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// A component index drawn with probability proportional to the weights behind `cum`. The uniform
/// u lies in [0, total), so a component of weight 0 is never picked.
pub(super) fn pick(cum: &[f64], rng: &mut Rng) -> usize {
    let u = rng.random::<f64>() * cum[cum.len() - 1];
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}
