//! A Gaussian-mixture data distribution for which every quantity of DDPM is exact (notes 003, 004).
//!
//! $$q(x_0) = \sum_k w_k\, \mathcal N(x_0;\ \mu_k,\ s_k^2 I)$$
//!
//! in any dimension d >= 1, isotropic per component, with s_k >= 0. A component with s_k = 0 is a
//! point mass, so a finite data set {x^(i)} is the mixture of its points with equal weights
//! ([`GaussianMixture::from_points`]). Because a Gaussian pushed through the forward process stays
//! Gaussian, the marginal q(x_t), the score, the optimal eps-predictor and even the reverse
//! conditional q(x_{t-1} | x_t), which note 003 calls intractable, are all mixtures again and can be
//! computed exactly (see the `diffusion` half of this module). Every sum over components is done
//! in f64 with log-sum-exp, so far-away components underflow to weight 0 instead of giving NaN.

mod diffusion;
mod numeric;
mod one_d;

use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};

use crate::rng::Rng;
use crate::Result;
use numeric::{cumulative, log_normal, log_sum_exp, pick, softmax, sq_dist};

/// q(x_0) = sum_k w_k N(mu_k, s_k^2 I): weights (summing to 1), means (each of dimension d) and
/// standard deviations s_k >= 0 (0 for a point mass).
///
/// Mixtures built by [`GaussianMixture::new`] have weights > 0; those returned by
/// [`GaussianMixture::reverse`] and [`GaussianMixture::posterior_x0`] may hold weights that
/// underflowed to exactly 0, kept so that component k still belongs to data point k.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    stds: Vec<f64>,
}

impl GaussianMixture {
    /// The mixture sum_k w_k N(mu_k, s_k^2 I) with `weights` w_k (any finite numbers > 0, normalised
    /// here to sum to 1), `means` mu_k (finite, all of the same dimension d >= 1) and `stds` s_k
    /// (finite, >= 0; 0 is a point mass).
    ///
    /// ```
    /// use ddpm::mixture::GaussianMixture;
    /// let q = GaussianMixture::new(vec![1.0, 3.0], vec![vec![-1.0], vec![1.0]], vec![0.1, 0.2]).unwrap();
    /// assert_eq!(q.weights(), &[0.25, 0.75]);
    /// assert!(GaussianMixture::new(vec![1.0], vec![vec![0.0]], vec![-1.0]).is_err());
    /// ```
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<f64>) -> Result<Self> {
        let k = weights.len();
        if k != means.len() || k != stds.len() {
            return Err(invalid!(
                "weights has {} entries, means {} and stds {}; they must have one entry per component",
                k,
                means.len(),
                stds.len()
            ));
        }
        if k == 0 {
            return Err(invalid!("a Gaussian mixture needs at least one component, got 0"));
        }
        let d = means[0].len();
        if d == 0 {
            return Err(invalid!("means[0] has 0 coordinates; the dimension d must be >= 1"));
        }
        for (i, mean) in means.iter().enumerate() {
            if mean.len() != d {
                return Err(invalid!(
                    "means[{i}] has {} coordinates but means[0] has {d}; all means must have the same dimension",
                    mean.len()
                ));
            }
            if let Some((j, v)) = mean.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(invalid!("means[{i}][{j}] must be finite, got {v}"));
            }
        }
        for (i, &w) in weights.iter().enumerate() {
            if !(w.is_finite() && w > 0.0) {
                return Err(invalid!("weights[{i}] must be finite and > 0, got {w}"));
            }
        }
        for (i, &s) in stds.iter().enumerate() {
            if !(s.is_finite() && s >= 0.0) {
                return Err(invalid!("stds[{i}] must be finite and >= 0, got {s}"));
            }
        }
        // Divide by the largest weight first, so that the sum cannot overflow.
        let w_max = weights.iter().cloned().fold(0.0, f64::max);
        let scaled: Vec<f64> = weights.iter().map(|w| w / w_max).collect();
        let total: f64 = scaled.iter().sum();
        let weights = scaled.iter().map(|w| w / total).collect();
        Ok(GaussianMixture { weights, means, stds })
    }

    /// `modes` equal-weight components N(mu_k, std^2 I) in 2-D with means on a circle of `radius`:
    /// mu_k = radius (cos(2 pi k / modes), sin(2 pi k / modes)), k = 0..modes. The toy data set of
    /// the 2-D notebooks (e.g. `ring(8, 1.0, 0.05)`).
    pub fn ring(modes: usize, radius: f64, std: f64) -> Result<Self> {
        if modes == 0 {
            return Err(invalid!("a ring needs modes >= 1, got 0"));
        }
        if !(radius.is_finite() && radius >= 0.0) {
            return Err(invalid!("radius must be finite and >= 0, got {radius}"));
        }
        let means = (0..modes)
            .map(|k| {
                let angle = 2.0 * std::f64::consts::PI * k as f64 / modes as f64;
                vec![radius * angle.cos(), radius * angle.sin()]
            })
            .collect();
        Self::new(vec![1.0; modes], means, vec![std; modes])
    }

    /// One Gaussian N(mean, std^2) in 1-D (std = 0: the point mass at `mean`).
    pub fn gaussian_1d(mean: f64, std: f64) -> Result<Self> {
        Self::new(vec![1.0], vec![vec![mean]], vec![std])
    }

    /// The empirical distribution of a finite data set, (1/N) sum_i delta(x_0 - x^(i)): one point
    /// mass (std 0) of weight 1/N per point. All points must have the same dimension.
    ///
    /// ```
    /// use ddpm::mixture::GaussianMixture;
    /// let q = GaussianMixture::from_points(&[vec![0.0, 1.0], vec![2.0, 3.0]]).unwrap();
    /// assert_eq!((q.n_components(), q.dim(), q.stds()), (2, 2, &[0.0, 0.0][..]));
    /// ```
    pub fn from_points(points: &[Vec<f64>]) -> Result<Self> {
        Self::new(vec![1.0; points.len()], points.to_vec(), vec![0.0; points.len()])
    }

    /// The notebooks' small 1-D example: 0.5 N(-1, 0.2^2) + 0.5 N(1, 0.2^2), two well-separated
    /// modes at the ends of the data range [-1, 1].
    pub fn bimodal_1d() -> Self {
        GaussianMixture { weights: vec![0.5, 0.5], means: vec![vec![-1.0], vec![1.0]], stds: vec![0.2, 0.2] }
    }

    /// The dimension d of x_0.
    pub fn dim(&self) -> usize {
        self.means[0].len()
    }

    /// K, the number of components.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }

    /// The weights w_k, summing to 1.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The means mu_k, each of dimension d.
    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }

    /// The standard deviations s_k (per coordinate; 0 for a point mass).
    pub fn stds(&self) -> &[f64] {
        &self.stds
    }

    /// `n` independent draws x_0 ~ q(x_0) as an (n, d) array: pick component k with probability
    /// w_k, then x_0 = mu_k + s_k z with z ~ N(0, I).
    pub fn sample(&self, rng: &mut Rng, n: usize) -> Array2<f64> {
        let cum = cumulative(&self.weights);
        let mut out = Array2::zeros((n, self.dim()));
        for mut row in out.rows_mut() {
            let k = pick(&cum, rng);
            for (x, &mu) in row.iter_mut().zip(&self.means[k]) {
                let z: f64 = StandardNormal.sample(rng);
                *x = mu + self.stds[k] * z;
            }
        }
        out
    }

    /// The exact log-density, with log-sum-exp over the components:
    ///
    /// $$\log q(x) = \log \sum_k w_k\, (2\pi s_k^2)^{-d/2} \exp\Big(-\frac{\lVert x-\mu_k\rVert^2}{2 s_k^2}\Big)$$
    ///
    /// An error if x has the wrong dimension or if some s_k = 0 (a point mass has no density).
    ///
    /// ```
    /// use ddpm::mixture::GaussianMixture;
    /// let q = GaussianMixture::gaussian_1d(0.0, 1.0).unwrap();
    /// let expected = -0.5 * (2.0 * std::f64::consts::PI).ln();
    /// assert!((q.log_density(&[0.0]).unwrap() - expected).abs() < 1e-15);
    /// ```
    pub fn log_density(&self, x: &[f64]) -> Result<f64> {
        self.check_point("x", x)?;
        self.check_density("log_density")?;
        Ok(log_sum_exp(&self.log_joint(x)))
    }

    /// The gradient of the log-density (the score of q itself), the responsibility-weighted sum
    /// of the component scores:
    ///
    /// $$\nabla_x \log q(x) = \sum_k r_k(x)\, \frac{\mu_k - x}{s_k^2}, \qquad
    ///   r_k(x) = \frac{w_k \mathcal N(x; \mu_k, s_k^2 I)}{q(x)}$$
    ///
    /// Same errors as [`Self::log_density`]. For q(x_t) use [`Self::score`].
    pub fn grad_log_density(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.check_point("x", x)?;
        self.check_density("grad_log_density")?;
        let resp = softmax(self.log_joint(x), "x")?;
        let mut grad = vec![0.0; self.dim()];
        for ((r, mean), s) in resp.iter().zip(&self.means).zip(&self.stds) {
            for ((g, &xj), &mu) in grad.iter_mut().zip(x).zip(mean) {
                *g += r * (mu - xj) / (s * s);
            }
        }
        Ok(grad)
    }

    /// The mean of the mixture, per coordinate: E(x) = sum_k w_k mu_k.
    pub fn mean(&self) -> Vec<f64> {
        let mut mean = vec![0.0; self.dim()];
        for (w, mu) in self.weights.iter().zip(&self.means) {
            for (m, v) in mean.iter_mut().zip(mu) {
                *m += w * v;
            }
        }
        mean
    }

    /// The variance of the mixture, per coordinate (law of total variance):
    ///
    /// $$\mathrm{Var}(x_j) = \sum_k w_k \big(s_k^2 + (\mu_{kj} - \mathrm E(x_j))^2\big)$$
    pub fn variance(&self) -> Vec<f64> {
        let mean = self.mean();
        let mut var = vec![0.0; self.dim()];
        for ((w, mu), s) in self.weights.iter().zip(&self.means).zip(&self.stds) {
            for ((v, m), mu_j) in var.iter_mut().zip(&mean).zip(mu) {
                *v += w * (s * s + (mu_j - m) * (mu_j - m));
            }
        }
        var
    }

    /// ln w_k + ln N(x; mu_k, s_k^2 I) for each k (every s_k > 0).
    fn log_joint(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim();
        self.weights
            .iter()
            .zip(&self.means)
            .zip(&self.stds)
            .map(|((w, mu), s)| w.ln() + log_normal(sq_dist(x, mu), s * s, d))
            .collect()
    }

    /// An error unless `x` has d finite coordinates.
    fn check_point(&self, name: &str, x: &[f64]) -> Result<()> {
        if x.len() != self.dim() {
            return Err(invalid!(
                "{name} has {} coordinates but the mixture has dimension {}; they must match",
                x.len(),
                self.dim()
            ));
        }
        if let Some((j, v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(invalid!("{name}[{j}] must be finite, got {v}"));
        }
        Ok(())
    }

    /// An error if some component is a point mass (then the mixture has no density).
    fn check_density(&self, what: &str) -> Result<()> {
        if let Some(k) = self.stds.iter().position(|&s| s == 0.0) {
            return Err(invalid!(
                "{what} needs every std > 0, but component {k} is a point mass (stds[{k}] = 0), which has no density"
            ));
        }
        Ok(())
    }
}
