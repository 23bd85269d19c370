//! The Fréchet distance between two sets of features (Heusel et al. 2017, "FID"), with the
//! Gaussians fitted to each set: here on the penultimate layer of one of the crate's small MNIST
//! networks (the feature network of [`super::features`], and the judge's beside it), so it is an
//! MNIST analogue of FID, not comparable with Inception-based FIDs, nor across feature networks.

// Matrix code indexes rows and columns as the formulas do.
#![allow(clippy::needless_range_loop)]

use crate::Result;

/// Mean and covariance (divided by n - 1, as numpy's `np.cov`) of `features`, one row a sample.
pub fn mean_cov(features: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let n = features.len();
    if n < 2 {
        return Err(invalid!("a covariance needs at least 2 samples, got {n}"));
    }
    let d = features[0].len();
    if d == 0 || features.iter().any(|f| f.len() != d) {
        return Err(invalid!("every feature vector must have the same non-zero length ({d})"));
    }
    let mut mean = vec![0.0; d];
    for f in features {
        mean.iter_mut().zip(f).for_each(|(m, x)| *m += x / n as f64);
    }
    let mut cov = vec![vec![0.0; d]; d];
    for f in features {
        let c: Vec<f64> = f.iter().zip(&mean).map(|(x, m)| x - m).collect();
        for i in 0..d {
            for j in i..d {
                cov[i][j] += c[i] * c[j];
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            cov[i][j] /= (n - 1) as f64;
            cov[j][i] = cov[i][j];
        }
    }
    Ok((mean, cov))
}

/// The Fréchet distance between N(mu1, s1) and N(mu2, s2):
///
/// $$d^2 = \|\mu_1-\mu_2\|^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)$$
///
/// with Tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i) over the eigenvalues of S1^{1/2} S2 S1^{1/2}
/// (symmetric, positive semi-definite; tiny negative round-off is taken as 0).
pub fn frechet_distance(mu1: &[f64], s1: &[Vec<f64>], mu2: &[f64], s2: &[Vec<f64>]) -> Result<f64> {
    let d = mu1.len();
    if mu2.len() != d || s1.len() != d || s2.len() != d || s1.iter().chain(s2).any(|r| r.len() != d) {
        return Err(invalid!("the two Gaussians must have the same dimension ({d})"));
    }
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b).powi(2)).sum();
    let sqrt_s1 = sqrt_psd(s1)?;
    let inner = matmul(&matmul(&sqrt_s1, s2), &sqrt_s1);
    let (eig, _) = symmetric_eigen(&inner)?;
    let tr_sqrt: f64 = eig.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let trace = |m: &[Vec<f64>]| (0..d).map(|i| m[i][i]).sum::<f64>();
    Ok(mean_term + trace(s1) + trace(s2) - 2.0 * tr_sqrt)
}

/// The Fréchet distance between two sets of feature vectors.
pub fn frechet_distance_of(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    let (mu1, s1) = mean_cov(a)?;
    let (mu2, s2) = mean_cov(b)?;
    frechet_distance(&mu1, &s1, &mu2, &s2)
}

/// The square root of a symmetric positive semi-definite matrix, V diag(sqrt(max(l, 0))) V^T.
pub fn sqrt_psd(m: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let (eig, v) = symmetric_eigen(m)?;
    let d = m.len();
    let mut out = vec![vec![0.0; d]; d];
    for (k, &l) in eig.iter().enumerate() {
        let s = l.max(0.0).sqrt();
        for i in 0..d {
            for j in 0..d {
                out[i][j] += v[i][k] * s * v[j][k];
            }
        }
    }
    Ok(out)
}

/// Eigenvalues and eigenvectors (as the columns of V) of a symmetric matrix, by cyclic Jacobi
/// rotations (Golub and Van Loan, Algorithm 8.5.3) until the off-diagonal mass is below 1e-22
/// of the total, or 100 sweeps.
pub fn symmetric_eigen(m: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let d = m.len();
    if m.iter().any(|r| r.len() != d) {
        return Err(invalid!(
            "the matrix must be square, got {d} rows of lengths {:?}",
            m.iter().map(Vec::len).collect::<Vec<_>>()
        ));
    }
    if m.iter().flatten().any(|x| !x.is_finite()) {
        return Err(invalid!("the matrix has a NaN or infinite entry"));
    }
    let mut a: Vec<Vec<f64>> = m.to_vec();
    let mut v: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    let total: f64 = a.iter().flatten().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j].powi(2))
            .sum();
        if off <= 1e-22 * total || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                if a[p][q] == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (the smaller angle).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    Ok(((0..d).map(|i| a[i][i]).collect(), v))
}

fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (n, k, m) = (a.len(), b.len(), b.first().map_or(0, Vec::len));
    let mut out = vec![vec![0.0; m]; n];
    for i in 0..n {
        for l in 0..k {
            let x = a[i][l];
            for j in 0..m {
                out[i][j] += x * b[l][j];
            }
        }
    }
    out
}
