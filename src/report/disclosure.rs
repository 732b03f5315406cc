//! Disclosure control: the only place a [`ReleasedTable`] can be made. Primary suppression of small
//! counts, the zero rule, complementary suppression along every line (rows, columns and margins),
//! whole-table withholding under a minimum total, and optional unbiased random rounding to base 5
//! whose randomness comes from a keyed hash, so regenerating a table never moves a figure.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The rules of one snapshot.
#[derive(Clone)]
pub struct Rules {
    /// Counts with 0 < n < k are never released.
    pub k: u64,
    /// Tables whose total is under this are withheld whole.
    pub min_total: u64,
    /// When set, released counts are rounded to base 5 with randomness from HMAC(key, table ‖ cell).
    pub rounding_key: Option<[u8; 32]>,
}

pub const K_FLOOR: u64 = 5;
pub const MIN_TABLE_TOTAL: u64 = 30;

/// A table fit for release. It holds released values only; the true counts never leave `control`.
/// The private `_sealed` field means no other module can build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleasedTable {
    pub rows: usize,
    pub cols: usize,
    /// The whole table is withheld (its total is under the minimum, or no safe pattern existed).
    pub withheld: bool,
    /// Interior cells, row-major; `None` when suppressed.
    pub cells: Vec<Option<u64>>,
    /// Two-way tables only: row and column totals.
    pub row_totals: Vec<Option<u64>>,
    pub col_totals: Vec<Option<u64>>,
    pub total: Option<u64>,
    _sealed: (),
}

/// The grid of a table: interior cells, then (two-way) row totals, column totals, grand total.
struct Grid {
    values: Vec<u64>,
    lines: Vec<Vec<usize>>,
    /// For each line, which of its members is its total (always the last).
    grand: usize,
    interior: usize,
}

impl Grid {
    fn new(counts: &[u64], rows: usize, cols: usize) -> Self {
        let interior = rows * cols;
        let mut values = counts.to_vec();
        let mut lines = Vec::new();
        if cols == 1 {
            let grand = values.len();
            values.push(counts.iter().sum());
            lines.push((0..=rows).map(|i| if i == rows { grand } else { i }).collect());
            return Self { values, lines, grand, interior };
        }
        let row_total = |r: usize| interior + r;
        let col_total = |c: usize| interior + rows + c;
        let grand = interior + rows + cols;
        for r in 0..rows {
            values.push((0..cols).map(|c| counts[r * cols + c]).sum());
        }
        for c in 0..cols {
            values.push((0..rows).map(|r| counts[r * cols + c]).sum());
        }
        values.push(counts.iter().sum());
        for r in 0..rows {
            lines.push((0..cols).map(|c| r * cols + c).chain([row_total(r)]).collect());
        }
        for c in 0..cols {
            lines.push((0..rows).map(|r| r * cols + c).chain([col_total(c)]).collect());
        }
        lines.push((0..cols).map(col_total).chain([grand]).collect());
        lines.push((0..rows).map(row_total).chain([grand]).collect());
        Self { values, lines, grand, interior }
    }
}

/// Apply disclosure control to one table of true counts (`rows × cols`, row-major; `cols == 1` for a
/// one-way table). `table_key` names the table for the rounding randomness.
pub fn control(counts: &[u64], rows: usize, cols: usize, rules: &Rules, table_key: &str) -> ReleasedTable {
    assert_eq!(counts.len(), rows * cols, "counts must fill the table");
    let k = rules.k.max(K_FLOOR);
    let grid = Grid::new(counts, rows, cols);
    let withheld = |rows, cols| ReleasedTable {
        rows,
        cols,
        withheld: true,
        cells: vec![None; rows * cols],
        row_totals: if cols > 1 { vec![None; rows] } else { vec![] },
        col_totals: if cols > 1 { vec![None; cols] } else { vec![] },
        total: None,
        _sealed: (),
    };
    if grid.values[grid.grand] < rules.min_total.max(MIN_TABLE_TOTAL) {
        return withheld(rows, cols);
    }
    let n = grid.values.len();
    let mut suppressed: Vec<bool> = grid.values.iter().map(|&v| v > 0 && v < k).collect();
    suppressed[grid.grand] = false;
    // A zero is shown only where every line through it has a total of at least k.
    for line in &grid.lines {
        let total = grid.values[*line.last().expect("a line has a total")];
        if total < k {
            for &i in &line[..line.len() - 1] {
                if i < grid.interior && grid.values[i] == 0 {
                    suppressed[i] = true;
                }
            }
        }
    }
    // Complementary suppression until every line is safe.
    let crossing = |i: usize, lines: &[Vec<usize>]| lines.iter().filter(|l| l.contains(&i)).count();
    loop {
        let mut changed = false;
        for line in &grid.lines {
            let total_cell = *line.last().expect("a line has a total");
            let members = &line[..line.len() - 1];
            let hidden: Vec<usize> = line.iter().copied().filter(|&i| suppressed[i]).collect();
            let hidden_sum: u64 = members.iter().filter(|&&i| suppressed[i]).map(|&i| grid.values[i]).sum();
            let needs_more = hidden.len() == 1 || (!hidden.is_empty() && !suppressed[total_cell] && hidden_sum < k);
            if !needs_more {
                continue;
            }
            // Prefer the smallest non-zero count (it protects the sum), then one whose crossing line
            // already hides something (it protects two lines at once).
            let candidate = line.iter().copied().filter(|&i| !suppressed[i] && i != grid.grand).min_by_key(|&i| {
                let v = grid.values[i];
                let already =
                    grid.lines.iter().any(|l| l.contains(&i) && l.iter().any(|&j| suppressed[j]) && l != line);
                (v == 0, v, !already, crossing(i, &grid.lines))
            });
            match candidate {
                Some(i) => {
                    suppressed[i] = true;
                    changed = true;
                }
                None => return withheld(rows, cols),
            }
        }
        if !changed {
            break;
        }
    }
    let released: Vec<Option<u64>> = (0..n)
        .map(|i| {
            (!suppressed[i]).then(|| match &rules.rounding_key {
                Some(key) => round5(grid.values[i], key, table_key, i),
                None => grid.values[i],
            })
        })
        .collect();
    let interior = grid.interior;
    ReleasedTable {
        rows,
        cols,
        withheld: false,
        cells: released[..interior].to_vec(),
        row_totals: if cols > 1 { released[interior..interior + rows].to_vec() } else { vec![] },
        col_totals: if cols > 1 { released[interior + rows..interior + rows + cols].to_vec() } else { vec![] },
        total: released[grid.grand],
        _sealed: (),
    }
}

/// Disclosure control for a two-way table whose margins are published elsewhere: its row totals are
/// the one-way table of the row question, its column totals the one-way table of the breakdown.
/// Suppressing each table on its own would let one table undo another (a count hidden in the one-way
/// table could be recovered by adding up a row here), so the margins are taken as released there —
/// hidden where they are hidden — and only interior cells are suppressed here, until every row and
/// column is safe against its (released or hidden) total.
pub fn control_linked(
    counts: &[u64],
    rows: usize,
    cols: usize,
    rules: &Rules,
    table_key: &str,
    row_margin: &ReleasedTable,
    col_margin: &ReleasedTable,
) -> ReleasedTable {
    assert_eq!(counts.len(), rows * cols, "counts must fill the table");
    assert!(row_margin.cells.len() == rows && col_margin.cells.len() == cols, "margins must match the table");
    let withheld = ReleasedTable {
        rows,
        cols,
        withheld: true,
        cells: vec![None; rows * cols],
        row_totals: vec![None; rows],
        col_totals: vec![None; cols],
        total: None,
        _sealed: (),
    };
    if row_margin.withheld || col_margin.withheld || row_margin.total.is_none() {
        return withheld;
    }
    let k = rules.k.max(K_FLOOR);
    let cell = |r: usize, c: usize| r * cols + c;
    // Lines: each row and each column, with whether its total is released and its true total.
    let mut lines: Vec<(Vec<usize>, bool, u64)> = Vec::with_capacity(rows + cols);
    for r in 0..rows {
        let members: Vec<usize> = (0..cols).map(|c| cell(r, c)).collect();
        let total = members.iter().map(|&i| counts[i]).sum();
        lines.push((members, row_margin.cells[r].is_some(), total));
    }
    for c in 0..cols {
        let members: Vec<usize> = (0..rows).map(|r| cell(r, c)).collect();
        let total = members.iter().map(|&i| counts[i]).sum();
        lines.push((members, col_margin.cells[c].is_some(), total));
    }
    let mut suppressed: Vec<bool> = counts.iter().map(|&v| v > 0 && v < k).collect();
    for (members, _, total) in &lines {
        if *total < k {
            for &i in members {
                if counts[i] == 0 {
                    suppressed[i] = true;
                }
            }
        }
    }
    loop {
        let mut changed = false;
        for (line, (members, total_released, total)) in lines.iter().enumerate() {
            let hidden = members.iter().filter(|&&i| suppressed[i]).count();
            let hidden_sum: u64 = members.iter().filter(|&&i| suppressed[i]).map(|&i| counts[i]).sum();
            let needs_more = if *total_released {
                hidden == 1 || (hidden > 0 && hidden_sum < k)
            } else {
                // The total is hidden in its own table: releasing the whole line would give it away.
                hidden == 0 && *total > 0
            };
            if !needs_more {
                continue;
            }
            let candidate = members.iter().copied().filter(|&i| !suppressed[i]).min_by_key(|&i| {
                let crossing_hides = lines
                    .iter()
                    .enumerate()
                    .any(|(l, (m, _, _))| l != line && m.contains(&i) && m.iter().any(|&j| suppressed[j]));
                (counts[i] == 0, counts[i], !crossing_hides)
            });
            match candidate {
                Some(i) => {
                    suppressed[i] = true;
                    changed = true;
                }
                None => return withheld,
            }
        }
        if !changed {
            break;
        }
    }
    ReleasedTable {
        rows,
        cols,
        withheld: false,
        cells: (0..rows * cols)
            .map(|i| {
                (!suppressed[i]).then(|| match &rules.rounding_key {
                    Some(key) => round5(counts[i], key, table_key, i),
                    None => counts[i],
                })
            })
            .collect(),
        row_totals: row_margin.cells.clone(),
        col_totals: col_margin.cells.clone(),
        total: row_margin.total,
        _sealed: (),
    }
}

/// Unbiased random rounding to base 5: a count with remainder r goes up with probability r/5. The
/// "random" draw is HMAC-SHA256(key, table ‖ cell), so the same table always rounds the same way and
/// re-running a report cannot be averaged to recover true counts.
fn round5(v: u64, key: &[u8; 32], table: &str, cell: usize) -> u64 {
    let r = v % 5;
    if r == 0 {
        return v;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(table.as_bytes());
    mac.update(&[0]);
    mac.update(&(cell as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let draw = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 5;
    if draw < r { v - r + 5 } else { v - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules { k: 10, min_total: 30, rounding_key: None }
    }

    #[test]
    fn small_cells_and_their_complements_are_hidden() {
        // 3 is primary; the line then needs a second cell, and the hidden cells must sum to 10 or more.
        let t = control(&[40, 3, 12, 25], 4, 1, &rules(), "t");
        assert_eq!(t.cells, vec![Some(40), None, None, Some(25)]);
        assert_eq!(t.total, Some(80));
    }

    #[test]
    fn small_tables_are_withheld() {
        let t = control(&[20, 9], 2, 1, &rules(), "t");
        assert!(t.withheld && t.cells.iter().all(Option::is_none) && t.total.is_none());
    }

    #[test]
    fn zeros_show_only_on_lines_of_k_or_more() {
        let t = control(&[0, 50], 2, 1, &rules(), "t");
        assert_eq!(t.cells, vec![Some(0), Some(50)]);
        // Two-way: the zero in a column whose total is 4 would tell that all 4 sit in the other row.
        let t = control(&[0, 30, 4, 30], 2, 2, &rules(), "t");
        assert_eq!(t.cells[0], None);
    }

    #[test]
    fn rounding_is_deterministic_and_to_base_five() {
        let r = Rules { rounding_key: Some([7; 32]), ..rules() };
        let a = control(&[41, 57, 33], 3, 1, &r, "t");
        let b = control(&[41, 57, 33], 3, 1, &r, "t");
        assert_eq!(a, b);
        assert!(a.cells.iter().flatten().chain(a.total.iter()).all(|v| v % 5 == 0));
        assert!(a.cells.iter().flatten().zip([41, 57, 33]).all(|(r, t)| r.abs_diff(t) < 5));
    }

    #[test]
    fn unbiased_rounding_averages_to_the_truth() {
        let key = [3u8; 32];
        let total: u64 = (0..10_000).map(|i| round5(12, &key, "t", i)).sum();
        let mean = total as f64 / 10_000.0;
        assert!((mean - 12.0).abs() < 0.1, "{mean}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Counts shaped like survey tables: many small cells, some zeros, a few large ones.
    fn table() -> impl Strategy<Value = (Vec<u64>, usize, usize)> {
        (1usize..7, 1usize..6).prop_flat_map(|(rows, cols)| {
            let cell = prop_oneof![3 => Just(0u64), 5 => 1u64..10, 4 => 10u64..60, 1 => 60u64..400];
            (proptest::collection::vec(cell, rows * cols), Just(rows), Just(cols))
        })
    }

    /// A line: its members as (true, released), then its total as true and released.
    type Line = (Vec<(u64, Option<u64>)>, u64, Option<u64>);

    fn lines(counts: &[u64], rows: usize, cols: usize, t: &ReleasedTable) -> Vec<Line> {
        let mut out = Vec::new();
        let cell = |r: usize, c: usize| (counts[r * cols + c], t.cells[r * cols + c]);
        let grand = counts.iter().sum();
        if cols == 1 {
            out.push(((0..rows).map(|r| cell(r, 0)).collect(), grand, t.total));
            return out;
        }
        let row_true: Vec<u64> = (0..rows).map(|r| (0..cols).map(|c| counts[r * cols + c]).sum()).collect();
        let col_true: Vec<u64> = (0..cols).map(|c| (0..rows).map(|r| counts[r * cols + c]).sum()).collect();
        for (r, (total, released)) in row_true.iter().zip(&t.row_totals).enumerate() {
            out.push(((0..cols).map(|c| cell(r, c)).collect(), *total, *released));
        }
        for (c, (total, released)) in col_true.iter().zip(&t.col_totals).enumerate() {
            out.push(((0..rows).map(|r| cell(r, c)).collect(), *total, *released));
        }
        out.push((col_true.iter().zip(&t.col_totals).map(|(v, r)| (*v, *r)).collect(), grand, t.total));
        out.push((row_true.iter().zip(&t.row_totals).map(|(v, r)| (*v, *r)).collect(), grand, t.total));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn nothing_small_is_released_and_nothing_hidden_is_recoverable((counts, rows, cols) in table(), k in 5u64..15) {
            let rules = Rules { k, min_total: 30, rounding_key: None };
            let t = control(&counts, rows, cols, &rules, "t");
            let grand: u64 = counts.iter().sum();
            if grand < 30 {
                prop_assert!(t.withheld);
            }
            if t.withheld {
                prop_assert!(t.cells.iter().chain(&t.row_totals).chain(&t.col_totals).all(Option::is_none) && t.total.is_none());
                return Ok(());
            }
            for v in t.cells.iter().chain(&t.row_totals).chain(&t.col_totals).chain([&t.total]).flatten() {
                prop_assert!(*v == 0 || *v >= k, "released {v} below k={k}");
            }
            for (members, total_true, total_released) in lines(&counts, rows, cols, &t) {
                let hidden: Vec<u64> = members.iter().filter(|(_, r)| r.is_none()).map(|(v, _)| *v).collect();
                let hidden_total = usize::from(total_released.is_none());
                // A line with its total known and one hidden cell gives that cell away by subtraction.
                prop_assert!(hidden.len() + hidden_total != 1, "a line with exactly one hidden value");
                if total_released.is_some() && !hidden.is_empty() {
                    prop_assert!(hidden.iter().sum::<u64>() >= k, "hidden cells of a line sum to under k");
                }
                // A zero is shown only on lines of k or more.
                if members.iter().any(|(v, r)| *v == 0 && *r == Some(0)) {
                    prop_assert!(total_true >= k);
                }
                // What is released is the truth (no rounding here).
                for (v, r) in &members {
                    if let Some(r) = r { prop_assert_eq!(r, v); }
                }
            }
        }

        #[test]
        fn linked_tables_cannot_undo_each_other((counts, rows, cols) in table(), k in 5u64..15) {
            prop_assume!(cols > 1);
            let rules = Rules { k, min_total: 30, rounding_key: None };
            let row_true: Vec<u64> = (0..rows).map(|r| (0..cols).map(|c| counts[r * cols + c]).sum()).collect();
            let col_true: Vec<u64> = (0..cols).map(|c| (0..rows).map(|r| counts[r * cols + c]).sum()).collect();
            let by_row = control(&row_true, rows, 1, &rules, "rows");
            let by_col = control(&col_true, cols, 1, &rules, "cols");
            let t = control_linked(&counts, rows, cols, &rules, "both", &by_row, &by_col);
            if t.withheld {
                return Ok(());
            }
            prop_assert_eq!(&t.row_totals, &by_row.cells);
            prop_assert_eq!(&t.col_totals, &by_col.cells);
            for v in t.cells.iter().flatten() {
                prop_assert!(*v == 0 || *v >= k);
            }
            let lines = (0..rows)
                .map(|r| ((0..cols).map(|c| r * cols + c).collect::<Vec<_>>(), by_row.cells[r], row_true[r]))
                .chain((0..cols).map(|c| ((0..rows).map(|r| r * cols + c).collect::<Vec<_>>(), by_col.cells[c], col_true[c])));
            for (members, total_released, total) in lines {
                let hidden: Vec<u64> = members.iter().filter(|&&i| t.cells[i].is_none()).map(|&i| counts[i]).collect();
                match total_released {
                    // A released total with one hidden cell gives the cell away; several must hide k or more.
                    Some(_) => {
                        prop_assert!(hidden.len() != 1);
                        prop_assert!(hidden.is_empty() || hidden.iter().sum::<u64>() >= k);
                    }
                    // A total hidden in its own table must not be recoverable by adding up this line.
                    None => prop_assert!(total == 0 || !hidden.is_empty()),
                }
            }
        }

        #[test]
        fn regenerating_gives_identical_output((counts, rows, cols) in table(), key in any::<[u8; 32]>()) {
            let rules = Rules { k: 10, min_total: 30, rounding_key: Some(key) };
            let a = control(&counts, rows, cols, &rules, "q.age~region");
            let b = control(&counts, rows, cols, &rules, "q.age~region");
            prop_assert_eq!(&a, &b);
            let plain = control(&counts, rows, cols, &Rules { rounding_key: None, ..rules }, "q.age~region");
            // Rounding changes values, never which cells are hidden, and moves each by less than 5.
            for (r, p) in a.cells.iter().zip(&plain.cells) {
                prop_assert_eq!(r.is_some(), p.is_some());
                if let (Some(r), Some(p)) = (r, p) {
                    prop_assert!(r % 5 == 0 && r.abs_diff(*p) < 5);
                }
            }
        }
    }
}
