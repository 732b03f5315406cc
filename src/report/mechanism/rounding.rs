//! Integer rounding that keeps sums exact: a published table must add up to the
//! published total, and a two-way table to its published margins.
//! Deterministic, so the same noisy inputs always give the same release.

/// Indices ordered by descending key, lower index first on ties, so the result
/// never depends on the sort's internal order.
fn order_by_desc(keys: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
    order
}

/// Largest-remainder rounding of non-negative reals to integers summing to
/// `total`. The loops cycle only if float error put the sum off by more than the
/// cell count, which keeps the function total (always exact) rather than assuming.
pub(super) fn round_to_sum(values: &[f64], total: u64) -> Vec<u64> {
    let mut out: Vec<u64> = values.iter().map(|v| v.max(0.0).floor() as u64).collect();
    let frac: Vec<f64> = values.iter().zip(&out).map(|(v, &f)| v.max(0.0) - f as f64).collect();
    let floor_sum: u128 = out.iter().map(|&x| u128::from(x)).sum();
    if floor_sum < u128::from(total) {
        let mut missing = u128::from(total) - floor_sum;
        let order = order_by_desc(&frac);
        for &i in order.iter().cycle() {
            if missing == 0 {
                break;
            }
            out[i] += 1;
            missing -= 1;
        }
    } else {
        let mut excess = floor_sum - u128::from(total);
        // Take back from the cells that lost least by flooring, i.e. smallest
        // remainder first: the reverse of the order used for adding.
        let order: Vec<usize> = order_by_desc(&frac.iter().map(|f| -f).collect::<Vec<_>>());
        while excess > 0 {
            for &i in &order {
                if excess > 0 && out[i] > 0 {
                    out[i] -= 1;
                    excess -= 1;
                }
            }
        }
    }
    out
}

/// Residual graph for min-cost flow; edge `e ^ 1` is the reverse of edge `e`.
struct Graph {
    to: Vec<usize>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    adj: Vec<Vec<usize>>,
}

impl Graph {
    fn new(nodes: usize) -> Graph {
        Graph { to: vec![], cap: vec![], cost: vec![], adj: vec![vec![]; nodes] }
    }

    fn add_edge(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
        let id = self.to.len();
        for (a, b, c, k) in [(from, to, cap, cost), (to, from, 0, -cost)] {
            self.adj[a].push(self.to.len());
            self.to.push(b);
            self.cap.push(c);
            self.cost.push(k);
        }
        id
    }

    /// Successive shortest paths with Bellman-Ford (costs may be negative; the
    /// initial graph is acyclic and SSP keeps the residual free of negative
    /// cycles). Integer costs keep that invariant exact. Each path carries one
    /// unit because the cell edges have capacity 1.
    fn min_cost_flow(&mut self, source: usize, sink: usize) -> i64 {
        let n = self.adj.len();
        let mut flow = 0;
        loop {
            let mut dist = vec![i64::MAX; n];
            let mut via = vec![usize::MAX; n];
            dist[source] = 0;
            for _ in 0..n {
                let mut changed = false;
                for u in 0..n {
                    if dist[u] == i64::MAX {
                        continue;
                    }
                    for &e in &self.adj[u] {
                        let v = self.to[e];
                        if self.cap[e] > 0 && dist[u] + self.cost[e] < dist[v] {
                            dist[v] = dist[u] + self.cost[e];
                            via[v] = e;
                            changed = true;
                        }
                    }
                }
                if !changed {
                    break;
                }
            }
            if dist[sink] == i64::MAX {
                return flow;
            }
            let mut push = i64::MAX;
            let mut v = sink;
            while v != source {
                push = push.min(self.cap[via[v]]);
                v = self.to[via[v] ^ 1];
            }
            let mut v = sink;
            while v != source {
                self.cap[via[v]] -= push;
                self.cap[via[v] ^ 1] += push;
                v = self.to[via[v] ^ 1];
            }
            flow += push;
        }
    }
}

/// Fixed-point unit for rounding costs: 1e-9 resolution is far finer than any
/// difference that matters, and integers make the flow algorithm exact.
const COST_UNIT: f64 = 1e9;

/// Controlled rounding of a non-negative real matrix whose margins are (close to)
/// `rows`/`cols`: the result has exactly those integer margins.
///
/// Every cell starts at its floor; the integer row/column deficits are filled by
/// +1s chosen by min-cost flow, where +1 on a cell costs (1 - 2 frac), the change
/// in squared error from rounding it up instead of down. When the margins are
/// exact the matrix-rounding theorem (Bacharach 1966) guarantees a floor/ceil
/// solution, so the flow saturates; the fallback below only absorbs float error.
pub(super) fn round_matrix(y: &[Vec<f64>], rows: &[u64], cols: &[u64]) -> Vec<Vec<u64>> {
    let (m, n) = (rows.len(), cols.len());
    let mut out: Vec<Vec<u64>> = y.iter().map(|r| r.iter().map(|v| v.max(0.0).floor() as u64).collect()).collect();
    let frac = |i: usize, j: usize, out: &Vec<Vec<u64>>| y[i][j].max(0.0) - out[i][j] as f64;

    // Float error may leave a row or column floor-sum above its target; take
    // units back (smallest remainder first) so every deficit is non-negative.
    // Fixing columns after rows only raises row deficits, so both end >= 0.
    for i in 0..m {
        while out[i].iter().map(|&x| u128::from(x)).sum::<u128>() > u128::from(rows[i]) {
            let j = (0..n)
                .filter(|&j| out[i][j] > 0)
                .min_by(|&a, &b| frac(i, a, &out).total_cmp(&frac(i, b, &out)).then(a.cmp(&b)))
                .expect("a row summing above its target has a positive cell");
            out[i][j] -= 1;
        }
    }
    for j in 0..n {
        while (0..m).map(|i| u128::from(out[i][j])).sum::<u128>() > u128::from(cols[j]) {
            let i = (0..m)
                .filter(|&i| out[i][j] > 0)
                .min_by(|&a, &b| frac(a, j, &out).total_cmp(&frac(b, j, &out)).then(a.cmp(&b)))
                .expect("a column summing above its target has a positive cell");
            out[i][j] -= 1;
        }
    }

    let row_deficit: Vec<u64> = (0..m).map(|i| rows[i] - out[i].iter().sum::<u64>()).collect();
    let col_deficit: Vec<u64> = (0..n).map(|j| cols[j] - (0..m).map(|i| out[i][j]).sum::<u64>()).collect();

    let (source, sink) = (m + n, m + n + 1);
    let mut graph = Graph::new(m + n + 2);
    for (i, &d) in row_deficit.iter().enumerate() {
        graph.add_edge(source, i, d.min(n as u64) as i64, 0);
    }
    for (j, &d) in col_deficit.iter().enumerate() {
        graph.add_edge(m + j, sink, d.min(m as u64) as i64, 0);
    }
    let mut cell_edges = Vec::with_capacity(m * n);
    for (i, &need_r) in row_deficit.iter().enumerate() {
        for (j, &need_c) in col_deficit.iter().enumerate() {
            // Only cells whose row and column both still need units can take one,
            // so zero margins stay structurally zero.
            if need_r > 0 && need_c > 0 {
                let cost = ((1.0 - 2.0 * frac(i, j, &out)) * COST_UNIT).round() as i64;
                cell_edges.push((i, j, graph.add_edge(i, m + j, 1, cost)));
            }
        }
    }
    graph.min_cost_flow(source, sink);
    let mut row_left = row_deficit;
    let mut col_left = col_deficit;
    for (i, j, e) in cell_edges {
        if graph.cap[e] == 0 {
            out[i][j] += 1;
            row_left[i] -= 1;
            col_left[j] -= 1;
        }
    }

    // Fallback for float-inexact margins: north-west corner rule on what is left.
    // Both residuals sum to the same total and are positive only on rows/columns
    // with positive margins, so this always completes and stays non-negative.
    let (mut i, mut j) = (0, 0);
    while i < m && j < n {
        let step = row_left[i].min(col_left[j]);
        out[i][j] += step;
        row_left[i] -= step;
        col_left[j] -= step;
        if row_left[i] == 0 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_breaks_ties_by_index() {
        assert_eq!(round_to_sum(&[0.5, 0.5, 0.5, 0.5], 2), vec![1, 1, 0, 0]);
        assert_eq!(round_to_sum(&[1.2, 0.7, 0.1], 2), vec![1, 1, 0]);
    }

    #[test]
    fn largest_remainder_survives_sums_off_by_float_error() {
        assert_eq!(round_to_sum(&[1.0000001, 1.0000001, 0.9999], 2), vec![1, 1, 0]);
        assert_eq!(round_to_sum(&[0.1, 0.1], 5), vec![3, 2]);
    }

    #[test]
    fn matrix_rounding_prefers_large_remainders() {
        let y = vec![vec![0.9, 0.1], vec![0.1, 0.9]];
        assert_eq!(round_matrix(&y, &[1, 1], &[1, 1]), vec![vec![1, 0], vec![0, 1]]);
    }

    #[test]
    fn matrix_rounding_falls_back_when_margins_are_far_off() {
        let y = vec![vec![0.0, 0.0], vec![0.0, 0.0]];
        let out = round_matrix(&y, &[3, 5], &[6, 2]);
        assert_eq!(out.iter().map(|r| r.iter().sum::<u64>()).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!((0..2).map(|j| out[0][j] + out[1][j]).collect::<Vec<_>>(), vec![6, 2]);
    }
}
