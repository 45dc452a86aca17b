//! Small-number suppression for published two-way tables of counts (revisions by hospital ×
//! year, primaries by brand × age band), with secondary suppression so that no hidden count can
//! be worked out from the rest of the table and its totals.
//!
//! **Primary suppression.** Every count with 1 ≤ n < threshold (5 by NHS convention) is hidden,
//! among the cells and among the row totals, column totals and grand total alike. Zeros are
//! published, as NHS guidance generally allows; a zero is never hidden, so an attacker may take
//! every hidden count to be at least 1, and the protection below allows for that.
//!
//! **The extended table.** Adding the totals as a last row and column gives an (r+1)×(c+1)
//! table in which every line (row or column) says "the last entry is the sum of the others". A
//! hidden cell alone in its line is then given away by subtraction; but "at least two hidden per
//! line" is not enough either, since a cell can still be pinned by several lines together, or by
//! non-negativity (two hidden cells in a row whose visible remainder is 2 are both 1). So the
//! rule enforced here is the exact one behind both: every hidden cell lies on a *cycle* of hidden
//! cells (alternating row, column, row, … of the extended table) along which the table can be
//! changed by ±1 — adding 1 at one cell, taking 1 at the next, and so on round the cycle, with
//! the signs of totals reversed — keeping every line's sum, and keeping every hidden count at 1
//! or more. That changed table agrees with everything published, so no hidden cell is
//! determined, even by an attacker who solves the whole linear system over the integers knowing
//! that counts are non-negative and hidden ones positive. (It follows that every line with a
//! hidden cell has at least two.)
//!
//! **Secondary suppression.** The cells are visited in order (rows of the extended table, top
//! to bottom, left to right); for each hidden cell without such a cycle, the cycle that hides the
//! smallest total count is found (Dijkstra over the lines; already-hidden cells cost nothing;
//! ties go to fewer new cells, then to the earlier row or column) and its new cells are hidden.
//! One pass suffices: hiding more never spoils a cycle found earlier. A cycle through the cell's
//! row total, column total and grand total always exists, so the search always succeeds; in
//! practice it finds a cheaper one among the cells.
//!
//! **What is not promised.** The hidden value can move by 1 (at least in one direction), not by
//! a set protection margin; and an attacker who re-runs this algorithm on candidate tables might
//! learn more than the equations say. `tests/disclosure.rs` attacks the output: single-unknown
//! propagation, rank of the linear system, and exhaustive integer search on small tables.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Why a table could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    /// No rows, or rows without cells.
    #[error("the table has no cells")]
    Empty,
    /// A row of a different length from the first (row from 1).
    #[error("row {row} has {len} cells but row 1 has {expected}")]
    Ragged {
        /// The row, from 1.
        row: usize,
        /// Its length.
        len: usize,
        /// The first row's length.
        expected: usize,
    },
    /// A total does not fit in 64 bits.
    #[error("a total is too large to count")]
    Overflow,
}

/// One published entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The count, published as it is.
    Shown(u64),
    /// Hidden: either a small count or one hidden so that a small count cannot be worked out.
    /// Render it as a symbol with a footnote ("* fewer than 5, or hidden to protect a small
    /// number"), not as "<5": that would be untrue of secondary cells and would hand an
    /// attacker an upper bound.
    Suppressed,
}

/// A table ready to publish: its cells and totals, each shown or suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedTable {
    /// The cells, by row.
    pub cells: Vec<Vec<Cell>>,
    /// The row totals.
    pub row_totals: Vec<Cell>,
    /// The column totals.
    pub col_totals: Vec<Cell>,
    /// The grand total.
    pub grand_total: Cell,
}

impl SuppressedTable {
    /// How many entries (cells and totals) are suppressed.
    pub fn suppressed_count(&self) -> usize {
        self.cells
            .iter()
            .flatten()
            .chain(&self.row_totals)
            .chain(&self.col_totals)
            .chain(std::iter::once(&self.grand_total))
            .filter(|c| **c == Cell::Suppressed)
            .count()
    }
}

/// Suppresses every count (cells and totals) with 1 ≤ n < `threshold`, then enough others that
/// none of them can be recovered. See the module notes for the rule and what it guarantees.
pub fn suppress(counts: &[Vec<u64>], threshold: u64) -> Result<SuppressedTable, DisclosureError> {
    let table = Extended::new(counts)?;
    let mut hidden: Vec<Vec<bool>> =
        table.v.iter().map(|row| row.iter().map(|&n| n >= 1 && n < threshold).collect()).collect();
    for u in 0..table.v.len() {
        for w in 0..table.v[0].len() {
            if hidden[u][w] {
                for (r, c) in table.cheapest_cycle((u, w), &hidden) {
                    hidden[r][c] = true;
                }
            }
        }
    }
    let (rows, cols) = (counts.len(), counts[0].len());
    let cell = |r: usize, c: usize| if hidden[r][c] { Cell::Suppressed } else { Cell::Shown(table.v[r][c]) };
    Ok(SuppressedTable {
        cells: (0..rows).map(|r| (0..cols).map(|c| cell(r, c)).collect()).collect(),
        row_totals: (0..rows).map(|r| cell(r, cols)).collect(),
        col_totals: (0..cols).map(|c| cell(rows, c)).collect(),
        grand_total: cell(rows, cols),
    })
}

/// The table with its totals as a last row and column.
struct Extended {
    v: Vec<Vec<u64>>,
}

/// Total count hidden by a path, then how many cells it newly hides (compared in that order).
type Cost = (u128, usize);

impl Extended {
    fn new(counts: &[Vec<u64>]) -> Result<Self, DisclosureError> {
        let cols = counts.first().map_or(0, Vec::len);
        if cols == 0 {
            return Err(DisclosureError::Empty);
        }
        if let Some((i, row)) = counts.iter().enumerate().find(|(_, row)| row.len() != cols) {
            return Err(DisclosureError::Ragged { row: i + 1, len: row.len(), expected: cols });
        }
        let add = |a: u64, b: u64| a.checked_add(b).ok_or(DisclosureError::Overflow);
        let mut v: Vec<Vec<u64>> = Vec::with_capacity(counts.len() + 1);
        let mut bottom = vec![0u64; cols + 1];
        for row in counts {
            let mut ext = row.clone();
            ext.push(row.iter().try_fold(0, |s, &n| add(s, n))?);
            for (b, &n) in bottom.iter_mut().zip(&ext) {
                *b = add(*b, n)?;
            }
            v.push(ext);
        }
        v.push(bottom);
        Ok(Extended { v })
    }

    /// +1 for a cell or the grand total, −1 for a row or column total: the sign with which an
    /// entry enters the zero sums of its two lines (cells − total = 0, and for the totals'
    /// row and column, row totals − grand total = 0).
    fn sign(&self, r: usize, c: usize) -> i8 {
        let (last_r, last_c) = (r + 1 == self.v.len(), c + 1 == self.v[0].len());
        if last_r != last_c { -1 } else { 1 }
    }

    /// Whether entry (r, c) may take part in a ±1 change in which its count changes by `dx`:
    /// it must be positive (zeros are never hidden), and stay at 1 or more if it falls.
    fn may_move(&self, r: usize, c: usize, dx: i8) -> bool {
        let n = self.v[r][c];
        n >= 1 && (dx > 0 || n >= 2)
    }

    /// The entries to hide so that `e` lies on a cycle of hidden entries along which the table
    /// can change by ±1 (empty if it already does): the cheaper of the two directions.
    fn cheapest_cycle(&self, e: (usize, usize), hidden: &[Vec<bool>]) -> Vec<(usize, usize)> {
        let up = self.cheapest_path(e, 1, hidden);
        let down = if self.may_move(e.0, e.1, -1) { self.cheapest_path(e, -1, hidden) } else { None };
        let best = match (up, down) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        // A cycle through the entry's row total, column total and grand total (all at least as
        // large as the entry, so at least 1) always works upwards: every entry on it rises.
        let (_, path) = best.expect("the cycle through the totals always exists");
        path.into_iter().filter(|&(r, c)| !hidden[r][c]).collect()
    }

    /// Dijkstra from e's column to e's row, not through e, for the change `dx` (±1) at e. Lines
    /// are nodes: rows 0..=R, then columns. Going from a column to a row, an entry changes by the
    /// opposite of e's signed change; from a row to a column, by the same.
    fn cheapest_path(&self, e: (usize, usize), dx: i8, hidden: &[Vec<bool>]) -> Option<(Cost, Vec<(usize, usize)>)> {
        let (nr, nc) = (self.v.len(), self.v[0].len());
        let dy_e = dx * self.sign(e.0, e.1);
        let (start, goal) = (nr + e.1, e.0);
        let mut best: Vec<Option<Cost>> = vec![None; nr + nc];
        let mut from: Vec<Option<(usize, (usize, usize))>> = vec![None; nr + nc];
        let mut heap = BinaryHeap::new();
        best[start] = Some((0, 0));
        heap.push(Reverse(((0u128, 0usize), start)));
        while let Some(Reverse((cost, node))) = heap.pop() {
            if best[node] != Some(cost) {
                continue;
            }
            if node == goal {
                let mut path = Vec::new();
                let mut at = goal;
                while let Some((prev, entry)) = from[at] {
                    path.push(entry);
                    at = prev;
                }
                return Some((cost, path));
            }
            let (is_col, k) = if node >= nr { (true, node - nr) } else { (false, node) };
            let steps: Vec<(usize, (usize, usize))> = if is_col {
                (0..nr).map(|r| (r, (r, k))).collect()
            } else {
                (0..nc).map(|c| (nr + c, (k, c))).collect()
            };
            let dy = if is_col { -dy_e } else { dy_e };
            for (next, (r, c)) in steps {
                if (r, c) == e || !self.may_move(r, c, dy * self.sign(r, c)) {
                    continue;
                }
                let add: Cost = if hidden[r][c] { (0, 0) } else { (u128::from(self.v[r][c]), 1) };
                let cand = (cost.0 + add.0, cost.1 + add.1);
                if best[next].is_none_or(|b| cand < b) {
                    best[next] = Some(cand);
                    from[next] = Some((node, (r, c)));
                    heap.push(Reverse((cand, next)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Cell::Shown as S;

    #[test]
    fn a_table_without_small_counts_is_published_whole() {
        let t = suppress(&[vec![10, 0], vec![7, 12]], 5).unwrap();
        assert_eq!(t.cells, [[S(10), S(0)], [S(7), S(12)]]);
        assert_eq!((t.row_totals, t.col_totals, t.grand_total), (vec![S(10), S(19)], vec![S(17), S(12)], S(29)));
    }

    #[test]
    fn bad_tables_are_refused() {
        assert_eq!(suppress(&[], 5), Err(DisclosureError::Empty));
        assert_eq!(suppress(&[vec![1, 2], vec![3]], 5), Err(DisclosureError::Ragged { row: 2, len: 1, expected: 2 }));
        assert_eq!(suppress(&[vec![u64::MAX, 1]], 5), Err(DisclosureError::Overflow));
    }
}
