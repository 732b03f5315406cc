//! The only place true counts meet randomness.
//!
//! Noise comes from opendp's exact discrete Gaussian sampler
//! (`opendp::traits::samplers::sample_discrete_gaussian`, Canonne–Kamath–Steinke
//! 2020): exact integer arithmetic on a rational sigma, so none of the
//! floating-point attacks on textbook Laplace/Gaussian code apply. We never sample
//! with our own code.
//!
//! Randomness: opendp is built without `use-openssl`, so its `fill_bytes` draws
//! from `rand` 0.7's `thread_rng()`: ChaCha20 seeded from the OS (`getrandom(2)`),
//! reseeded every 64 KiB and after `fork`. The OpenSSL build would use
//! `RAND_priv_bytes` instead; both are OS-seeded CSPRNGs.

use std::fmt;

use dashu::integer::IBig;
use opendp::traits::samplers::sample_discrete_gaussian;

use super::budget::Scale;

/// Errors deliberately carry no count: an error path must not become a channel
/// for the true value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoiseError {
    /// The sampler failed, in practice only if the OS could not supply entropy.
    Sampler(String),
    /// The noisy value does not fit i64 (only for counts near 2^63).
    OutOfRange,
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoiseError::Sampler(why) => write!(f, "discrete Gaussian sampler failed: {why}"),
            NoiseError::OutOfRange => write!(f, "noisy count does not fit in i64"),
        }
    }
}

impl std::error::Error for NoiseError {}

/// `count` plus one fresh discrete Gaussian draw of variance `scale.sigma2()`.
/// May be negative: clamping here would bias small cells; leave it to the
/// consistency step, which is post-processing.
pub fn noisy(count: u64, scale: &Scale) -> Result<i64, NoiseError> {
    let noise = sample_discrete_gaussian(scale.sigma_exact())
        // Only the variant: opendp's message could grow details we cannot vet.
        .map_err(|e| NoiseError::Sampler(e.variant.to_string()))?;
    i64::try_from(IBig::from(count) + noise).map_err(|_| NoiseError::OutOfRange)
}

/// Noise every cell of one table independently. All or nothing: a partly noised
/// table must never escape, so the first failure discards the rest.
pub fn noisy_all(counts: &[u64], scale: &Scale) -> Result<Vec<i64>, NoiseError> {
    counts.iter().map(|&c| noisy(c, scale)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws, sample mean and (population) variance of the noise.
    fn noise_moments(scale: &Scale, draws: usize) -> (f64, f64) {
        let base = 1_000u64;
        let values = noisy_all(&vec![base; draws], scale).unwrap();
        let noise: Vec<f64> = values.iter().map(|&v| (v - base as i64) as f64).collect();
        let mean = noise.iter().sum::<f64>() / draws as f64;
        let var = noise.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws as f64;
        (mean, var)
    }

    #[test]
    fn noise_is_centred_with_the_allocated_variance() {
        // sigma = 3.5: non-integer on purpose, so the rational path is exercised.
        let scale = Scale::from_sigma_ratio(7, 2).unwrap();
        let draws = 20_000;
        let (mean, var) = noise_moments(&scale, draws);
        let s2 = scale.sigma2();
        // The discrete Gaussian's variance differs from sigma^2 by < 1e-20 at this
        // sigma, so the continuous formulas give the standard errors:
        // se(mean) = sigma / sqrt(N); se(var) = sigma^2 sqrt(2 / N).
        let se_mean = s2.sqrt() / (draws as f64).sqrt();
        let se_var = s2 * (2.0 / draws as f64).sqrt();
        // 5 standard errors: a false alarm about once in 1.7 million runs.
        assert!(mean.abs() < 5.0 * se_mean, "mean {mean}, bound {}", 5.0 * se_mean);
        assert!((var - s2).abs() < 5.0 * se_var, "var {var} vs {s2}, bound {}", 5.0 * se_var);
    }

    #[test]
    fn noise_is_integer_and_varies() {
        let scale = Scale::from_sigma_ratio(2, 1).unwrap();
        let values = noisy_all(&[0; 200], &scale).unwrap();
        // With sigma = 2 the chance that 200 draws all agree is far below 1e-100.
        assert!(values.iter().any(|&v| v != values[0]));
        assert!(values.iter().any(|&v| v < 0), "zero counts must be able to go negative");
    }

    #[test]
    fn huge_count_overflow_is_an_error_without_the_count() {
        let scale = Scale::from_sigma_ratio(1, 1).unwrap();
        // u64::MAX exceeds i64::MAX by 2^63, far beyond any draw at sigma = 1.
        let err = noisy(u64::MAX, &scale).unwrap_err();
        assert_eq!(err, NoiseError::OutOfRange);
        assert!(!err.to_string().contains(&u64::MAX.to_string()));
    }
}
