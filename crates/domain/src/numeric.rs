//! Numerically careful building blocks shared by the statistics: a compensated sum.

/// Neumaier's compensated sum: keeps the rounding error of every addition, so long sums of
/// terms of very different sizes (years at risk, expected counts) stay exact to the last bits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StableSum {
    sum: f64,
    carry: f64,
}

impl StableSum {
    /// Adds `x`.
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum so far.
    pub fn value(self) -> f64 {
        self.sum + self.carry
    }
}

/// The compensated sum of `xs`.
pub fn stable_sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = StableSum::default();
    for x in xs {
        s.add(x);
    }
    s.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_terms_survive_large_ones() {
        assert_eq!(stable_sum([1e16, 1.0, 1.0, -1e16]), 2.0);
        assert_eq!(stable_sum([0.1; 10]), 1.0);
    }
}
