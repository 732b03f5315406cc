//! Post-processing of noisy tables into a consistent, publishable release:
//! non-negative integers, every one-way table summing to the published total,
//! every two-way table summing to its published one-way margins.
//!
//! Everything here is a deterministic function of noisy values (and of the
//! public noise variances), so by the post-processing property it costs no
//! privacy budget. Nothing here may ever be handed a true count.

use std::fmt;

use super::rounding::round_to_sum;
pub use super::two_way::fit_two_way;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FitError {
    /// Matrix rows of unequal length, or margins not matching the matrix shape.
    Shape,
    /// Two-way margins must describe the same total.
    MarginMismatch { rows: u128, cols: u128 },
    /// A table with no cells cannot hold a positive total.
    EmptyTable { total: u64 },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::Shape => write!(f, "table shape does not match its margins"),
            FitError::MarginMismatch { rows, cols } => {
                write!(f, "row margins sum to {rows} but column margins to {cols}")
            }
            FitError::EmptyTable { total } => write!(f, "empty table cannot sum to {total}"),
        }
    }
}

impl std::error::Error for FitError {}

/// Inverse-variance weighted mean of independent unbiased estimates, with its
/// variance: the minimum-variance unbiased linear combination.
///
/// Entries with non-finite value or non-finite/negative variance carry no usable
/// information and are ignored. Zero-variance entries are exact and win
/// outright (averaged if several). With nothing usable the answer is
/// `(0.0, f64::INFINITY)`: "no information" rather than a panic.
pub fn combine(estimates: &[(f64, f64)]) -> (f64, f64) {
    let usable: Vec<(f64, f64)> =
        estimates.iter().copied().filter(|(x, v)| x.is_finite() && v.is_finite() && *v >= 0.0).collect();
    let exact: Vec<f64> = usable.iter().filter(|(_, v)| *v == 0.0).map(|(x, _)| *x).collect();
    if !exact.is_empty() {
        return (exact.iter().sum::<f64>() / exact.len() as f64, 0.0);
    }
    let precision: f64 = usable.iter().map(|(_, v)| 1.0 / v).sum();
    if precision == 0.0 {
        return (0.0, f64::INFINITY);
    }
    let weighted: f64 = usable.iter().map(|(x, v)| x / v).sum();
    (weighted / precision, 1.0 / precision)
}

/// One noisy table (or a flattened two-way table) and its per-cell noise variance.
#[derive(Clone, Copy, Debug)]
pub struct NoisyTable<'a> {
    pub cells: &'a [i64],
    pub sigma2: f64,
}

impl NoisyTable<'_> {
    /// Each table partitions the respondents, so its cell sum is another unbiased
    /// estimate of the total; independent noise in k cells adds to k sigma^2.
    pub fn total_estimate(&self) -> (f64, f64) {
        let sum: f64 = self.cells.iter().map(|&c| c as f64).sum();
        (sum, self.cells.len() as f64 * self.sigma2)
    }
}

/// The release total: the noisy n combined with every table's sum (each an
/// independent estimate because each table got its own noise), rounded to a
/// non-negative integer.
pub fn fit_total(noisy_n: i64, n_sigma2: f64, tables: &[NoisyTable<'_>]) -> u64 {
    let mut estimates = vec![(noisy_n as f64, n_sigma2)];
    estimates.extend(tables.iter().map(NoisyTable::total_estimate));
    let (n, _) = combine(&estimates);
    // Negative totals are impossible, so clamping only removes error.
    n.round().max(0.0) as u64
}

/// Which axis of a two-way table is the one-way variable being estimated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    Rows,
    Cols,
}

/// A noisy two-way table that has a given one-way table as one of its margins.
#[derive(Clone, Copy, Debug)]
pub struct NoisyTwoWay<'a> {
    pub cells: &'a [Vec<i64>],
    pub sigma2: f64,
    pub axis: Axis,
}

/// Per-category (estimate, variance) for a one-way table: its own noisy cell
/// combined with the matching row (or column) sum of every two-way table it is a
/// margin of. A sum over k noisy cells has variance k sigma^2, so a wide
/// two-way table contributes less than a narrow one.
pub fn category_estimates(own: &NoisyTable<'_>, two_ways: &[NoisyTwoWay<'_>]) -> Result<Vec<(f64, f64)>, FitError> {
    let k = own.cells.len();
    for t in two_ways {
        let width = t.cells.first().map_or(0, Vec::len);
        let along = match t.axis {
            Axis::Rows => t.cells.len(),
            Axis::Cols => width,
        };
        if along != k || t.cells.iter().any(|r| r.len() != width) {
            return Err(FitError::Shape);
        }
    }
    Ok((0..k)
        .map(|c| {
            let mut sources = vec![(own.cells[c] as f64, own.sigma2)];
            for t in two_ways {
                // Summed in f64: an i64 sum could overflow on absurd input.
                let (sum, cells): (f64, usize) = match t.axis {
                    Axis::Rows => (t.cells[c].iter().map(|&x| x as f64).sum(), t.cells[c].len()),
                    Axis::Cols => (t.cells.iter().map(|r| r[c] as f64).sum(), t.cells.len()),
                };
                sources.push((sum, cells as f64 * t.sigma2));
            }
            combine(&sources)
        })
        .collect())
}

/// Euclidean projection of `v` onto {x >= 0, sum x = total} (sort-based, as in
/// Duchi et al. 2008): x = max(v - theta, 0) for the unique theta that makes the
/// sum right; theta is found from the sorted prefix sums.
fn project_simplex(v: &[f64], total: f64) -> Vec<f64> {
    if total <= 0.0 {
        return vec![0.0; v.len()];
    }
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (mut prefix, mut theta) = (0.0, 0.0);
    for (j, u) in sorted.iter().enumerate() {
        prefix += u;
        let candidate = (prefix - total) / (j + 1) as f64;
        // The last j where u_j stays above the threshold defines theta.
        if u - candidate > 0.0 {
            theta = candidate;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

/// The non-negative integer vector summing to `total` closest to `estimates`:
/// exact L2 projection onto the scaled simplex, then largest-remainder rounding
/// (ties to the lower index) so the sum stays exact. Non-finite estimates count
/// as 0.
pub fn fit_one_way(estimates: &[f64], total: u64) -> Result<Vec<u64>, FitError> {
    if estimates.is_empty() && total > 0 {
        return Err(FitError::EmptyTable { total });
    }
    let clean: Vec<f64> = estimates.iter().map(|x| if x.is_finite() { *x } else { 0.0 }).collect();
    Ok(round_to_sum(&project_simplex(&clean, total as f64), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn combine_weights_by_precision() {
        let (x, v) = combine(&[(10.0, 1.0), (20.0, 4.0)]);
        assert!((x - 12.0).abs() < 1e-12 && (v - 0.8).abs() < 1e-12, "{x} {v}");
        assert_eq!(combine(&[(3.0, 0.0), (99.0, 1.0)]), (3.0, 0.0));
        assert_eq!(combine(&[(5.0, 2.0), (f64::NAN, 1.0), (7.0, f64::INFINITY)]), (5.0, 2.0));
        assert_eq!(combine(&[]), (0.0, f64::INFINITY));
    }

    #[test]
    fn total_uses_table_sums_and_stays_non_negative() {
        // n: 100 (var 4); table sum 106 over 2 cells at var 2 (var 4) => 103.
        let cells = [50, 56];
        let t = NoisyTable { cells: &cells, sigma2: 2.0 };
        assert_eq!(fit_total(100, 4.0, &[t]), 103);
        assert_eq!(fit_total(-5, 1.0, &[NoisyTable { cells: &[-3, 1], sigma2: 1.0 }]), 0);
    }

    #[test]
    fn category_estimates_pool_rows_and_columns() {
        let own = [10, 20];
        let by_row = vec![vec![4, 8], vec![12, 6]]; // row sums 12, 18 at var 2 * 1
        let by_col = vec![vec![9, 21]]; // column sums 9, 21 at var 1 * 2
        let est = category_estimates(
            &NoisyTable { cells: &own, sigma2: 1.0 },
            &[
                NoisyTwoWay { cells: &by_row, sigma2: 1.0, axis: Axis::Rows },
                NoisyTwoWay { cells: &by_col, sigma2: 2.0, axis: Axis::Cols },
            ],
        )
        .unwrap();
        // Precisions 1, 1/2, 1/2: (10 + 6 + 4.5) / 2 = 10.25 and (20 + 9 + 10.5) / 2.
        assert!((est[0].0 - 10.25).abs() < 1e-12 && (est[0].1 - 0.5).abs() < 1e-12);
        assert!((est[1].0 - 19.75).abs() < 1e-12);
        let wrong = vec![vec![1, 2, 3]];
        let bad = NoisyTwoWay { cells: &wrong, sigma2: 1.0, axis: Axis::Cols };
        assert_eq!(category_estimates(&NoisyTable { cells: &own, sigma2: 1.0 }, &[bad]), Err(FitError::Shape));
    }

    #[test]
    fn one_way_examples() {
        assert_eq!(fit_one_way(&[5.2, -3.0, 4.9], 10).unwrap(), vec![5, 0, 5]);
        assert_eq!(fit_one_way(&[1.0, 1.0, 1.0], 4).unwrap(), vec![2, 1, 1]);
        assert_eq!(fit_one_way(&[-4.0, -4.0], 0).unwrap(), vec![0, 0]);
        // NaN counts as 0: the projection of (0, 2) onto sum 3 is (0.5, 2.5).
        assert_eq!(fit_one_way(&[f64::NAN, 2.0], 3).unwrap(), vec![1, 2]);
        assert_eq!(fit_one_way(&[], 0).unwrap(), Vec::<u64>::new());
        assert_eq!(fit_one_way(&[], 1), Err(FitError::EmptyTable { total: 1 }));
    }

    proptest! {
        #[test]
        fn projection_is_on_the_simplex_and_optimal(
            v in prop::collection::vec(-50.0f64..200.0, 1..12),
            total in 0u64..500,
        ) {
            let x = project_simplex(&v, total as f64);
            let sum: f64 = x.iter().sum();
            prop_assert!(x.iter().all(|&xi| xi >= 0.0));
            prop_assert!((sum - total as f64).abs() < 1e-9 * (1.0 + total as f64));
            // Optimality (KKT): one theta with x_i = v_i - theta where x_i > 0 and
            // v_i <= theta where x_i = 0.
            if let Some(i) = (0..v.len()).find(|&i| x[i] > 0.0) {
                let theta = v[i] - x[i];
                for (xi, vi) in x.iter().zip(&v) {
                    if *xi > 0.0 {
                        prop_assert!((vi - xi - theta).abs() < 1e-9 * (1.0 + vi.abs()));
                    } else {
                        prop_assert!(*vi <= theta + 1e-9 * (1.0 + vi.abs()));
                    }
                }
            }
        }

        #[test]
        fn one_way_is_non_negative_and_sums_to_total(
            v in prop::collection::vec(-1e4f64..1e4, 1..15),
            total in 0u64..100_000,
        ) {
            let x = fit_one_way(&v, total).unwrap();
            prop_assert_eq!(x.len(), v.len());
            prop_assert_eq!(x.iter().sum::<u64>(), total);
            // Rounding moves each cell by less than one from the real projection.
            let p = project_simplex(&v, total as f64);
            prop_assert!(x.iter().zip(&p).all(|(&a, b)| (a as f64 - b).abs() < 1.0 + 1e-6));
        }

        #[test]
        fn one_way_keeps_an_already_consistent_table(
            counts in prop::collection::vec(0u64..10_000, 1..15),
        ) {
            let total = counts.iter().sum();
            let as_f64: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
            prop_assert_eq!(fit_one_way(&as_f64, total).unwrap(), counts);
        }
    }
}
