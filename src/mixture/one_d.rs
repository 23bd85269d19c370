//! One-dimensional views of a mixture, for plots of q(x_{t-1} | x_t) against a Gaussian and for
//! measuring how far from Gaussian it is (E9: why DDPM takes many small steps; notes 000, 003).

use super::GaussianMixture;
use crate::schedule::linspace;
use crate::Result;

impl GaussianMixture {
    /// The density q(x) at every point of `grid` (d = 1, every s_k > 0), for plots:
    ///
    /// $$q(x) = \sum_k \frac{w_k}{\sqrt{2\pi s_k^2}} \exp\Big(-\frac{(x-\mu_k)^2}{2 s_k^2}\Big)$$
    pub fn density_1d(&self, grid: &[f64]) -> Result<Vec<f64>> {
        self.check_1d("density_1d")?;
        grid.iter().map(|&x| Ok(self.log_density(&[x])?.exp())).collect()
    }

    /// `n` >= 2 evenly spaced points that cover the mixture (d = 1): from the smallest mu_k - 8 s_k
    /// to the largest mu_k + 8 s_k over components of weight above 1e-12 (a point mass alone gets
    /// +-1 around it). A grid for [`Self::density_1d`] and [`Self::non_gaussianity_1d`]; the moment-
    /// matched Gaussian lies within it too, since its mean and spread stay inside this range.
    pub fn grid_1d(&self, n: usize) -> Result<Vec<f64>> {
        if self.dim() != 1 {
            return Err(invalid!("grid_1d needs a 1-D mixture, got dimension {}", self.dim()));
        }
        if n < 2 {
            return Err(invalid!("grid_1d needs n >= 2 points, got {n}"));
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for ((w, mu), s) in self.weights.iter().zip(&self.means).zip(&self.stds) {
            if *w > 1e-12 {
                lo = lo.min(mu[0] - 8.0 * s);
                hi = hi.max(mu[0] + 8.0 * s);
            }
        }
        if hi <= lo {
            (lo, hi) = (lo - 1.0, hi + 1.0);
        }
        Ok(linspace(lo, hi, n))
    }

    /// The single Gaussian with the same mean and variance as this 1-D mixture (its moment match,
    /// the best Gaussian in KL(q || N), and what p_theta(x_{t-1} | x_t) of Ho et al. 2020, Eq. 1
    /// would have to be to match q(x_{t-1} | x_t)).
    pub fn gaussian_fit_1d(&self) -> Result<GaussianMixture> {
        if self.dim() != 1 {
            return Err(invalid!("gaussian_fit_1d needs a 1-D mixture, got dimension {}", self.dim()));
        }
        GaussianMixture::gaussian_1d(self.mean()[0], self.variance()[0].sqrt())
    }

    /// How far this 1-D mixture is from Gaussian: the total-variation distance to its moment-matched
    /// Gaussian N(m, v) ([`Self::gaussian_fit_1d`]),
    ///
    /// $$\mathrm{TV} = \tfrac12 \int \big|q(x) - \mathcal N(x; m, v)\big|\, dx \in [0, 1]$$
    ///
    /// by the trapezoid rule on `grid` (strictly increasing, at least 2 finite points). The grid must
    /// cover both densities and resolve the narrowest component ([`Self::grid_1d`] with a few thousand
    /// points does); mass outside it is not counted. Used for E9: q(x_{t-1} | x_t) is close to
    /// Gaussian (small TV) when beta_t is small, and visibly not when beta_t is large.
    pub fn non_gaussianity_1d(&self, grid: &[f64]) -> Result<f64> {
        self.check_1d("non_gaussianity_1d")?;
        if grid.len() < 2 {
            return Err(invalid!("the grid needs at least 2 points, got {}", grid.len()));
        }
        if let Some(i) = grid.iter().position(|x| !x.is_finite()) {
            return Err(invalid!("grid[{i}] must be finite, got {}", grid[i]));
        }
        if let Some(i) = grid.windows(2).position(|p| p[1] <= p[0]) {
            return Err(invalid!(
                "the grid must be strictly increasing, got grid[{}] = {} >= grid[{}] = {}",
                i,
                grid[i],
                i + 1,
                grid[i + 1]
            ));
        }
        let q = self.density_1d(grid)?;
        let fit = self.gaussian_fit_1d()?.density_1d(grid)?;
        let gap: Vec<f64> = q.iter().zip(&fit).map(|(a, b)| (a - b).abs()).collect();
        let integral: f64 = grid.windows(2).zip(gap.windows(2)).map(|(x, g)| 0.5 * (x[1] - x[0]) * (g[0] + g[1])).sum();
        Ok(0.5 * integral)
    }

    fn check_1d(&self, what: &str) -> Result<()> {
        if self.dim() != 1 {
            return Err(invalid!("{what} needs a 1-D mixture, got dimension {}", self.dim()));
        }
        self.check_density(what)
    }
}
