//! CSV data sets: numeric features plus one label column, optionally gzip-compressed.
//!
//! * Separator `,`; fields are trimmed and may be wrapped in double quotes (no embedded commas).
//!   Blank lines are skipped.
//! * Header: present when the first line has a non-numeric field in a feature column (or when the
//!   label column is given by a name found on the first line).
//! * Labels: if every label is numeric, each must be a non-negative integer, the class index, with
//!   names "0".."K-1" (K = largest label + 1); otherwise labels are strings, and the sorted distinct
//!   strings are the classes.
//! * Features: every value must be a finite number. When every value is an integer in 0..=255 the
//!   features are stored exactly as [`Features::Bytes`] (so byte-valued tables such as the digits get
//!   the affine scaling and the bit-plane path); otherwise as [`Features::Real`]. Use
//!   [`Dataset::to_real`] to force real storage.
//!
//! Errors name the file, the 1-based line and the 1-based column (with its header name if any).

use std::path::Path;

use super::{Dataset, Features, LabelColumn, idx};
use crate::error::{Result, SbnError};

/// Largest integer label accepted (guards against a real-valued column taken as labels).
pub const MAX_INTEGER_LABEL: usize = 100_000;

/// Read a `.csv` or `.csv.gz` file (gzip detected by magic bytes). The labels are in `label`
/// (default: the last column).
pub fn read_csv(path: &Path, label: Option<&LabelColumn>) -> Result<Dataset> {
    let bytes = idx::read_maybe_gz(path)?;
    let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = file_name.trim_end_matches(".gz").trim_end_matches(".csv").to_string();
    parse_csv(&bytes, &path.display().to_string(), &name, label)
}

/// One split line: its 1-based number and its fields.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

fn split_fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.strip_prefix('"').and_then(|g| g.strip_suffix('"')).unwrap_or(f).trim()
        })
        .collect()
}

/// Parse CSV text (already decompressed). `file` names the source in errors; `name` becomes the
/// data set's name.
pub fn parse_csv(bytes: &[u8], file: &str, name: &str, label: Option<&LabelColumn>) -> Result<Dataset> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        SbnError::invalid(format!("{file}:{line}"), "not valid UTF-8 text")
    })?;
    let mut rows = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(k, l)| Row { line: k + 1, fields: split_fields(l) });
    let first = rows.next().ok_or_else(|| SbnError::invalid(format!("{file}:1"), "empty file: no data rows"))?;
    let ncols = first.fields.len();
    if ncols < 2 {
        return Err(SbnError::invalid(format!("{file}:{}", first.line), format!("{ncols} column; need at least one feature column and one label column")));
    }
    let is_number = |f: &str| f.parse::<f64>().is_ok();

    // Label column and header.
    let (label_col, has_header) = match label {
        Some(LabelColumn::Name(wanted)) => match first.fields.iter().position(|f| f == wanted) {
            Some(c) => (c, true),
            None => {
                let looks_header = first.fields.iter().any(|f| !is_number(f));
                let msg = if looks_header { format!("label column `{wanted}` not found in the header (columns: {})", first.fields.join(", ")) } else { format!("label column `{wanted}` requested by name, but the file has no header") };
                return Err(SbnError::invalid(format!("{file}:{}", first.line), msg));
            }
        },
        Some(&LabelColumn::Index(c)) => {
            if c >= ncols {
                return Err(SbnError::invalid(format!("{file}:{}", first.line), format!("label column index {c} (0-based) out of range: the file has {ncols} columns")));
            }
            (c, first.fields.iter().enumerate().any(|(k, f)| k != c && !is_number(f)))
        }
        None => (ncols - 1, first.fields[..ncols - 1].iter().any(|f| !is_number(f))),
    };
    let header: Option<Vec<String>> = has_header.then(|| first.fields.iter().map(|s| s.to_string()).collect());
    let col_name = |c: usize| match &header {
        Some(h) => format!("column {} (`{}`)", c + 1, h[c]),
        None => format!("column {}", c + 1),
    };
    let header_line = first.line;
    let data_rows: Box<dyn Iterator<Item = Row>> = if has_header { Box::new(rows) } else { Box::new(std::iter::once(first).chain(rows)) };

    let dim = ncols - 1;
    let mut values: Vec<f64> = Vec::new();
    let mut raw_labels: Vec<(&str, usize)> = Vec::new();
    for row in data_rows {
        if row.fields.len() != ncols {
            return Err(SbnError::invalid(format!("{file}:{}", row.line), format!("ragged row: {} fields, expected {ncols} (as on line {header_line})", row.fields.len())));
        }
        for (c, f) in row.fields.iter().enumerate() {
            if c == label_col {
                if f.is_empty() {
                    return Err(SbnError::invalid(format!("{file}:{}, {}", row.line, col_name(c)), "empty label"));
                }
                raw_labels.push((f, row.line));
                continue;
            }
            let v: f64 = f.parse().map_err(|_| SbnError::invalid(format!("{file}:{}, {}", row.line, col_name(c)), if f.is_empty() { "empty field".to_string() } else { format!("non-numeric value `{f}`") }))?;
            if !v.is_finite() {
                return Err(SbnError::invalid(format!("{file}:{}, {}", row.line, col_name(c)), format!("non-finite value `{f}`")));
            }
            values.push(v);
        }
    }
    if raw_labels.is_empty() {
        return Err(SbnError::invalid(format!("{file}:{}", header_line + 1), "no data rows after the header"));
    }

    // Labels: integers are class indices; any non-numeric label makes them all names.
    let (labels, class_names) = if raw_labels.iter().all(|(s, _)| is_number(s)) {
        let mut labels = Vec::with_capacity(raw_labels.len());
        for &(s, line) in &raw_labels {
            let v: f64 = s.parse().expect("checked numeric");
            if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_INTEGER_LABEL as f64) {
                return Err(SbnError::invalid(format!("{file}:{line}, {}", col_name(label_col)), format!("label `{s}` is not a class index (a non-negative integer up to {MAX_INTEGER_LABEL})")));
            }
            labels.push(v as usize);
        }
        let k = labels.iter().max().map_or(0, |&m| m + 1);
        (labels, (0..k).map(|c| c.to_string()).collect::<Vec<_>>())
    } else {
        let mut names: Vec<String> = raw_labels.iter().map(|(s, _)| s.to_string()).collect();
        names.sort_unstable();
        names.dedup();
        let labels = raw_labels.iter().map(|(s, _)| names.binary_search_by(|n| n.as_str().cmp(s)).expect("name present")).collect();
        (labels, names)
    };

    let all_bytes = values.iter().all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let features = if all_bytes { Features::Bytes(values.iter().map(|&v| v as u8).collect()) } else { Features::Real(values) };
    let n_classes = class_names.len();
    Dataset::new(name, features, labels, n_classes, class_names, dim, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, label: Option<&LabelColumn>) -> Result<Dataset> {
        parse_csv(text.as_bytes(), "t.csv", "t", label)
    }

    #[test]
    fn header_and_string_labels() {
        let ds = parse("a,species,b\n1.5,cat,2\n0.5,dog,3\n1,cat,-1\n", Some(&LabelColumn::Name("species".into()))).unwrap();
        assert_eq!(ds.class_names, vec!["cat", "dog"]);
        assert_eq!(ds.labels, vec![0, 1, 0]);
        assert_eq!(ds.dim, 2);
        assert!(!ds.is_bytes());
        assert_eq!(ds.feature(2, 1), -1.0);
    }

    #[test]
    fn no_header_integer_labels_become_bytes() {
        let ds = parse("2,0,5\n\n3,1,255\n", Some(&LabelColumn::Index(0))).unwrap();
        assert_eq!(ds.labels, vec![2, 3]);
        assert_eq!(ds.n_classes, 4);
        assert!(ds.is_bytes());
        assert_eq!(ds.feature(1, 1), 255.0);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("x,y,label\n1,2,0\n1,2\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv:3") && e.contains("ragged"), "{e}");
        let e = parse("1,2,0\n1,abc,0\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv:2, column 2") && e.contains("abc"), "{e}");
        let e = parse("1,NaN,0\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv:1, column 2") && e.contains("non-finite"), "{e}");
        let e = parse("1,2,-1\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv:1, column 3"), "{e}");
        assert!(parse("1,2,0.5\n", None).is_err());
        assert!(parse("", None).unwrap_err().to_string().contains("empty"));
        assert!(parse("a,b\n", None).is_err());
    }
}
