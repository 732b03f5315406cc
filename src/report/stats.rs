//! Intervals for released proportions.

/// The 95% Wilson score interval for x successes out of n, as fractions. It stays inside [0, 1] and
/// keeps near-nominal coverage for small n and extreme proportions, unlike the Wald interval.
pub fn wilson(x: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || x > n {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = x as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    Some((((centre - spread) / denom).max(0.0), ((centre + spread) / denom).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    /// Reference values from Newcombe (1998), Statistics in Medicine 17:857–872, Table I (method 3),
    /// and Brown, Cai & DasGupta (2001).
    #[test]
    fn matches_published_values() {
        let (lo, hi) = wilson(81, 263).unwrap();
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        let (lo, hi) = wilson(15, 148).unwrap();
        assert!(close(lo, 0.0624) && close(hi, 0.1605), "{lo} {hi}");
        let (lo, hi) = wilson(0, 20).unwrap();
        assert!(close(lo, 0.0) && close(hi, 0.1611), "{lo} {hi}");
        let (lo, hi) = wilson(1, 29).unwrap();
        assert!(close(lo, 0.0061) && close(hi, 0.1718), "{lo} {hi}");
        assert!(wilson(1, 0).is_none());
    }
}
