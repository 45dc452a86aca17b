//! Shared by the tests that compare against reference files: where the files are and how to
//! read one.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// The reference files' folder.
pub fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/survival_reference"))
}

/// A reference CSV as rows of (column → text).
pub fn read(name: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(dir().join(name)).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| headers.iter().zip(rec.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}
