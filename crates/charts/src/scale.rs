//! Axes from zero to a "nice" maximum, with ticks at 1, 2 or 5 times a power of ten.

/// A linear axis from 0 to `max` with a tick every `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    pub(crate) max: f64,
    pub(crate) step: f64,
    decimals: usize,
}

impl Axis {
    /// An axis covering `0..=data_max` with about `target_ticks` intervals. When `data_max` is not
    /// a positive finite number (no data, all zeros) the axis runs to `fallback_max` instead.
    pub(crate) fn nice(data_max: f64, target_ticks: usize, fallback_max: f64) -> Axis {
        let data_max = if data_max.is_finite() && data_max > 0.0 { data_max } else { fallback_max };
        let step = nice_step(data_max / target_ticks.max(1) as f64);
        Axis::with_step(data_max, step)
    }

    /// Like [`Axis::nice`] but with whole-number ticks, for counts such as observation numbers.
    pub(crate) fn nice_integer(data_max: f64, target_ticks: usize, fallback_max: f64) -> Axis {
        let axis = Axis::nice(data_max, target_ticks, fallback_max);
        if axis.step >= 1.0 { axis } else { Axis::with_step(axis.max.max(1.0), 1.0) }
    }

    /// The same axis cut at `cap` when it overshoots it only through rounding, e.g. a percentage
    /// axis at 120% for data that never exceed 100%. `cap` must be a multiple of the step.
    pub(crate) fn capped(self, cap: f64, data_max: f64) -> Axis {
        if self.max > cap && data_max <= cap && (cap / self.step).fract().abs() < 1e-9 {
            Axis { max: cap, ..self }
        } else {
            self
        }
    }

    fn with_step(data_max: f64, step: f64) -> Axis {
        // A small tolerance keeps a maximum that already sits on a tick from gaining one more.
        let intervals = (data_max / step - 1e-9).ceil().max(1.0);
        let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
        Axis { max: intervals * step, step, decimals }
    }

    /// The tick values from 0 to `max`, computed by multiplication so they do not drift.
    pub(crate) fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let n = (self.max / self.step).round() as usize;
        (0..=n).map(move |i| i as f64 * self.step)
    }

    /// A tick label with as many decimals as the step needs.
    pub(crate) fn format(&self, value: f64) -> String {
        format!("{value:.*}", self.decimals)
    }
}

/// 1, 2 or 5 times a power of ten, the smallest at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 + 1e-9 {
        1.0
    } else if fraction <= 2.0 + 1e-9 {
        2.0
    } else if fraction <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_nice_steps() {
        let a = Axis::nice(13.0, 6, 1.0);
        assert_eq!((a.max, a.step), (15.0, 5.0));
        assert_eq!(a.ticks().collect::<Vec<_>>(), vec![0.0, 5.0, 10.0, 15.0]);
        let years = Axis::nice(9.0, 6, 1.0);
        assert_eq!((years.max, years.step), (10.0, 2.0));
        let b = Axis::nice(3.7, 5, 1.0);
        assert_eq!((b.max, b.step), (4.0, 1.0));
        let c = Axis::nice(0.042, 5, 1.0);
        assert!((c.max - 0.05).abs() < 1e-12 && (c.step - 0.01).abs() < 1e-12);
        assert_eq!(c.format(0.03), "0.03");
    }

    #[test]
    fn a_maximum_on_a_tick_is_kept() {
        assert_eq!(Axis::nice(15.0, 6, 1.0).max, 15.0);
        assert_eq!(Axis::nice(10.0, 5, 1.0).max, 10.0);
    }

    #[test]
    fn no_data_falls_back() {
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let a = Axis::nice(bad, 5, 5.0);
            assert_eq!(a.max, 5.0);
        }
    }

    #[test]
    fn integer_axes_have_whole_steps() {
        let a = Axis::nice_integer(3.0, 6, 1.0);
        assert_eq!(a.step, 1.0);
        assert_eq!(a.max, 3.0);
    }

    #[test]
    fn percent_axes_stop_at_100() {
        let a = Axis::nice(96.0, 5, 5.0).capped(100.0, 96.0);
        assert_eq!(a.max, 100.0);
    }
}
