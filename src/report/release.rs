//! The release: the only place true counts become published numbers. Every chosen table gets
//! independent discrete Gaussian noise from `mechanism::noise` (each table has L2 sensitivity 1, so
//! each costs rho_t = 1 / (2 sigma_t^2) and the release costs their sum), and everything after the
//! noise is post-processing that makes the tables agree: the total first, then each one-way table
//! (summing to the total), then each two-way table (its margins equal to the one-way tables), then
//! the options of multiple-choice questions (summing to those who answered). The true counts are
//! dropped when `release` returns; a `StoredTable` holds released numbers only.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{
    catalogue::{Catalogue, DimKind, Tally},
    mechanism::{
        budget::{BudgetError, Rho, Scale, allocate},
        consistency::{
            Axis, FitError, NoisyTable, NoisyTwoWay, category_estimates, fit_one_way, fit_total, fit_two_way,
        },
        noise::{NoiseError, noisy_all},
    },
};

/// A released table as stored and served: category ids and released counts, never a true count.
/// The private field means no other module can build one; stored ones are read back with serde.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[expect(clippy::manual_non_exhaustive, reason = "non_exhaustive would still let the rest of the crate build one")]
pub struct StoredTable {
    pub id: String,
    pub question: String,
    pub option: Option<String>,
    /// The breakdown's dimension id (`month`, a question id) of a two-way table.
    pub by: Option<String>,
    pub rows: Vec<String>,
    /// Column categories of a two-way table; empty for a one-way table.
    pub cols: Vec<String>,
    /// Rows that are not an answer (prefer not to say, skipped, not asked).
    pub non_answer_rows: Vec<usize>,
    pub not_asked_row: Option<usize>,
    /// Released counts, row-major (rows × max(1, cols)); they sum to `row_totals`, `col_totals`, `total`.
    pub cells: Vec<u64>,
    pub row_totals: Vec<u64>,
    pub col_totals: Vec<u64>,
    /// The table's population: the release total, or (an option) those who answered its question.
    pub total: u64,
    /// The standard deviation of the noise added to each of this table's cells.
    pub noise_sd: f64,
    #[serde(skip)]
    _released: (),
}

#[cfg(test)]
impl StoredTable {
    /// A one-way table with given released cells, for rendering tests.
    pub(crate) fn for_test(
        id: &str,
        rows: &[&str],
        cells: Vec<u64>,
        non_answer_rows: Vec<usize>,
        noise_sd: f64,
    ) -> Self {
        Self {
            id: id.into(),
            question: id.into(),
            option: None,
            by: None,
            rows: rows.iter().map(|r| (*r).to_owned()).collect(),
            cols: vec![],
            non_answer_rows,
            not_asked_row: None,
            total: cells.iter().sum(),
            row_totals: cells.clone(),
            cells,
            col_totals: vec![],
            noise_sd,
            _released: (),
        }
    }
}

/// What a release publishes besides its tables.
pub struct Released {
    pub tables: Vec<StoredTable>,
    /// The released total and verified count (both noisy, consistent with every table).
    pub n: u64,
    pub verified: u64,
    /// The rho the noise actually cost (never more than requested).
    pub spent: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    Noise(#[from] NoiseError),
    #[error("post-processing failed: {0:?}")]
    Fit(FitError),
}

impl From<FitError> for ReleaseError {
    fn from(e: FitError) -> Self {
        Self::Fit(e)
    }
}

struct Measured {
    scale: Scale,
    noisy: Vec<i64>,
    rows: usize,
    cols: usize,
}

impl Measured {
    fn matrix(&self) -> Vec<Vec<i64>> {
        self.noisy.chunks(self.cols).map(<[i64]>::to_vec).collect()
    }
}

/// Noise every table of the tally with `rho` split evenly, then fit the published numbers.
pub fn release(catalogue: &Catalogue, tally: Tally, rho: Rho) -> Result<Released, ReleaseError> {
    let scales = allocate(rho, &vec![1.0; tally.tables.len()])?;
    let spent: f64 = scales.iter().map(Scale::rho).sum();
    let mut measured: HashMap<usize, Measured> = HashMap::new();
    for ((&t, counts), (scale, &(rows, cols))) in
        tally.tables.iter().zip(&tally.counts).zip(scales.into_iter().zip(&tally.shapes))
    {
        measured.insert(t, Measured { noisy: noisy_all(counts, &scale)?, scale, rows, cols });
    }
    drop(tally); // the true counts end here
    let chosen: BTreeSet<usize> = measured.keys().copied().collect();
    Fitter { catalogue, measured, one_way: HashMap::new(), two_way: HashMap::new() }.fit(&chosen, spent)
}

struct Fitter<'a> {
    catalogue: &'a Catalogue,
    measured: HashMap<usize, Measured>,
    /// Fitted one-way tables by dimension.
    one_way: HashMap<usize, Vec<u64>>,
    /// Fitted two-way tables by table index.
    two_way: HashMap<usize, Vec<Vec<u64>>>,
}

impl Fitter<'_> {
    fn one_way_table(&self, d: usize) -> usize {
        self.catalogue.table(&self.catalogue.dimensions[d].id).expect("every dimension has a one-way table")
    }

    fn is_option(&self, d: usize) -> bool {
        matches!(self.catalogue.dimensions[d].kind, DimKind::Option { .. })
    }

    /// The selected two-way tables with `d` as their row or column dimension.
    fn crossings(&self, d: usize, chosen: &BTreeSet<usize>) -> Vec<(usize, Axis)> {
        chosen
            .iter()
            .filter_map(|&t| {
                let spec = &self.catalogue.tables[t];
                match spec.col {
                    Some(_) if spec.row == d => Some((t, Axis::Rows)),
                    Some(c) if c == d && !self.is_option(spec.row) => Some((t, Axis::Cols)),
                    _ => None,
                }
            })
            .collect()
    }

    fn fit_dimension(&mut self, d: usize, total: u64, chosen: &BTreeSet<usize>) -> Result<(), ReleaseError> {
        let own = &self.measured[&self.one_way_table(d)];
        let matrices: Vec<(Vec<Vec<i64>>, f64, Axis)> = self
            .crossings(d, chosen)
            .into_iter()
            .map(|(t, axis)| (self.measured[&t].matrix(), self.measured[&t].scale.sigma2(), axis))
            .collect();
        let two_ways: Vec<NoisyTwoWay<'_>> =
            matrices.iter().map(|(cells, sigma2, axis)| NoisyTwoWay { cells, sigma2: *sigma2, axis: *axis }).collect();
        let estimates = category_estimates(&NoisyTable { cells: &own.noisy, sigma2: own.scale.sigma2() }, &two_ways)?;
        let fitted = fit_one_way(&estimates.iter().map(|(x, _)| *x).collect::<Vec<_>>(), total)?;
        self.one_way.insert(d, fitted);
        Ok(())
    }

    fn fit_crossing(&mut self, t: usize, cols: Vec<u64>) -> Result<(), ReleaseError> {
        let spec = &self.catalogue.tables[t];
        let m = &self.measured[&t];
        let noisy: Vec<Vec<f64>> = m.matrix().iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect();
        let fitted = fit_two_way(&noisy, &self.one_way[&spec.row], &cols)?;
        self.two_way.insert(t, fitted);
        Ok(())
    }

    fn fit(mut self, chosen: &BTreeSet<usize>, spent: f64) -> Result<Released, ReleaseError> {
        let cat = self.catalogue;
        let whole: Vec<usize> =
            chosen.iter().map(|&t| &cat.tables[t]).filter(|s| s.col.is_none()).map(|s| s.row).collect();
        let (population, options): (Vec<usize>, Vec<usize>) =
            whole.iter().filter(|&&d| cat.dimensions[d].kind != DimKind::Total).partition(|&&d| !self.is_option(d));
        // 1. The total: its own noisy cell and the sum of every one-way table over everyone.
        let n_table = &self.measured[&self.one_way_table(0)];
        let sums: Vec<NoisyTable<'_>> = population
            .iter()
            .map(|&d| {
                let m = &self.measured[&self.one_way_table(d)];
                NoisyTable { cells: &m.noisy, sigma2: m.scale.sigma2() }
            })
            .collect();
        let n = fit_total(n_table.noisy[0], n_table.scale.sigma2(), &sums);
        self.one_way.insert(0, vec![n]);
        // 2. One-way tables over everyone, each summing to the total.
        for &d in &population {
            self.fit_dimension(d, n, chosen)?;
        }
        // 3. Their crossings, with those one-way tables as margins.
        for &t in chosen {
            let spec = &cat.tables[t];
            if let Some(c) = spec.col.filter(|_| !self.is_option(spec.row)) {
                self.fit_crossing(t, self.one_way[&c].clone())?;
            }
        }
        // 4. Options among those who answered their question, then their crossings, whose columns
        //    are the `answered` row of the question's own crossing.
        for &d in &options {
            let DimKind::Option { parent } = cat.dimensions[d].kind else { unreachable!("partitioned above") };
            self.fit_dimension(d, self.one_way[&parent][0], chosen)?;
        }
        for &t in chosen {
            let spec = &cat.tables[t];
            if let (Some(c), DimKind::Option { parent }) = (spec.col, cat.dimensions[spec.row].kind) {
                let parent_table = cat
                    .table(&format!("{}~{}", cat.dimensions[parent].id, cat.dimensions[c].id))
                    .expect("closure includes the question's crossing");
                let answered_row = self.two_way[&parent_table][0].clone();
                self.fit_crossing(t, answered_row)?;
            }
        }
        let verified = self.one_way.get(&1).map_or(0, |v| v[0]);
        let tables = chosen.iter().map(|&t| self.stored(t)).collect();
        Ok(Released { tables, n, verified, spent })
    }

    fn stored(&self, t: usize) -> StoredTable {
        let cat = self.catalogue;
        let spec = &cat.tables[t];
        let row = &cat.dimensions[spec.row];
        let col = spec.col.map(|c| &cat.dimensions[c]);
        let m = &self.measured[&t];
        let (cells, row_totals, col_totals) = match spec.col {
            None => {
                let cells = self.one_way[&spec.row].clone();
                (cells.clone(), cells, vec![])
            }
            Some(_) => {
                let matrix = &self.two_way[&t];
                let rows: Vec<u64> = matrix.iter().map(|r| r.iter().sum()).collect();
                let cols: Vec<u64> = (0..m.cols).map(|j| matrix.iter().map(|r| r[j]).sum()).collect();
                (matrix.iter().flatten().copied().collect(), rows, cols)
            }
        };
        debug_assert_eq!(cells.len(), m.rows * m.cols);
        StoredTable {
            id: spec.id.clone(),
            question: row.question.clone(),
            option: row.option.clone(),
            by: col.map(|c| c.id.clone()),
            rows: row.categories.clone(),
            cols: col.map(|c| c.categories.clone()).unwrap_or_default(),
            non_answer_rows: row.non_answers.clone(),
            not_asked_row: row.not_asked,
            total: row_totals.iter().sum(),
            cells,
            row_totals,
            col_totals,
            noise_sd: m.scale.sigma(),
            _released: (),
        }
    }
}
