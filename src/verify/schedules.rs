//! Checks of the schedules, E6 and E7 (notes 000, 003).

use crate::stats::Check;
use crate::{NoiseSchedule, Result};

/// The threshold on sqrt(alpha_bar_t) below which we call x_t "near pure noise": less than a
/// tenth of the signal's amplitude is left.
pub const NOISE_THRESHOLD: f64 = 0.1;

/// E6: the linear schedule of Ho et al. 2020 (beta from 1e-4 to 0.02, T = 1000).
pub fn e6() -> Result<Vec<Check>> {
    let s = NoiseSchedule::linear(1000)?;
    // numpy: np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[-1] = 4.035829765375676e-05,
    // and [499] = 0.07858724288177824.
    Ok(vec![
        Check::close("E6", "linear: beta_1", s.beta(1), 1e-4, 0.0).exact(),
        Check::close("E6", "linear: beta_T", s.beta(1000), 0.02, 0.0).exact(),
        Check::close("E6", "linear: alpha_bar_T (4 significant digits)", s.alpha_bar(1000), 4.0358e-5, 0.5e-9).exact(),
        Check::rel_close("E6", "linear: alpha_bar_T vs numpy cumprod", s.alpha_bar(1000), 4.035829765375676e-05, 1e-12)
            .exact(),
        Check::rel_close("E6", "linear: alpha_bar_500 vs numpy cumprod", s.alpha_bar(500), 0.07858724288177824, 1e-12)
            .exact(),
    ])
}

/// E7: the cosine schedule of Nichol and Dhariwal 2021 and the claim of note 000 that the linear
/// schedule reaches near pure noise early while cosine keeps information longer.
pub fn e7() -> Result<Vec<Check>> {
    let (lin, cos) = (NoiseSchedule::linear(1000)?, NoiseSchedule::cosine(1000)?);
    // Nichol and Dhariwal 2021, Eq. 17: alpha_bar(t) = f(t) / f(0) wherever no beta was clipped.
    let f = |t: f64| ((t / 1000.0 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
    let worst = (1..=990).map(|t| (cos.alpha_bar(t) - f(t as f64) / f(0.0)).abs()).fold(0.0, f64::max);
    let (frac_lin, frac_cos) = (lin.fraction_below(NOISE_THRESHOLD), cos.fraction_below(NOISE_THRESHOLD));
    Ok(vec![
        Check::close("E7", "cosine: last beta clipped to 0.999", cos.beta(1000), 0.999, 0.0).exact(),
        Check::close("E7", "cosine: alpha_bar_t - f(t)/f(0), max over t <= 990", worst, 0.0, 1e-12).exact(),
        // numpy with the formula above: cumprod at t = 500 is 0.4938435904406382.
        Check::rel_close("E7", "cosine: alpha_bar_500 vs numpy", cos.alpha_bar(500), 0.4938435904406382, 1e-12).exact(),
        // numpy: np.mean(np.sqrt(alpha_bar) < 0.1) is 0.327 for linear and 0.065 for cosine (T = 1000).
        Check::close("E7", "linear: fraction of steps with sqrt(alpha_bar) < 0.1", frac_lin, 0.327, 0.0005).exact(),
        Check::close("E7", "cosine: fraction of steps with sqrt(alpha_bar) < 0.1", frac_cos, 0.065, 0.0005).exact(),
        Check::holds("E7", "linear spends more steps near pure noise than cosine", frac_lin > 2.0 * frac_cos).exact(),
    ])
}
