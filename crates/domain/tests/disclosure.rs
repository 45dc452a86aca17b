//! Small-number suppression, attacked. Three attackers read only what is published (shown
//! cells, shown totals, which entries are hidden) plus what is public about the method: counts
//! are non-negative integers, and zeros are always shown, so every hidden entry is at least 1.
//!
//! - `propagate`: the "single unknown" attack — any row or column of the table-with-totals with
//!   one hidden entry gives it away by subtraction; repeat until nothing changes.
//! - `linear_rank`: the whole linear system (exact elimination on the ±1 equations): an entry is
//!   determined over the reals if its unit vector lies in the row space.
//! - `exhaustive`: for tables of up to 3×3, every integer table consistent with the publication
//!   (hidden entries ≥ 1) is searched; an entry with only one possible value is disclosed.
//!
//! The property tests assert that no hidden entry is determined by any of them (not only those
//! with true values 1–4), and check the attackers on published tables that *do* leak.

use Cell::{Shown as S, Suppressed as X};
use proptest::prelude::*;
use tessera_domain::disclosure::{Cell, SuppressedTable, suppress};

const T: u64 = 5;

/// A publication as the attacker holds it: the table with totals as a last row and column,
/// `None` where hidden.
type Published = Vec<Vec<Option<u64>>>;

fn published(t: &SuppressedTable) -> Published {
    let get = |c: &Cell| match c {
        Cell::Shown(n) => Some(*n),
        Cell::Suppressed => None,
    };
    let mut rows: Published = t
        .cells
        .iter()
        .zip(&t.row_totals)
        .map(|(row, total)| row.iter().chain(std::iter::once(total)).map(get).collect())
        .collect();
    rows.push(t.col_totals.iter().chain(std::iter::once(&t.grand_total)).map(get).collect());
    rows
}

fn extended(counts: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let mut rows: Vec<Vec<u64>> =
        counts.iter().map(|r| r.iter().copied().chain(std::iter::once(r.iter().sum())).collect()).collect();
    let bottom = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c]).sum()).collect();
    rows.push(bottom);
    rows
}

/// The lines of the extended table as lists of entries; the last entry of each is its total.
fn lines(nr: usize, nc: usize) -> Vec<Vec<(usize, usize)>> {
    let mut out: Vec<Vec<(usize, usize)>> = (0..nr).map(|r| (0..nc).map(|c| (r, c)).collect()).collect();
    out.extend((0..nc).map(|c| (0..nr).map(|r| (r, c)).collect()));
    out
}

/// Hidden entries the single-unknown attack recovers.
fn propagate(p: &Published) -> Vec<(usize, usize)> {
    let (nr, nc) = (p.len(), p[0].len());
    let mut known = p.clone();
    let mut found = Vec::new();
    loop {
        let mut progress = false;
        for line in lines(nr, nc) {
            let unknown: Vec<usize> = (0..line.len()).filter(|&k| known[line[k].0][line[k].1].is_none()).collect();
            if let [k] = unknown[..] {
                let total = line.len() - 1;
                let value = |i: usize| known[line[i].0][line[i].1].unwrap() as i128;
                let parts: i128 = (0..total).filter(|&i| i != k).map(value).sum();
                let v = if k == total { parts } else { value(total) - parts };
                known[line[k].0][line[k].1] = Some(u64::try_from(v).expect("published totals are consistent"));
                found.push(line[k]);
                progress = true;
            }
        }
        if !progress {
            return found;
        }
    }
}

/// Hidden entries determined by the linear equations alone (over the rationals).
fn linear_rank(p: &Published) -> Vec<(usize, usize)> {
    let (nr, nc) = (p.len(), p[0].len());
    let unknowns: Vec<(usize, usize)> =
        (0..nr).flat_map(|r| (0..nc).map(move |c| (r, c))).filter(|&(r, c)| p[r][c].is_none()).collect();
    // One row per line: coefficients of the unknowns (+1 for a part, −1 for the total).
    let mut m: Vec<Vec<f64>> = lines(nr, nc)
        .iter()
        .map(|line| {
            unknowns
                .iter()
                .map(|u| match line.iter().position(|e| e == u) {
                    Some(k) if k + 1 == line.len() => -1.0,
                    Some(_) => 1.0,
                    None => 0.0,
                })
                .collect()
        })
        .collect();
    // Reduced row echelon form. The matrix is totally unimodular, so pivots stay ±1 and the
    // entries small integers: f64 is exact here.
    let mut pivots = Vec::new();
    let mut row = 0;
    for col in 0..unknowns.len() {
        let Some(pr) = (row..m.len()).find(|&r| m[r][col] != 0.0) else { continue };
        m.swap(row, pr);
        let piv = m[row][col];
        for x in m[row].iter_mut() {
            *x /= piv;
        }
        for r in 0..m.len() {
            if r != row && m[r][col] != 0.0 {
                let f = m[r][col];
                let pivot_row = m[row].clone();
                for (x, y) in m[r].iter_mut().zip(&pivot_row) {
                    *x -= f * y;
                }
            }
        }
        pivots.push((row, col));
        row += 1;
    }
    pivots
        .into_iter()
        .filter(|&(r, col)| m[r].iter().enumerate().all(|(j, &x)| j == col || x == 0.0))
        .map(|(_, col)| unknowns[col])
        .collect()
}

/// Hidden entries with only one value in any integer table consistent with the publication,
/// every hidden entry being at least 1. Exhaustive over the hidden cells (not totals), so for
/// small tables only; totals are derived from the cells.
fn exhaustive(p: &Published, truth: &[Vec<u64>]) -> Vec<(usize, usize)> {
    let (nr, nc) = (p.len(), p[0].len());
    let hidden: Vec<(usize, usize)> =
        (0..nr).flat_map(|r| (0..nc).map(move |c| (r, c))).filter(|&(r, c)| p[r][c].is_none()).collect();
    let cells: Vec<(usize, usize)> = hidden.iter().copied().filter(|&(r, c)| r + 1 < nr && c + 1 < nc).collect();
    // No cell exceeds the grand total; if that is hidden too, a bound of one more than the true
    // one still holds every table that differs by ±1, which is what protection promises.
    let cap = p[nr - 1][nc - 1].unwrap_or(truth[nr - 1][nc - 1] + 1);
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); hidden.len()];
    let mut grid: Vec<Vec<u64>> = (0..nr).map(|r| (0..nc).map(|c| p[r][c].unwrap_or(0)).collect()).collect();
    search(p, &cells, 0, cap, &mut grid, &hidden, &mut seen);
    hidden.iter().zip(&seen).filter(|(_, s)| s.len() < 2).map(|(&e, _)| e).collect()
}

fn search(
    p: &Published,
    cells: &[(usize, usize)],
    k: usize,
    cap: u64,
    grid: &mut [Vec<u64>],
    hidden: &[(usize, usize)],
    seen: &mut [Vec<u64>],
) -> bool {
    let (nr, nc) = (p.len(), p[0].len());
    if seen.iter().all(|s| s.len() >= 2) {
        return true; // Nothing left to learn.
    }
    if k == cells.len() {
        // Totals from the cells; shown ones must match, hidden ones must be at least 1.
        for row in grid.iter_mut().take(nr - 1) {
            row[nc - 1] = row[..nc - 1].iter().sum();
        }
        let bottom: Vec<u64> = (0..nc).map(|c| grid[..nr - 1].iter().map(|row| row[c]).sum()).collect();
        grid[nr - 1] = bottom;
        for (r, row) in grid.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if (r + 1 == nr || c + 1 == nc) && p[r][c].map_or(v < 1, |shown| shown != v) {
                    return false;
                }
            }
        }
        for (s, &(r, c)) in seen.iter_mut().zip(hidden) {
            if !s.contains(&grid[r][c]) {
                s.push(grid[r][c]);
            }
        }
        return false;
    }
    let (r, c) = cells[k];
    for v in 1..=cap {
        grid[r][c] = v;
        // Prune on shown row, column and grand totals: the cells so far must not exceed them.
        let row_sum: u64 = (0..nc - 1).map(|j| if is_later(cells, k, (r, j)) { 0 } else { grid[r][j] }).sum();
        let col_sum: u64 = (0..nr - 1).map(|i| if is_later(cells, k, (i, c)) { 0 } else { grid[i][c] }).sum();
        let all_sum: u64 = (0..nr - 1)
            .flat_map(|i| (0..nc - 1).map(move |j| (i, j)))
            .map(|(i, j)| if is_later(cells, k, (i, j)) { 0 } else { grid[i][j] })
            .sum();
        if p[r][nc - 1].is_some_and(|t| row_sum > t)
            || p[nr - 1][c].is_some_and(|t| col_sum > t)
            || all_sum > p[nr - 1][nc - 1].unwrap_or(cap)
        {
            break; // Larger values only make it worse.
        }
        if search(p, cells, k + 1, cap, grid, hidden, seen) {
            return true;
        }
    }
    grid[r][c] = 0;
    false
}

fn is_later(cells: &[(usize, usize)], k: usize, e: (usize, usize)) -> bool {
    cells[k + 1..].contains(&e)
}

/// The basic promises: small counts hidden, zeros shown, shown values true, no line with
/// exactly one hidden entry.
fn check_shape(counts: &[Vec<u64>], p: &Published) {
    let truth = extended(counts);
    for (r, row) in truth.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            match p[r][c] {
                Some(shown) => assert!(shown == v && !(1..T).contains(&v), "({r},{c}) = {v} shown"),
                None => assert!(v >= 1, "({r},{c}): a zero was hidden"),
            }
        }
    }
    for line in lines(p.len(), p[0].len()) {
        let hidden = line.iter().filter(|&&(r, c)| p[r][c].is_none()).count();
        assert!(hidden != 1, "a line with one hidden entry: {line:?}");
    }
}

fn table(rows: usize, cols: usize, counts: impl Strategy<Value = u64>) -> impl Strategy<Value = Vec<Vec<u64>>> {
    proptest::collection::vec(proptest::collection::vec(counts, cols), rows)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_hidden_entry_of_a_small_table_can_be_recovered(
        counts in (1usize..=3, 1usize..=3).prop_flat_map(|(r, c)| table(r, c, prop_oneof![3 => 0u64..5, 2 => 0u64..12]))
    ) {
        let out = suppress(&counts, T).unwrap();
        let p = published(&out);
        check_shape(&counts, &p);
        prop_assert_eq!(propagate(&p), vec![]);
        prop_assert_eq!(linear_rank(&p), vec![]);
        prop_assert_eq!(exhaustive(&p, &extended(&counts)), vec![]);
    }

    #[test]
    fn no_hidden_entry_of_a_larger_table_is_given_away_by_the_equations(
        counts in (1usize..=10, 1usize..=8).prop_flat_map(|(r, c)| table(r, c, prop_oneof![2 => 0u64..5, 2 => 0u64..60, 1 => Just(0u64)]))
    ) {
        let out = suppress(&counts, T).unwrap();
        let p = published(&out);
        check_shape(&counts, &p);
        prop_assert_eq!(propagate(&p), vec![]);
        prop_assert_eq!(linear_rank(&p), vec![]);
        // Deterministic: the same table gives the same publication.
        prop_assert_eq!(suppress(&counts, T).unwrap(), out);
    }
}

#[test]
fn one_small_cell_is_hidden_with_the_cheapest_rectangle() {
    // 3 is small. Its cheapest cycle is the other three cells (8 + 12 + 10 = 30 hidden) rather
    // than through the totals (13 + 33 + 11); the totals can all be shown.
    let t = suppress(&[vec![3, 10], vec![8, 12]], T).unwrap();
    assert_eq!(t.cells, [[X, X], [X, X]]);
    assert_eq!((t.row_totals, t.col_totals, t.grand_total), (vec![S(13), S(20)], vec![S(11), S(22)], S(33)));
}

#[test]
fn two_ones_in_a_row_need_more_than_a_partner_each() {
    // Hiding 1, 1 and their column partners 6, 7 satisfies "two per line", but the visible
    // remainder of row 1 is 11 − 9 = 2 and both hidden cells are at least 1: both are 1.
    let counts = [vec![1, 1, 9], vec![6, 7, 8]];
    let naive: Published = vec![
        vec![None, None, Some(9), Some(11)],
        vec![None, None, Some(8), Some(21)],
        vec![Some(7), Some(8), Some(17), Some(32)],
    ];
    assert_eq!(propagate(&naive), vec![]);
    assert_eq!(linear_rank(&naive), vec![]);
    assert_eq!(exhaustive(&naive, &extended(&counts)).len(), 4);
    // Suppression hides the whole of both rows instead, and then nothing can be pinned.
    let t = suppress(&counts, T).unwrap();
    assert_eq!(t.cells, [[X, X, X], [X, X, X]]);
    assert_eq!((&t.row_totals, &t.col_totals, t.grand_total), (&vec![S(11), S(21)], &vec![S(7), S(8), S(17)], S(32)));
    assert_eq!(exhaustive(&published(&t), &extended(&counts)), vec![]);
}

#[test]
fn a_table_whose_only_count_is_small_hides_the_totals_that_equal_it() {
    let t = suppress(&[vec![2, 0, 0], vec![0, 0, 0]], T).unwrap();
    assert_eq!(t.cells, [[X, S(0), S(0)], [S(0), S(0), S(0)]]);
    assert_eq!((t.row_totals, t.col_totals, t.grand_total), (vec![X, S(0)], vec![X, S(0), S(0)], X));
}

#[test]
fn a_small_total_is_hidden_and_protected_like_a_cell() {
    // Row 2 is 0, 4, 0: the cell and the row total are both 4, and the zeros beside them are
    // shown, so the cycle must leave the row through its total.
    let counts = [vec![20, 30, 25], vec![0, 4, 0], vec![15, 10, 40]];
    let t = suppress(&counts, T).unwrap();
    let p = published(&t);
    assert_eq!(p[1][3], None);
    assert_eq!(p[1][1], None);
    check_shape(&counts, &p);
    assert_eq!(exhaustive(&p, &extended(&counts)), vec![]);
}

#[test]
fn the_attackers_find_what_a_careless_publication_leaks() {
    // One hidden cell in a row with a shown total: subtraction.
    let leaky: Published =
        vec![vec![None, Some(7), Some(10)], vec![Some(3), Some(7), Some(10)], vec![Some(6), Some(14), Some(20)]];
    assert_eq!(propagate(&leaky), vec![(0, 0)]);
    assert_eq!(linear_rank(&leaky), vec![(0, 0)]);
    // A bridge: two hidden rectangles joined by one hidden cell; every line has two hidden
    // entries, so subtraction alone finds nothing, but the equations pin the joining cell.
    let counts = [vec![2, 6, 0, 0], vec![7, 8, 0, 0], vec![0, 3, 9, 6], vec![0, 0, 5, 7]];
    let truth = extended(&counts);
    let hide = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)];
    let bridge: Published = truth
        .iter()
        .enumerate()
        .map(|(r, row)| row.iter().enumerate().map(|(c, &v)| (!hide.contains(&(r, c))).then_some(v)).collect())
        .collect();
    assert_eq!(propagate(&bridge), vec![]);
    assert_eq!(linear_rank(&bridge), vec![(2, 1)]);
}

#[test]
fn a_national_table_of_hospitals_by_year_is_protected() {
    // 150 hospitals × 20 years of revision counts, many of them small (a fixed pseudo-random
    // sequence, so the test is the same every run).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let counts: Vec<Vec<u64>> =
        (0..150).map(|_| (0..20).map(|_| if next() % 12 == 0 { next() % 5 } else { next() % 40 }).collect()).collect();
    let t = suppress(&counts, T).unwrap();
    let p = published(&t);
    check_shape(&counts, &p);
    assert_eq!(propagate(&p), vec![]);
    assert_eq!(linear_rank(&p), vec![]);
    let primary = extended(&counts).iter().flatten().filter(|v| (1..T).contains(*v)).count();
    assert!(t.suppressed_count() > primary && primary > 100, "{primary} small, {} hidden", t.suppressed_count());
}
