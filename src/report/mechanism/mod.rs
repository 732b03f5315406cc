//! Numerical core of Chorus's differentially private release (rho-zCDP,
//! add-or-remove-one-respondent neighbours).
//!
//! Flow: `budget` splits a release's rho into exact per-table noise scales;
//! `noise` is the only code that touches true counts; everything after it
//! (`consistency`, `accuracy`) is post-processing of noisy values and costs no
//! budget.

pub mod accuracy;
pub mod budget;
pub mod consistency;
pub mod noise;
mod rounding;
mod two_way;

#[cfg(test)]
mod tests {
    use super::budget::{Rho, allocate};
    use super::consistency::{Axis, NoisyTable, NoisyTwoWay, category_estimates, fit_one_way, fit_total, fit_two_way};
    use super::noise::{noisy, noisy_all};

    /// End to end on a toy release: total, two one-way tables and their
    /// cross-tabulation. Whatever the noise, the published numbers must agree
    /// with each other exactly.
    #[test]
    fn a_release_is_internally_consistent() {
        let truth = [[40u64, 0, 5], [20, 30, 0], [0, 3, 2]];
        let a: Vec<u64> = truth.iter().map(|r| r.iter().sum()).collect();
        let b: Vec<u64> = (0..3).map(|j| truth.iter().map(|r| r[j]).sum()).collect();
        let n: u64 = a.iter().sum();
        let scales = allocate(Rho::new(0.5).unwrap(), &[1.0, 2.0, 2.0, 3.0]).unwrap();
        let (sn, sa, sb, sab) = (scales[0], scales[1], scales[2], scales[3]);
        for _ in 0..20 {
            let noisy_n = noisy(n, &sn).unwrap();
            let noisy_a = noisy_all(&a, &sa).unwrap();
            let noisy_b = noisy_all(&b, &sb).unwrap();
            let noisy_ab: Vec<Vec<i64>> = truth.iter().map(|r| noisy_all(r, &sab).unwrap()).collect();
            let flat_ab: Vec<i64> = noisy_ab.iter().flatten().copied().collect();

            let tables = [
                NoisyTable { cells: &noisy_a, sigma2: sa.sigma2() },
                NoisyTable { cells: &noisy_b, sigma2: sb.sigma2() },
                NoisyTable { cells: &flat_ab, sigma2: sab.sigma2() },
            ];
            let total = fit_total(noisy_n, sn.sigma2(), &tables);
            let one_way = |own: &NoisyTable<'_>, axis| {
                let cross = NoisyTwoWay { cells: &noisy_ab, sigma2: sab.sigma2(), axis };
                let est = category_estimates(own, &[cross]).unwrap();
                fit_one_way(&est.iter().map(|e| e.0).collect::<Vec<_>>(), total).unwrap()
            };
            let fa = one_way(&tables[0], Axis::Rows);
            let fb = one_way(&tables[1], Axis::Cols);
            let as_f64: Vec<Vec<f64>> = noisy_ab.iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect();
            let fab = fit_two_way(&as_f64, &fa, &fb).unwrap();

            assert_eq!(fa.iter().sum::<u64>(), total);
            assert_eq!(fb.iter().sum::<u64>(), total);
            assert_eq!(fab.iter().map(|r| r.iter().sum::<u64>()).collect::<Vec<_>>(), fa);
            assert_eq!((0..3).map(|j| fab.iter().map(|r| r[j]).sum::<u64>()).collect::<Vec<_>>(), fb);
        }
    }
}
