//! Pieces the subcommands share: loading data sets by path, and the embedded default.

use std::path::Path;

use anyhow::Result;
use sbn::data::{self, Dataset, LabelColumn, Role};

/// The name that selects the embedded digits set instead of a file.
pub const EMBEDDED_DIGITS: &str = "embedded:digits";

/// Parses `--label`: a column index or a column name.
pub fn label_column(label: Option<&str>) -> Option<LabelColumn> {
    label.map(|l| match l.parse::<usize>() {
        Ok(i) => LabelColumn::Index(i),
        Err(_) => LabelColumn::Name(l.to_string()),
    })
}

/// Loads DATA (an IDX images file, a folder with the standard files, a CSV file, or
/// `embedded:digits`).
pub fn load_data(path: &str, role: Role, label: Option<&str>) -> Result<Dataset> {
    if path == EMBEDDED_DIGITS {
        return Ok(data::embedded::digits());
    }
    Ok(data::load(Path::new(path), role, label_column(label).as_ref())?)
}
