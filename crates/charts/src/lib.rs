//! Server-side charts for outcome reports: accessible SVG and the CSV behind each chart.
//!
//! Inputs are plain structs, so this crate depends on no other Tessera crate; callers convert
//! their statistics (Kaplan–Meier estimates, funnel limits, CUSUM paths) into them. Every chart
//! is a self-contained `<svg>` with `role="img"`, a `<title>` and a `<desc>` that summarise the
//! data in words, a `viewBox` so it scales, Arial text of at least 12px, and the Okabe–Ito
//! palette with dash patterns so lines stay distinguishable without colour.
//!
//! All text and attribute values pass through one escaping XML writer (`svg.rs`), so labels that
//! come from user data cannot inject markup. Non-finite numbers are skipped, never written.
//! CSV cells holding labels are neutralised against spreadsheet formula injection.

#![forbid(unsafe_code)]

mod cusum;
mod export;
mod frame;
mod funnel;
mod km;
mod scale;
mod svg;

pub use cusum::{CusumChart, cusum_chart};
pub use export::{cusum_csv, funnel_csv, km_at_risk_csv, km_csv, text as csv_text};
pub use funnel::{FunnelChart, FunnelPoint, LimitCurve, funnel_chart};
pub use km::{AtRiskCell, KmChart, KmGroup, KmPoint, km_chart};
