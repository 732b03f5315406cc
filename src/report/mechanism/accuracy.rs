//! Error statements printed next to released numbers, and the small-count
//! display rule. All of it is post-processing of released values and public
//! noise scales: no budget, and never a true count as input.

use std::fmt;

/// Two-sided 95% standard normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The noise standard deviation to print for a released count, rounded *up* to
/// two significant figures so the page never understates the error.
///
/// `s` is the sd of the discrete Gaussian noise (sqrt of the allocated sigma^2;
/// the true variance of the discrete Gaussian is never above it). The fitted
/// count's error is usually smaller, since projecting onto the consistent set
/// pools information; the raw `s` is the honest, simple bound to state.
pub fn printed_sd(s: f64) -> f64 {
    if !(s.is_finite() && s > 0.0) {
        return s;
    }
    let exponent = s.log10().floor() as i32;
    // Multiply or divide by an exact power of ten so 5.0 stays 5.0; the small
    // slack stops float fuzz (e.g. 5.000000000000001) rounding up to 5.1.
    let slack = 1e-9;
    if exponent >= 1 {
        let unit = 10f64.powi(exponent - 1);
        (s / unit - slack).ceil() * unit
    } else {
        let per_unit = 10f64.powi(1 - exponent);
        (s * per_unit - slack).ceil() / per_unit
    }
}

/// Half-width of the 95% noise interval of a released count (±1.96 s).
#[cfg(test)]
pub fn count_margin95(s: f64) -> f64 {
    Z95 * s
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// 95% interval for a proportion x/m of released integers, covering both the
/// sampling of respondents and the DP noise.
///
/// Method, to be quoted in the method statement:
/// - Sampling: the Wilson score interval on (x, m) at z = 1.96, which behaves at
///   proportions near 0 or 1 where the Wald interval collapses.
/// - Noise: by the delta method, Var(x/m) ≈ (sx^2 + p^2 sm^2) / m^2, treating
///   the noises of x and m as independent. When m's noise includes x's (m a sum
///   over cells including x), the ignored covariance is positive, so this
///   overstates the variance: conservative.
/// - The Wilson half-width and z·sqrt(noise variance) add in quadrature around
///   the Wilson centre; the result is clamped to [0, 1].
///
/// The delta method needs m large against sm; where it is not, the interval is
/// wide and clamped. m = 0 gives [0, 1]: nothing is known.
pub fn proportion_interval(x: u64, m: u64, sx: f64, sm: f64) -> Interval {
    if m == 0 {
        return Interval { low: 0.0, high: 1.0 };
    }
    let mf = m as f64;
    // Fitted tables keep x <= m; the clamp only guards callers mixing releases.
    let p = (x as f64 / mf).min(1.0);
    let z2 = Z95 * Z95;
    let shrink = 1.0 + z2 / mf;
    let centre = (p + z2 / (2.0 * mf)) / shrink;
    let wilson = Z95 / shrink * (p * (1.0 - p) / mf + z2 / (4.0 * mf * mf)).sqrt();
    let noise_var = (sx * sx + p * p * sm * sm) / (mf * mf);
    let half = (wilson * wilson + z2 * noise_var).sqrt();
    Interval { low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

/// A count as displayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Count(u64),
    FewerThan(u64),
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Count(n) => write!(f, "{n}"),
            Shown::FewerThan(t) => write!(f, "fewer than {t}"),
        }
    }
}

/// Display rule: released values below `threshold` are shown as "fewer than
/// threshold", so a published 0 looks exactly like a published 3 and readers are
/// not invited to over-read small noisy numbers.
///
/// This is presentation, not protection: the privacy guarantee comes from the
/// noise, and the rule is post-processing of the released value, so it costs
/// nothing. It is also not secondary suppression: a hidden cell may still be
/// derivable from a shown total minus shown cells, which is harmless for the
/// guarantee but means the rule must not be described as hiding values.
pub fn shown(released: u64, threshold: u64) -> Shown {
    if released < threshold { Shown::FewerThan(threshold) } else { Shown::Count(released) }
}

/// A proportion x/m, or `None` when its numerator or denominator is displayed
/// as "fewer than": printing x/m next to m would reveal the hidden x.
#[cfg(test)]
pub fn shown_proportion(x: u64, m: u64, threshold: u64) -> Option<f64> {
    (x >= threshold && m >= threshold && m > 0).then(|| x as f64 / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_sd_rounds_up_to_two_figures() {
        assert_eq!(printed_sd(5.0), 5.0);
        assert_eq!(printed_sd(7.0710678), 7.1);
        assert_eq!(printed_sd(10.0), 10.0);
        assert_eq!(printed_sd(123.4), 130.0);
        assert_eq!(printed_sd(0.0123), 0.013);
        for s in [0.37, 1.0, 2.345, 9.99, 77.7, 1234.5] {
            assert!(printed_sd(s) >= s, "{s} printed as {}", printed_sd(s));
        }
    }

    #[test]
    fn count_margin_is_1_96_sd() {
        assert!((count_margin95(10.0) - 19.6).abs() < 1e-3);
    }

    #[test]
    fn proportion_interval_without_noise_is_wilson() {
        // Wilson 95% for 30/100 is [0.2189, 0.3958] (textbook value).
        let i = proportion_interval(30, 100, 0.0, 0.0);
        assert!((i.low - 0.2189).abs() < 5e-4 && (i.high - 0.3958).abs() < 5e-4, "{i:?}");
    }

    #[test]
    fn noise_widens_and_interval_stays_in_unit_range() {
        let plain = proportion_interval(150, 300, 0.0, 0.0);
        let noisy = proportion_interval(150, 300, 7.0, 7.0);
        assert!(noisy.low < plain.low && noisy.high > plain.high);
        // Half-widths add in quadrature: sqrt(wilson^2 + 1.96^2 (49 + 0.25 * 49) / 300^2).
        let w = (plain.high - plain.low) / 2.0;
        let want = (w * w + Z95 * Z95 * 49.0 * 1.25 / 90_000.0).sqrt();
        assert!(((noisy.high - noisy.low) / 2.0 - want).abs() < 1e-12);
        for (x, m) in [(0, 5), (5, 5), (0, 1), (3, 2)] {
            let i = proportion_interval(x, m, 10.0, 10.0);
            assert!(0.0 <= i.low && i.low <= i.high && i.high <= 1.0, "{x}/{m}: {i:?}");
        }
        assert_eq!(proportion_interval(0, 0, 1.0, 1.0), Interval { low: 0.0, high: 1.0 });
    }

    #[test]
    fn small_values_are_indistinguishable() {
        assert_eq!(shown(0, 10).to_string(), shown(9, 10).to_string());
        assert_eq!(shown(0, 10).to_string(), "fewer than 10");
        assert_eq!(shown(10, 10), Shown::Count(10));
        assert_eq!(shown(0, 0), Shown::Count(0));
        assert_eq!(shown_proportion(4, 100, 10), None);
        assert_eq!(shown_proportion(40, 100, 10), Some(0.4));
    }
}
