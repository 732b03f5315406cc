//! Two-way table fitting: the noisy cross-tabulation is made consistent with
//! its already-fitted one-way margins. Post-processing only.

use super::consistency::FitError;
use super::rounding::round_matrix;

/// Dykstra stops at a near fixed point: no cell moving, or off its margin
/// projection, by more than this times the total. That leaves margins within
/// ~1e-6 of the targets, far below the 0.5 that could change a rounding.
const DYKSTRA_TOLERANCE: f64 = 1e-10;
/// Survey-sized tables (up to 30x30 tried) stop within a few hundred rounds; the
/// cap only bounds time on pathological input. Hitting it costs closeness, not
/// correctness: the rounding step still makes the margins exact.
const DYKSTRA_MAX_ITERATIONS: usize = 20_000;

/// A non-negative integer matrix with row sums exactly `rows` and column sums
/// exactly `cols`, close (in L2) to `noisy`.
///
/// 1. Rows/columns whose margin is 0 are fixed at 0 and dropped.
/// 2. Dykstra's alternating projection between the affine set of matrices with
///    these margins and the non-negative orthant converges to the L2-closest
///    non-negative real matrix with the margins.
/// 3. Controlled rounding (floor, then +1s by min-cost flow) makes it integer
///    with the exact margins. Dykstra is asymptotic, so its margins are only
///    nearly exact; the rounding works from the integer targets and absorbs that.
///
/// Non-finite noisy cells are treated as 0.
pub fn fit_two_way(noisy: &[Vec<f64>], rows: &[u64], cols: &[u64]) -> Result<Vec<Vec<u64>>, FitError> {
    if noisy.len() != rows.len() || noisy.iter().any(|r| r.len() != cols.len()) {
        return Err(FitError::Shape);
    }
    let row_total: u128 = rows.iter().map(|&r| u128::from(r)).sum();
    let col_total: u128 = cols.iter().map(|&c| u128::from(c)).sum();
    if row_total != col_total {
        return Err(FitError::MarginMismatch { rows: row_total, cols: col_total });
    }
    let mut out = vec![vec![0u64; cols.len()]; rows.len()];
    let live_rows: Vec<usize> = (0..rows.len()).filter(|&i| rows[i] > 0).collect();
    let live_cols: Vec<usize> = (0..cols.len()).filter(|&j| cols[j] > 0).collect();
    if live_rows.is_empty() {
        return Ok(out);
    }
    let r: Vec<f64> = live_rows.iter().map(|&i| rows[i] as f64).collect();
    let c: Vec<f64> = live_cols.iter().map(|&j| cols[j] as f64).collect();
    let v: Vec<Vec<f64>> = live_rows
        .iter()
        .map(|&i| {
            let x = |j: usize| if noisy[i][j].is_finite() { noisy[i][j] } else { 0.0 };
            live_cols.iter().map(|&j| x(j)).collect()
        })
        .collect();

    let y = dykstra(&v, &r, &c);
    let live_r: Vec<u64> = live_rows.iter().map(|&i| rows[i]).collect();
    let live_c: Vec<u64> = live_cols.iter().map(|&j| cols[j]).collect();
    let fitted = round_matrix(&y, &live_r, &live_c);
    for (a, &i) in live_rows.iter().enumerate() {
        for (b, &j) in live_cols.iter().enumerate() {
            out[i][j] = fitted[a][b];
        }
    }
    Ok(out)
}

fn sums(x: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = x.first().map_or(0, Vec::len);
    let rows = x.iter().map(|r| r.iter().sum()).collect();
    let cols = (0..n).map(|j| x.iter().map(|r| r[j]).sum()).collect();
    (rows, cols)
}

/// Orthogonal projection onto {row sums = r, col sums = c}: adding
/// R_i/n + C_j/m - S/(mn) fixes both margins, and that correction lies in the
/// span of the row and column indicator matrices, i.e. is orthogonal to the set.
fn project_margins(x: &mut [Vec<f64>], r: &[f64], c: &[f64]) {
    let (m, n) = (r.len() as f64, c.len() as f64);
    let (xr, xc) = sums(x);
    let big_r: Vec<f64> = r.iter().zip(&xr).map(|(t, s)| t - s).collect();
    let big_c: Vec<f64> = c.iter().zip(&xc).map(|(t, s)| t - s).collect();
    let s: f64 = big_r.iter().sum();
    for (row, dr) in x.iter_mut().zip(&big_r) {
        for (cell, dc) in row.iter_mut().zip(&big_c) {
            *cell += dr / n + dc / m - s / (m * n);
        }
    }
}

/// Dykstra's algorithm. The affine step needs no correction term (its
/// corrections are orthogonal to the affine set and vanish under projection);
/// the orthant step keeps one in `q`. Returns the last orthant iterate, so the
/// result is non-negative even if the iteration cap is hit.
fn dykstra(v: &[Vec<f64>], r: &[f64], c: &[f64]) -> Vec<Vec<f64>> {
    let scale = r.iter().sum::<f64>().max(1.0);
    let mut x = v.to_vec();
    let mut q = vec![vec![0.0; c.len()]; r.len()];
    for _ in 0..DYKSTRA_MAX_ITERATIONS {
        let mut y = x.clone();
        project_margins(&mut y, r, c);
        // A still x is not convergence: while a correction in `q` unwinds, x can
        // sit unchanged for many rounds. Stop only at a near fixed point, where x
        // neither moves nor differs from its projection onto the margins.
        let (mut moved, mut gap): (f64, f64) = (0.0, 0.0);
        for ((xr, yr), qr) in x.iter_mut().zip(&y).zip(q.iter_mut()) {
            for ((xi, yi), qi) in xr.iter_mut().zip(yr).zip(qr.iter_mut()) {
                let next = (yi + *qi).max(0.0);
                *qi += yi - next;
                moved = moved.max((next - *xi).abs());
                gap = gap.max((next - yi).abs());
                *xi = next;
            }
        }
        if moved.max(gap) <= DYKSTRA_TOLERANCE * scale {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A true table (some rows/columns forced to zero), and noisy cells around it
    /// wide enough that small cells often go negative.
    fn table_and_noisy() -> impl Strategy<Value = (Vec<Vec<u64>>, Vec<Vec<f64>>)> {
        (1usize..7, 1usize..7)
            .prop_flat_map(|(m, n)| {
                (
                    prop::collection::vec(prop::collection::vec(0u64..40, n), m),
                    prop::collection::vec(prop::collection::vec(-40.0f64..40.0, n), m),
                    prop::collection::vec(prop::bool::weighted(0.2), m),
                    prop::collection::vec(prop::bool::weighted(0.2), n),
                )
            })
            .prop_map(|(mut t, noise, zero_rows, zero_cols)| {
                for (i, row) in t.iter_mut().enumerate() {
                    for (j, cell) in row.iter_mut().enumerate() {
                        if zero_rows[i] || zero_cols[j] {
                            *cell = 0;
                        }
                    }
                }
                let noisy =
                    t.iter().zip(&noise).map(|(r, e)| r.iter().zip(e).map(|(&x, e)| x as f64 + e).collect()).collect();
                (t, noisy)
            })
    }

    /// Threshold t with sum_j max(w_j - t, 0) = total (total > 0).
    fn threshold(w: &[f64], total: f64) -> f64 {
        let mut u = w.to_vec();
        u.sort_by(|a, b| b.total_cmp(a));
        let (mut prefix, mut t) = (0.0, 0.0);
        for (j, x) in u.iter().enumerate() {
            prefix += x;
            let cand = (prefix - total) / (j + 1) as f64;
            if x - cand > 0.0 {
                t = cand;
            }
        }
        t
    }

    /// Independent reference for the projection, via its KKT form
    /// x_ij = max(v_ij - a_i - b_j, 0): block coordinate ascent on the dual,
    /// each block an exact one-dimensional threshold.
    fn dual_projection(v: &[Vec<f64>], r: &[f64], c: &[f64]) -> Vec<Vec<f64>> {
        let (mut a, mut b) = (vec![0.0; r.len()], vec![0.0; c.len()]);
        for _ in 0..5_000 {
            for i in 0..r.len() {
                a[i] = threshold(&(0..c.len()).map(|j| v[i][j] - b[j]).collect::<Vec<_>>(), r[i]);
            }
            for j in 0..c.len() {
                b[j] = threshold(&(0..r.len()).map(|i| v[i][j] - a[i]).collect::<Vec<_>>(), c[j]);
            }
        }
        (0..r.len()).map(|i| (0..c.len()).map(|j| (v[i][j] - a[i] - b[j]).max(0.0)).collect()).collect()
    }

    proptest! {
        #[test]
        fn dykstra_matches_an_independent_projection((truth, noisy) in table_and_noisy()) {
            let (rows, cols) = margins(&truth);
            // Dykstra only ever sees the rows and columns with positive margins.
            let live_r: Vec<usize> = (0..rows.len()).filter(|&i| rows[i] > 0).collect();
            let live_c: Vec<usize> = (0..cols.len()).filter(|&j| cols[j] > 0).collect();
            prop_assume!(!live_r.is_empty());
            let noisy: Vec<Vec<f64>> =
                live_r.iter().map(|&i| live_c.iter().map(|&j| noisy[i][j]).collect()).collect();
            let r: Vec<f64> = live_r.iter().map(|&i| rows[i] as f64).collect();
            let c: Vec<f64> = live_c.iter().map(|&j| cols[j] as f64).collect();
            let (got, want) = (dykstra(&noisy, &r, &c), dual_projection(&noisy, &r, &c));
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                prop_assert!((g - w).abs() < 1e-4, "dykstra {:?} vs reference {:?}", got, want);
            }
        }

        #[test]
        fn margins_are_exact_and_zero_margins_stay_zero((truth, noisy) in table_and_noisy()) {
            let (rows, cols) = margins(&truth);
            let fit = fit_two_way(&noisy, &rows, &cols).unwrap();
            prop_assert_eq!(margins(&fit), (rows.clone(), cols.clone()));
            for (i, row) in fit.iter().enumerate() {
                for (j, &cell) in row.iter().enumerate() {
                    prop_assert!(rows[i] > 0 && cols[j] > 0 || cell == 0);
                }
            }
        }

        #[test]
        fn noiseless_tables_are_fixed_points((truth, _) in table_and_noisy()) {
            let (rows, cols) = margins(&truth);
            let exact: Vec<Vec<f64>> =
                truth.iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect();
            prop_assert_eq!(fit_two_way(&exact, &rows, &cols).unwrap(), truth);
        }
    }

    fn margins(x: &[Vec<u64>]) -> (Vec<u64>, Vec<u64>) {
        let n = x.first().map_or(0, Vec::len);
        (x.iter().map(|r| r.iter().sum()).collect(), (0..n).map(|j| x.iter().map(|r| r[j]).sum()).collect())
    }

    #[test]
    fn consistent_integer_input_is_returned_unchanged() {
        let m = vec![vec![3, 0, 2], vec![1, 4, 0]];
        let noisy: Vec<Vec<f64>> = m.iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect();
        let (rows, cols) = margins(&m);
        assert_eq!(fit_two_way(&noisy, &rows, &cols).unwrap(), m);
    }

    #[test]
    fn degenerate_shapes() {
        assert_eq!(fit_two_way(&[vec![-3.0]], &[5], &[5]).unwrap(), vec![vec![5]]);
        assert_eq!(fit_two_way(&[vec![1.0, -2.0, 9.0]], &[7], &[3, 0, 4]).unwrap(), vec![vec![3, 0, 4]]);
        let col = fit_two_way(&[vec![4.0], vec![4.0]], &[2, 6], &[8]).unwrap();
        assert_eq!(col, vec![vec![2], vec![6]]);
        assert_eq!(fit_two_way(&vec![vec![7.0, -1.0]; 2], &[0, 0], &[0, 0]).unwrap(), vec![vec![0, 0]; 2]);
        assert_eq!(fit_two_way(&[], &[], &[]).unwrap(), Vec::<Vec<u64>>::new());
        assert_eq!(fit_two_way(&[vec![f64::NAN, 1.0]], &[1], &[0, 1]).unwrap(), vec![vec![0, 1]]);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(fit_two_way(&[vec![1.0]], &[1, 0], &[1]), Err(FitError::Shape));
        assert_eq!(fit_two_way(&[vec![1.0]], &[2], &[1]), Err(FitError::MarginMismatch { rows: 2, cols: 1 }));
    }

    #[test]
    fn noise_is_pulled_toward_the_margins() {
        // The true table is [[10, 0], [0, 10]]; noise made the off-diagonal
        // negative, which the projection should clamp to zero.
        let noisy = vec![vec![11.0, -2.0], vec![-1.0, 9.0]];
        assert_eq!(fit_two_way(&noisy, &[10, 10], &[10, 10]).unwrap(), vec![vec![10, 0], vec![0, 10]]);
    }

    #[test]
    fn dykstra_reaches_the_l2_projection() {
        // Margins (1, 1) / (1, 1) force [[a, 1-a], [1-a, a]]; the distance to
        // [[2, 0], [0, 0]] is (a-2)^2 + 2(1-a)^2 + a^2, least at a = 1. The plain
        // affine projection [[1.5, -0.5], [-0.5, 0.5]] would be negative, so this
        // checks that the orthant correction is doing its job.
        let y = dykstra(&[vec![2.0, 0.0], vec![0.0, 0.0]], &[1.0, 1.0], &[1.0, 1.0]);
        for (got, want) in y.iter().flatten().zip([1.0, 0.0, 0.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
    }
}
