//! The synthetic device catalogue: fictional manufacturers and brands with real-format GTINs.
//!
//! Two brands are planted poor performers (a metal-on-metal resurfacing cup and a total knee), so
//! that outcome statistics built later have something true to find.

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Hip femoral stem.
    HipStem,
    /// Acetabular cup or shell.
    AcetabularCup,
    /// Acetabular liner.
    AcetabularLiner,
    /// Femoral head.
    FemoralHead,
    /// Knee femoral component.
    KneeFemoral,
    /// Knee tibial tray.
    KneeTibialTray,
    /// Knee tibial insert.
    KneeInsert,
    /// Patellar button.
    KneePatella,
    /// Unicompartmental knee set.
    KneeUnicompartmental,
    /// Breast implant.
    BreastImplant,
}

impl Category {
    /// The category's name in the device catalogue.
    pub fn label(self) -> &'static str {
        match self {
            Category::HipStem => "Hip femoral stem",
            Category::AcetabularCup => "Acetabular cup",
            Category::AcetabularLiner => "Acetabular liner",
            Category::FemoralHead => "Femoral head",
            Category::KneeFemoral => "Knee femoral component",
            Category::KneeTibialTray => "Knee tibial tray",
            Category::KneeInsert => "Knee tibial insert",
            Category::KneePatella => "Patellar button",
            Category::KneeUnicompartmental => "Unicompartmental knee",
            Category::BreastImplant => "Breast implant",
        }
    }
}

/// One brand of component.
#[derive(Debug, Clone)]
pub struct Brand {
    /// Manufacturer.
    pub manufacturer: &'static str,
    /// Brand name.
    pub name: &'static str,
    /// What it is.
    pub category: Category,
    /// Multiplier on the revision hazard (1.0 = typical).
    pub hazard: f64,
    /// Relative market share within its category.
    pub share: f64,
    /// Distinct GTINs (sizes) of this brand.
    pub gtins: Vec<String>,
    /// Whether each unit carries a serial number.
    pub serialised: bool,
}

/// Hazard multipliers above this mark the planted poor performers.
pub const POOR_PERFORMER_HAZARD: f64 = 2.0;

impl Brand {
    /// True for the planted poor performers.
    pub fn is_poor_performer(&self) -> bool {
        self.hazard > POOR_PERFORMER_HAZARD
    }
}

/// The 14-digit GTIN whose first 13 digits are `body`, with its GS1 check digit.
pub fn gtin_with_check(body: u64) -> String {
    let digits = format!("{body:013}");
    let sum: u32 =
        digits.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

#[allow(clippy::too_many_arguments)] // one row of the catalogue table below
fn brand(
    company: u64,
    item_base: u64,
    manufacturer: &'static str,
    name: &'static str,
    category: Category,
    hazard: f64,
    share: f64,
    serialised: bool,
) -> Brand {
    // Indicator digit 0, then GS1 UK-style prefix 50, a 5-digit company number and a 5-digit item.
    let gtins = (0..8).map(|size| gtin_with_check(50_00000_00000 + company * 100_000 + item_base + size)).collect();
    Brand { manufacturer, name, category, hazard, share, gtins, serialised }
}

/// The whole catalogue.
pub fn catalogue() -> Vec<Brand> {
    use Category::*;
    vec![
        brand(12345, 100, "Aldgate Orthopaedics", "Aldgate Taper Stem", HipStem, 1.0, 0.40, false),
        brand(23456, 100, "Brigantia Medical", "Brigantia Collared Stem", HipStem, 0.9, 0.35, false),
        brand(34567, 100, "Corvel Implants", "Corvel Modular Stem", HipStem, 1.1, 0.25, false),
        brand(12345, 200, "Aldgate Orthopaedics", "Aldgate Halo Cup", AcetabularCup, 1.0, 0.45, false),
        brand(23456, 200, "Brigantia Medical", "Brigantia Cemented Cup", AcetabularCup, 0.9, 0.40, false),
        // Planted poor performer: a metal-on-metal resurfacing-style cup.
        brand(45678, 200, "Dunmore Surgical", "Dunmore Crescent MoM Cup", AcetabularCup, 3.5, 0.15, false),
        brand(12345, 300, "Aldgate Orthopaedics", "Aldgate XLPE Liner", AcetabularLiner, 1.0, 1.0, false),
        brand(12345, 400, "Aldgate Orthopaedics", "Aldgate Ceramic Head", FemoralHead, 1.0, 0.5, false),
        brand(23456, 400, "Brigantia Medical", "Brigantia Cobalt Head", FemoralHead, 1.0, 0.5, false),
        brand(12345, 500, "Aldgate Orthopaedics", "Aldgate Keel Knee Femoral", KneeFemoral, 1.0, 0.45, false),
        brand(23456, 500, "Brigantia Medical", "Brigantia Meridian Knee Femoral", KneeFemoral, 0.9, 0.40, false),
        // Planted poor performer: a total knee with early loosening.
        brand(34567, 500, "Corvel Implants", "Corvel Arclight Knee Femoral", KneeFemoral, 4.0, 0.15, false),
        brand(12345, 600, "Aldgate Orthopaedics", "Aldgate Keel Tibial Tray", KneeTibialTray, 1.0, 1.0, false),
        brand(12345, 700, "Aldgate Orthopaedics", "Aldgate Keel Insert", KneeInsert, 1.0, 1.0, false),
        brand(12345, 800, "Aldgate Orthopaedics", "Aldgate Patella Button", KneePatella, 1.0, 1.0, false),
        brand(45678, 800, "Dunmore Surgical", "Dunmore Partial Knee", KneeUnicompartmental, 1.8, 1.0, false),
        brand(56789, 100, "Solenne Aesthetics", "Solenne Round Textured", BreastImplant, 1.0, 0.35, true),
        brand(67890, 100, "Vireo Medical", "Vireo Anatomical Gel", BreastImplant, 1.0, 0.30, true),
        brand(78901, 100, "Calyx Plastics", "Calyx Smooth Round", BreastImplant, 0.8, 0.25, true),
        // Planted poor performer, in the manner of PIP: ruptures early and often.
        brand(89012, 100, "Marquise Implants", "Marquise Budget Gel", BreastImplant, 4.0, 0.10, true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_check_digits_follow_gs1() {
        // GS1's worked example: 0501234567890 → check digit 0 (GTIN 05012345678900).
        assert_eq!(gtin_with_check(501234567890), "05012345678900");
        // 0950110153000 → 3 (GS1 check digit calculator example GTIN 09501101530003).
        assert_eq!(gtin_with_check(950110153000), "09501101530003");
    }
}
