//! Disclosure control for output that leaves the analyst role.
//!
//! - A count standing alone (a number at risk) with 1 ≤ n < 5 is shown as "<5".
//! - A table with totals (primaries and revisions by group) goes through
//!   [`tessera_domain::disclosure::suppress`]: small counts are hidden, then enough others that
//!   none can be worked out from the rest and the totals. Every hidden entry of such a table is
//!   shown as "*" with a footnote, not "<5": marking only the small ones "<5" would tell an
//!   attacker which hidden entries are small and give an upper bound that can pin them.
//! - Anything derived from a hidden count (a rate, a percentage, its limits) is hidden with it.
//! - The same table is suppressed the same way wherever it appears: a category's brands in the
//!   outlier table get exactly the suppression of that category's brand table.
//! - Organisations × (revised, not revised) is one table with totals: an organisation whose
//!   revisions are hidden is left off the published funnel plot (its ratio and expected count
//!   together would give the count away), and so cannot be worked out from the site totals.
//! - A curve, percentage or model of a group whose counts are hidden is not drawn or given.
//! - CUSUM paths are analyst-only: each step of one is one patient's outcome.

use tessera_domain::analysis::{CprTable, FunnelUnit};
use tessera_domain::disclosure::{Cell, suppress};
use tessera_domain::outliers::OutlierAssessment;

use crate::Audience;

/// A count as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Shown as it is.
    Shown(u64),
    /// A small count standing alone: "<5".
    Small,
    /// Hidden within a table so that no small count can be recovered: "*".
    Hidden,
}

impl Count {
    /// The text shown.
    pub fn text(&self) -> String {
        match self {
            Count::Shown(n) => n.to_string(),
            Count::Small => "<5".into(),
            Count::Hidden => "*".into(),
        }
    }

    /// The count, if shown.
    pub fn value(&self) -> Option<u64> {
        match self {
            Count::Shown(n) => Some(*n),
            _ => None,
        }
    }

    fn of(cell: Cell) -> Self {
        match cell {
            Cell::Shown(n) => Count::Shown(n),
            Cell::Suppressed => Count::Hidden,
        }
    }
}

/// The footnote for "*".
pub const HIDDEN_NOTE: &str = "* fewer than 5, or hidden so that a count under 5 cannot be worked out from the totals";

/// A standing-alone count for `audience`.
pub fn lone(n: u64, audience: Audience, threshold: u64) -> Count {
    if audience == Audience::Published && n >= 1 && n < threshold { Count::Small } else { Count::Shown(n) }
}

/// The counts of a cumulative-revision table as published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedCpr {
    /// Per group (in the table's order): primaries and revisions.
    pub groups: Vec<(Count, Count)>,
    /// All primaries and all revisions.
    pub total: (Count, Count),
    /// Numbers at risk per group and report time.
    pub at_risk: Vec<Vec<Count>>,
}

impl PublishedCpr {
    /// Whether the group's figures derived from its revision count may be shown.
    pub fn shows_rate(&self, group: usize) -> bool {
        matches!(self.groups[group], (Count::Shown(_), Count::Shown(_)))
    }
}

/// The counts of `table` for `audience`: for published output, the table of revised and
/// unrevised primaries by group, with its totals, goes through secondary suppression.
pub fn cpr_counts(table: &CprTable, audience: Audience, threshold: u64) -> PublishedCpr {
    let at_risk =
        table.groups.iter().map(|g| g.at.iter().map(|a| lone(a.at_risk, audience, threshold)).collect()).collect();
    let total_primaries: u64 = table.groups.iter().map(|g| g.primaries).sum();
    let total_revisions: u64 = table.groups.iter().map(|g| g.revisions).sum();
    if audience == Audience::Analyst || table.groups.is_empty() {
        return PublishedCpr {
            groups: table.groups.iter().map(|g| (Count::Shown(g.primaries), Count::Shown(g.revisions))).collect(),
            total: (Count::Shown(total_primaries), Count::Shown(total_revisions)),
            at_risk,
        };
    }
    let counts: Vec<Vec<u64>> = table.groups.iter().map(|g| vec![g.revisions, g.primaries - g.revisions]).collect();
    match suppress(&counts, threshold) {
        Ok(t) => PublishedCpr {
            groups: t.row_totals.iter().zip(&t.cells).map(|(p, cells)| (Count::of(*p), Count::of(cells[0]))).collect(),
            total: (Count::of(t.grand_total), Count::of(t.col_totals[0])),
            at_risk,
        },
        // The table is never empty or overflowing here; if it were, hide everything.
        Err(_) => PublishedCpr {
            groups: table.groups.iter().map(|_| (Count::Hidden, Count::Hidden)).collect(),
            total: (Count::Hidden, Count::Hidden),
            at_risk,
        },
    }
}

/// (count of the first column, row total) of each row of `rows` (a count and its total), as
/// published: one suppressed table with its totals; also the first column's total.
fn suppressed_rows(rows: &[(u64, u64)], audience: Audience, threshold: u64) -> (Vec<(Count, Count)>, Count) {
    let total: u64 = rows.iter().map(|r| r.0).sum();
    if audience == Audience::Analyst || rows.is_empty() {
        return (rows.iter().map(|(n, t)| (Count::Shown(*n), Count::Shown(*t))).collect(), Count::Shown(total));
    }
    let counts: Vec<Vec<u64>> = rows.iter().map(|(n, t)| vec![*n, t.saturating_sub(*n)]).collect();
    match suppress(&counts, threshold) {
        Ok(t) => (
            t.cells.iter().zip(&t.row_totals).map(|(c, r)| (Count::of(c[0]), Count::of(*r))).collect(),
            Count::of(t.col_totals[0]),
        ),
        Err(_) => (rows.iter().map(|_| (Count::Hidden, Count::Hidden)).collect(), Count::Hidden),
    }
}

/// (primaries, revisions) of each outlier row as published: per group, the same suppression as
/// the group's brand table.
pub fn outlier_counts(outliers: &[OutlierAssessment], audience: Audience, threshold: u64) -> Vec<(Count, Count)> {
    let mut out = vec![(Count::Hidden, Count::Hidden); outliers.len()];
    let mut groups: Vec<&str> = outliers.iter().map(|o| o.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    for g in groups {
        let rows: Vec<usize> = (0..outliers.len()).filter(|&i| outliers[i].group == g).collect();
        let counts: Vec<(u64, u64)> = rows.iter().map(|&i| (outliers[i].rate.events, outliers[i].primaries)).collect();
        let (published, _) = suppressed_rows(&counts, audience, threshold);
        for (&i, (revisions, primaries)) in rows.iter().zip(published) {
            out[i] = (primaries, revisions);
        }
    }
    out
}

/// The funnel's organisations as published: (primaries, observed revisions) per unit, and the
/// total of revisions.
pub fn funnel_counts(units: &[FunnelUnit], audience: Audience, threshold: u64) -> (Vec<(Count, Count)>, Count) {
    let rows: Vec<(u64, u64)> = units.iter().map(|u| (u.observed, u.primaries)).collect();
    let (published, total) = suppressed_rows(&rows, audience, threshold);
    (published.into_iter().map(|(observed, primaries)| (primaries, observed)).collect(), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_small_counts_show_as_less_than_five_only_when_published() {
        assert_eq!(lone(3, Audience::Published, 5).text(), "<5");
        assert_eq!(lone(0, Audience::Published, 5).text(), "0");
        assert_eq!(lone(5, Audience::Published, 5).text(), "5");
        assert_eq!(lone(3, Audience::Analyst, 5).text(), "3");
    }
}
