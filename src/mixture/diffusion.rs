//! The diffused mixture: exact q(x_t), score, optimal eps, E[x_0 | x_t] and the exact reverse
//! conditional q(x_{t-1} | x_t) (Ho et al. 2020, Eq. 4 and 1-2; notes 003 and 004).
//!
//! All of them rest on one fact: if x ~ N(m, v I) and y = a x + sqrt(n) eps with eps ~ N(0, I),
//! then y ~ N(a m, (a^2 v + n) I), and x given y is N(m + g (y - a m), v n / (a^2 v + n) I) with the
//! gain g = a v / (a^2 v + n). Applied to each component of a mixture it gives a mixture.

use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};

use super::numeric::{cumulative, log_normal, pick, softmax, sq_dist};
use super::GaussianMixture;
use crate::rng::Rng;
use crate::schedule::NoiseSchedule;
use crate::Result;

impl GaussianMixture {
    /// The exact marginal q(x_t) = integral of q(x_t | x_0) q(x_0) dx_0 (Ho et al. 2020, Eq. 4; note 003),
    /// for t in 0..=T (t = 0 gives q(x_0) itself):
    ///
    /// $$q(x_t) = \sum_k w_k\, \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,\mu_k,\ (\bar\alpha_t s_k^2 + 1 - \bar\alpha_t) I\big)$$
    ///
    /// Evaluating it costs O(K d) per point: for a data set of N points, N terms (note 003's
    /// "intractable" integral, E13, is a sum that grows with the data set).
    ///
    /// ```
    /// use ddpm::{mixture::GaussianMixture, NoiseSchedule};
    /// let s = NoiseSchedule::linear(1000).unwrap();
    /// let q_t = GaussianMixture::gaussian_1d(1.0, 0.0).unwrap().marginal(&s, 10).unwrap();
    /// assert!((q_t.stds()[0].powi(2) - (1.0 - s.alpha_bar(10))).abs() < 1e-15);
    /// ```
    pub fn marginal(&self, schedule: &NoiseSchedule, t: usize) -> Result<GaussianMixture> {
        check_t_or_zero(schedule, t)?;
        if t == 0 {
            return Ok(self.clone());
        }
        let (alpha_bar, sqrt_alpha_bar) = (schedule.alpha_bar(t), schedule.sqrt_alpha_bar(t));
        let means = self.means.iter().map(|mu| mu.iter().map(|m| sqrt_alpha_bar * m).collect()).collect();
        let stds = self.stds.iter().map(|s| (alpha_bar * s * s + (1.0 - alpha_bar)).sqrt()).collect();
        Ok(GaussianMixture { weights: self.weights.clone(), means, stds })
    }

    /// The exact score of the marginal, the gradient of [`Self::marginal`]'s log-density at x_t
    /// (Song et al. 2021; note 003), t in 0..=T (t = 0 needs every s_k > 0):
    ///
    /// $$\nabla_{x_t} \log q(x_t) = \sum_k r_k(x_t)\, \frac{\sqrt{\bar\alpha_t}\,\mu_k - x_t}{\bar\alpha_t s_k^2 + 1 - \bar\alpha_t}$$
    ///
    /// with r_k(x_t) the posterior probability of component k given x_t.
    pub fn score(&self, schedule: &NoiseSchedule, t: usize, x_t: &[f64]) -> Result<Vec<f64>> {
        check_t_or_zero(schedule, t)?;
        self.check_point("x_t", x_t)?;
        self.marginal(schedule, t)?.grad_log_density(x_t)
    }

    /// The optimal eps-predictor, the minimiser of L_simple (Ho et al. 2020, Eq. 14; note 004):
    /// eps*(x_t, t) = E[eps | x_t] with x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.
    /// Within component k, eps and x_t are jointly Gaussian with Cov(eps, x_t) = sqrt(1 - alpha_bar_t) I, so
    ///
    /// $$\epsilon^*(x_t) = \sum_k r_k(x_t)\, \frac{\sqrt{1-\bar\alpha_t}}{\bar\alpha_t s_k^2 + 1 - \bar\alpha_t}
    ///   \big(x_t - \sqrt{\bar\alpha_t}\,\mu_k\big)$$
    ///
    /// computed from the responsibilities directly, not from the score, so that the identity
    /// score = -eps* / sqrt(1 - alpha_bar_t) (E24) is a check. t in 1..=T.
    pub fn eps_star(&self, schedule: &NoiseSchedule, t: usize, x_t: &[f64]) -> Result<Vec<f64>> {
        schedule.check_t(t)?;
        self.check_point("x_t", x_t)?;
        let alpha_bar = schedule.alpha_bar(t);
        let (sqrt_alpha_bar, sqrt_one_minus_alpha_bar) =
            (schedule.sqrt_alpha_bar(t), schedule.sqrt_one_minus_alpha_bar(t));
        let d = self.dim();
        let mut log_resp = Vec::with_capacity(self.n_components());
        let mut eps_given_k = Vec::with_capacity(self.n_components());
        for ((w, mu), s) in self.weights.iter().zip(&self.means).zip(&self.stds) {
            let xt_var = alpha_bar * s * s + (1.0 - alpha_bar);
            let diff: Vec<f64> = x_t.iter().zip(mu).map(|(x, m)| x - sqrt_alpha_bar * m).collect();
            log_resp.push(w.ln() + log_normal(diff.iter().map(|v| v * v).sum(), xt_var, d));
            eps_given_k.push(diff.into_iter().map(|v| sqrt_one_minus_alpha_bar / xt_var * v).collect::<Vec<f64>>());
        }
        let resp = softmax(log_resp, "x_t")?;
        let mut eps = vec![0.0; d];
        for (r, e_k) in resp.iter().zip(&eps_given_k) {
            eps.iter_mut().zip(e_k).for_each(|(e, v)| *e += r * v);
        }
        Ok(eps)
    }

    /// The exact posterior over the data, q(x_0 | x_t) = q(x_t | x_0) q(x_0) / q(x_t), a mixture
    /// (what an ideal denoiser averages over), t in 1..=T. Component k has weight proportional to
    /// w_k N(x_t; sqrt(alpha_bar_t) mu_k, (alpha_bar_t s_k^2 + 1 - alpha_bar_t) I) and is
    ///
    /// $$\mathcal N\Big(\mu_k + \frac{\sqrt{\bar\alpha_t}\,s_k^2}{\bar\alpha_t s_k^2 + 1-\bar\alpha_t}(x_t - \sqrt{\bar\alpha_t}\,\mu_k),\
    ///   \frac{s_k^2 (1-\bar\alpha_t)}{\bar\alpha_t s_k^2 + 1-\bar\alpha_t} I\Big)$$
    pub fn posterior_x0(&self, schedule: &NoiseSchedule, t: usize, x_t: &[f64]) -> Result<GaussianMixture> {
        schedule.check_t(t)?;
        self.check_point("x_t", x_t)?;
        let alpha_bar = schedule.alpha_bar(t);
        self.condition(alpha_bar, 1.0 - alpha_bar, x_t)
    }

    /// The optimal x_0-predictor E[x_0 | x_t], the mean of [`Self::posterior_x0`] (t in 1..=T).
    /// With the optimal eps it satisfies x_t = sqrt(alpha_bar_t) E[x_0 | x_t] + sqrt(1 - alpha_bar_t) eps*
    /// (Ho et al. 2020, Eq. 4 in expectation; note 004).
    pub fn x0_mean(&self, schedule: &NoiseSchedule, t: usize, x_t: &[f64]) -> Result<Vec<f64>> {
        Ok(self.posterior_x0(schedule, t, x_t)?.mean())
    }

    /// The exact reverse conditional (note 003: "intractable" in general, exact here), t in 1..=T:
    ///
    /// $$q(x_{t-1} \mid x_t) = \frac{q(x_t \mid x_{t-1})\, q(x_{t-1})}{q(x_t)}$$
    ///
    /// With q(x_{t-1}) = sum_k w_k N(m_k, v_k I) (the [`Self::marginal`] at t - 1) it is a mixture:
    /// component k has weight proportional to w_k N(x_t; sqrt(alpha_t) m_k, (alpha_t v_k + beta_t) I),
    /// variance (1/v_k + alpha_t/beta_t)^{-1} = v_k beta_t / (alpha_t v_k + beta_t) and mean
    ///
    /// $$m_k + \frac{\sqrt{\alpha_t}\, v_k}{\alpha_t v_k + \beta_t}\big(x_t - \sqrt{\alpha_t}\, m_k\big)$$
    ///
    /// (a point mass, v_k = 0, stays the point m_k). Cost O(K d). Compare with the Gaussian
    /// p_theta(x_{t-1} | x_t) of Ho et al. 2020, Eq. 1 via [`Self::non_gaussianity_1d`] (E9).
    pub fn reverse(&self, schedule: &NoiseSchedule, t: usize, x_t: &[f64]) -> Result<GaussianMixture> {
        schedule.check_t(t)?;
        self.check_point("x_t", x_t)?;
        self.marginal(schedule, t - 1)?.condition(schedule.alpha(t), schedule.beta(t), x_t)
    }

    /// `n` draws from the exact reverse chain, an (n, d) array: x_T ~ q(x_T) (the exact marginal,
    /// not N(0, I)), then x_{t-1} ~ q(x_{t-1} | x_t) for t = T, ..., 1 (Ho et al. 2020, Eq. 1 with
    /// the true reverse conditionals; note 003). The result is distributed as q(x_0) for any
    /// schedule, short or long. For a one-point data set it returns that point exactly (E8).
    /// Cost O(n T K d).
    pub fn ancestral_sample_exact(&self, schedule: &NoiseSchedule, rng: &mut Rng, n: usize) -> Result<Array2<f64>> {
        let steps = schedule.steps();
        let mut x = self.marginal(schedule, steps)?.sample(rng, n);
        let mut x_t = vec![0.0; self.dim()];
        let mut mean = vec![0.0; self.dim()];
        for t in (1..=steps).rev() {
            let prev = self.marginal(schedule, t - 1)?;
            let (alpha, beta) = (schedule.alpha(t), schedule.beta(t));
            for mut row in x.rows_mut() {
                x_t.iter_mut().zip(row.iter()).for_each(|(a, b)| *a = *b);
                let weights = softmax(prev.condition_log_weights(alpha, beta, &x_t), "x_t")?;
                let k = pick(&cumulative(&weights), rng);
                let var = prev.condition_component(k, alpha, beta, &x_t, &mut mean);
                for (x, m) in row.iter_mut().zip(&mean) {
                    let z: f64 = StandardNormal.sample(rng);
                    *x = m + var.sqrt() * z;
                }
            }
        }
        Ok(x)
    }

    /// The posterior of x ~ self given y = a x + sqrt(noise_var) eps, with a^2 = `a_sq` and
    /// noise_var > 0: a mixture, component k as in the module comment.
    fn condition(&self, a_sq: f64, noise_var: f64, y: &[f64]) -> Result<GaussianMixture> {
        let weights = softmax(self.condition_log_weights(a_sq, noise_var, y), "x_t")?;
        let mut means = Vec::with_capacity(self.n_components());
        let mut stds = Vec::with_capacity(self.n_components());
        for k in 0..self.n_components() {
            let mut mean = vec![0.0; self.dim()];
            stds.push(self.condition_component(k, a_sq, noise_var, y, &mut mean).sqrt());
            means.push(mean);
        }
        Ok(GaussianMixture { weights, means, stds })
    }

    /// ln w_k + ln N(y; a mu_k, (a^2 s_k^2 + noise_var) I) for each k: the unnormalised log-weights
    /// of the posterior given y.
    fn condition_log_weights(&self, a_sq: f64, noise_var: f64, y: &[f64]) -> Vec<f64> {
        let a = a_sq.sqrt();
        let d = self.dim();
        let mut scaled = vec![0.0; d];
        (0..self.n_components())
            .map(|k| {
                scaled.iter_mut().zip(&self.means[k]).for_each(|(s, m)| *s = a * m);
                let v = self.stds[k] * self.stds[k];
                self.weights[k].ln() + log_normal(sq_dist(y, &scaled), a_sq * v + noise_var, d)
            })
            .collect()
    }

    /// Component k of the posterior given y: writes its mean m_k + g (y - a m_k) into `mean` and
    /// returns its variance v_k noise_var / (a^2 v_k + noise_var), with g = a v_k / (a^2 v_k + noise_var).
    fn condition_component(&self, k: usize, a_sq: f64, noise_var: f64, y: &[f64], mean: &mut [f64]) -> f64 {
        let a = a_sq.sqrt();
        let v = self.stds[k] * self.stds[k];
        let denom = a_sq * v + noise_var;
        let gain = a * v / denom;
        for ((out, &m), &yj) in mean.iter_mut().zip(&self.means[k]).zip(y) {
            *out = m + gain * (yj - a * m);
        }
        v * noise_var / denom
    }
}

/// `Ok(())` when t is in 0..=T (the marginal is defined at t = 0 too).
fn check_t_or_zero(schedule: &NoiseSchedule, t: usize) -> Result<()> {
    if t > schedule.steps() {
        return Err(invalid!("t must be in 0..={}, got {t}", schedule.steps()));
    }
    Ok(())
}
