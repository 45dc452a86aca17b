//! The device catalogue as a file: a CSV of products, one GTIN a row, parsed whole.
//!
//! The header names the columns, in any order: `gtin`, `manufacturer`, `brand` and `category` are
//! required; `model` and `catalogue_ref` are optional; every other column (`bearing`, `fixation`,
//! `material`, …) is an attribute of the product, kept by name. A file with anything wrong is
//! refused whole, with **every** problem named by row (the header is row 1) and column, so the
//! person preparing it can fix them all at once. Nothing in a catalogue identifies a patient, so
//! problems may quote what was found.

use std::collections::{BTreeMap, HashMap};

use crate::gs1::Gtin;
use crate::problem::Problems;

/// The columns every catalogue file must have.
pub const REQUIRED_COLUMNS: [&str; 4] = ["gtin", "manufacturer", "brand", "category"];
/// The optional columns that are not attributes.
pub const OPTIONAL_COLUMNS: [&str; 2] = ["model", "catalogue_ref"];
/// The header Tessera writes (and the shipped catalogue uses).
pub const HEADER: [&str; 9] =
    ["gtin", "manufacturer", "brand", "model", "catalogue_ref", "category", "bearing", "fixation", "material"];

/// The categories a product may have: the components registries record.
pub const CATEGORIES: &[&str] = &[
    "Hip femoral stem",
    "Acetabular cup",
    "Acetabular liner",
    "Femoral head",
    "Hip resurfacing head",
    "Bipolar head",
    "Knee femoral component",
    "Knee tibial tray",
    "Knee tibial insert",
    "Patellar button",
    "Unicompartmental knee",
    "Shoulder humeral stem",
    "Shoulder glenoid component",
    "Elbow component",
    "Ankle component",
    "Breast implant",
    "Tissue expander",
    "Bone cement",
    "Other implant",
];

/// The longest text a catalogue field may hold.
pub const MAX_TEXT: usize = 200;

/// One product as a catalogue file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProduct {
    /// The GTIN (UDI-DI), check digit verified, in its 14-digit form.
    pub gtin: Gtin,
    /// Manufacturer.
    pub manufacturer: String,
    /// Brand.
    pub brand: String,
    /// Model (size, variant), if given.
    pub model: Option<String>,
    /// The manufacturer's catalogue (reference) number, if given.
    pub catalogue_ref: Option<String>,
    /// Category, one of [`CATEGORIES`] as spelt there.
    pub category: String,
    /// Other columns by name (bearing, fixation, material, …); empty cells are left out.
    pub attributes: BTreeMap<String, String>,
}

/// The category as [`CATEGORIES`] spells it, matched without regard to case or surrounding spaces.
pub fn category(text: &str) -> Option<&'static str> {
    let text = text.trim();
    CATEGORIES.iter().copied().find(|c| c.eq_ignore_ascii_case(text))
}

/// Whether `name` may be a column (attribute) name: lower-case letters, digits and underscores,
/// starting with a letter, at most 40 characters.
fn column_name_ok(name: &str) -> bool {
    name.len() <= 40
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks one text cell: no control characters, at most [`MAX_TEXT`] characters.
fn text_problem(value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        Some("contains a control character (a line break or tab inside the cell?)".into())
    } else if value.chars().count() > MAX_TEXT {
        Some(format!("has {} characters, at most {MAX_TEXT} allowed", value.chars().count()))
    } else {
        None
    }
}

/// Parses a whole catalogue file. Returns every product, in file order, or every problem.
pub fn parse_catalogue_csv(text: &str) -> Result<Vec<CatalogueProduct>, Problems> {
    let mut problems = Problems::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            problems.push("row 1", format!("the header cannot be read: {e}"));
            return Err(problems);
        }
    };
    let mut seen = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        if !column_name_ok(name) {
            problems.push(
                format!("row 1, column {}", i + 1),
                format!(
                    "column name {name:?} must be lower-case letters, digits and underscores, starting with a letter"
                ),
            );
        } else if seen.insert(name.clone(), i).is_some() {
            problems.push(format!("row 1, {name}"), "the column appears twice");
        }
    }
    for required in REQUIRED_COLUMNS {
        if !seen.contains_key(required) {
            problems.push("row 1", format!("the header lacks the column {required}"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let col = |name: &str| seen.get(name).copied();
    let attribute_columns: Vec<(usize, &str)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !REQUIRED_COLUMNS.contains(&h.as_str()) && !OPTIONAL_COLUMNS.contains(&h.as_str()))
        .map(|(i, h)| (i, h.as_str()))
        .collect();

    let mut products = Vec::new();
    let mut first_row_of: HashMap<Gtin, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let row = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.push(format!("row {row}"), format!("cannot be read as CSV: {e}"));
                break;
            }
        }
        // The line the record started on (the reader has moved past it).
        let row = record.position().map_or(row, csv::Position::line);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push(
                format!("row {row}"),
                format!("has {} cells, the header has {} columns", record.len(), headers.len()),
            );
            continue;
        }
        let cell = |name: &str| col(name).map(|i| record[i].trim()).unwrap_or("");
        let mut ok = true;
        let mut bad = |field: &str, reason: String| {
            problems.push(format!("row {row}, {field}"), reason);
            ok = false;
        };

        let gtin = match Gtin::parse(cell("gtin")) {
            _ if cell("gtin").is_empty() => {
                bad("gtin", "is empty".into());
                None
            }
            Ok(g) => Some(g),
            Err(e) => {
                bad("gtin", format!("{:?} is not a GTIN: {}", cell("gtin"), e.reason()));
                None
            }
        };
        if let Some(g) = &gtin
            && let Some(first) = first_row_of.get(g)
        {
            bad("gtin", format!("{g} is already in row {first}"));
        }
        let mut required_text = |name: &str| -> String {
            let v = cell(name);
            if v.is_empty() {
                bad(name, "is empty".into());
            } else if let Some(reason) = text_problem(v) {
                bad(name, reason);
            }
            v.to_owned()
        };
        let manufacturer = required_text("manufacturer");
        let brand = required_text("brand");
        let category_text = cell("category");
        let category = if category_text.is_empty() {
            bad("category", "is empty".into());
            None
        } else {
            let c = category(category_text);
            if c.is_none() {
                bad(
                    "category",
                    format!("{category_text:?} is not a known category (known: {})", CATEGORIES.join(", ")),
                );
            }
            c
        };
        let mut optional_text = |name: &str| -> Option<String> {
            let v = cell(name);
            if let Some(reason) = text_problem(v) {
                bad(name, reason);
            }
            (!v.is_empty()).then(|| v.to_owned())
        };
        let model = optional_text("model");
        let catalogue_ref = optional_text("catalogue_ref");
        let mut attributes = BTreeMap::new();
        for &(i, name) in &attribute_columns {
            let v = record[i].trim();
            if let Some(reason) = text_problem(v) {
                bad(name, reason);
            } else if !v.is_empty() {
                attributes.insert(name.to_owned(), v.to_owned());
            }
        }
        if let Some(g) = &gtin {
            first_row_of.entry(g.clone()).or_insert(row);
        }
        if let (true, Some(gtin), Some(category)) = (ok, gtin, category) {
            products.push(CatalogueProduct {
                gtin,
                manufacturer,
                brand,
                model,
                catalogue_ref,
                category: category.to_owned(),
                attributes,
            });
        }
    }
    if problems.is_empty() && products.is_empty() {
        problems.push("file", "has no products: a catalogue needs a header and at least one row");
    }
    problems.into_result(|| products)
}

/// Writes products as a catalogue CSV with [`HEADER`] (other attributes are not written), the
/// form [`parse_catalogue_csv`] reads back.
pub fn write_catalogue_csv(products: &[CatalogueProduct]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).expect("writing to memory");
    for p in products {
        let attr = |k: &str| p.attributes.get(k).map_or("", String::as_str);
        w.write_record([
            p.gtin.as_str(),
            &p.manufacturer,
            &p.brand,
            p.model.as_deref().unwrap_or(""),
            p.catalogue_ref.as_deref().unwrap_or(""),
            &p.category,
            attr("bearing"),
            attr("fixation"),
            attr("material"),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 text")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "gtin,manufacturer,brand,model,catalogue_ref,category,bearing,fixation,material\n";

    fn fields(p: &Problems) -> Vec<String> {
        p.iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn a_good_file_gives_every_product_with_its_attributes() {
        let text = format!(
            "{HEAD}05012345001005,Aldgate Orthopaedics,Aldgate Taper Stem,Size 8,ALD-100-08,hip femoral stem,,Cemented,Cobalt chrome\n\
             5012345002002,Aldgate Orthopaedics,Aldgate Halo Cup,,,Acetabular cup,Ceramic-on-polyethylene,Uncemented,Titanium\n"
        );
        let products = parse_catalogue_csv(&text).expect("valid");
        assert_eq!(products.len(), 2);
        assert_eq!(products[0].gtin.as_str(), "05012345001005");
        assert_eq!(products[0].category, "Hip femoral stem");
        assert_eq!(products[0].model.as_deref(), Some("Size 8"));
        assert_eq!(products[0].attributes.get("bearing"), None);
        assert_eq!(products[0].attributes["fixation"], "Cemented");
        // A GTIN-13 is padded to 14 digits.
        assert_eq!(products[1].gtin.as_str(), "05012345002002");
        assert_eq!(products[1].model, None);
        assert_eq!(products[1].attributes.len(), 3);
    }

    #[test]
    fn extra_columns_become_attributes_and_columns_may_come_in_any_order() {
        let text = "category,gtin,brand,manufacturer,coating\nFemoral head,05012345001005,B,M,HA\n";
        let products = parse_catalogue_csv(text).expect("valid");
        assert_eq!(products[0].attributes["coating"], "HA");
        assert_eq!(products[0].brand, "B");
    }

    #[test]
    fn every_bad_row_is_named_with_its_field_and_nothing_is_returned() {
        let text = format!(
            "{HEAD}05012345001005,M,B,,,Femoral head,,,\n\
             05012345001008,M,B,,,Femoral head,,,\n\
             05012345001005,M,B,,,Femoral head,,,\n\
             05012345002002,,B,,,Spaceship,,,\n"
        );
        let problems = parse_catalogue_csv(&text).unwrap_err();
        assert_eq!(
            fields(&problems),
            ["row 3, gtin", "row 4, gtin", "row 5, manufacturer", "row 5, category"],
            "{problems}"
        );
        let reasons: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
        assert!(reasons[0].contains("check digit"), "{}", reasons[0]);
        assert!(reasons[1].contains("row 2"), "{}", reasons[1]);
        assert!(reasons[3].contains("not a known category"), "{}", reasons[3]);
    }

    #[test]
    fn a_header_without_required_columns_is_refused() {
        let problems = parse_catalogue_csv("gtin,brand,Bad Name\n").unwrap_err();
        let text = problems.to_string();
        assert!(text.contains("manufacturer") && text.contains("category") && text.contains("bad name"), "{text}");
    }

    #[test]
    fn a_row_of_the_wrong_width_and_an_empty_file_are_problems() {
        let problems = parse_catalogue_csv(&format!("{HEAD}05012345001005,M,B\n")).unwrap_err();
        assert_eq!(fields(&problems), ["row 2"]);
        let problems = parse_catalogue_csv(HEAD).unwrap_err();
        assert_eq!(fields(&problems), ["file"]);
    }

    #[test]
    fn written_catalogues_read_back_the_same() {
        let text = format!(
            "{HEAD}05012345001005,\"Aldgate, Orthopaedics\",Stem,S8,R1,Hip femoral stem,,Cemented,Cobalt chrome\n"
        );
        let products = parse_catalogue_csv(&text).expect("valid");
        assert_eq!(parse_catalogue_csv(&write_catalogue_csv(&products)).expect("valid"), products);
    }
}
