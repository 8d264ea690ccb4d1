//! CSV data sets: numeric features and (usually) one label column, optionally gzip-compressed.
//!
//! * Parsed by the `csv` crate: separator `,`, RFC 4180 quoting (a quoted field may hold commas,
//!   doubled quotes and line breaks), LF or CRLF line ends, a UTF-8 byte-order mark ignored.
//!   Fields are trimmed; blank lines are skipped.
//! * Header: present when the first row has a non-numeric field in a feature column (or when the
//!   label column is given by a name found on the first row).
//! * Labels: if every label is numeric, each must be a non-negative integer, the class number,
//!   and the classes are "0".."K-1" (K = largest label + 1); otherwise labels are names, and the
//!   sorted distinct names are the classes. Either way a label is matched by name against the
//!   classes of a fitted model ([`Dataset::labels_for`]).
//! * No labels: with [`LabelPolicy::Absent`] every column is a feature; with
//!   [`LabelPolicy::IfPresent`], a file with exactly [`LoadOptions::n_features`] columns has none.
//! * Features: every value must be a finite number. When every value is an integer in 0..=255 the
//!   features are stored exactly as [`Features::Bytes`] (so byte-valued tables such as the digits get
//!   the affine scaling and the bit-plane path); otherwise as [`Features::Real`]. Use
//!   [`Dataset::to_real`] to force real storage.
//!
//! Errors name the file, the 1-based line and the 1-based column (with its header name if any).

use std::path::Path;

use super::{Dataset, Features, LabelColumn, LabelPolicy, LoadOptions, Origin, idx};
use crate::error::{Result, SbnError};

/// Largest integer label accepted (guards against a real-valued column taken as labels).
pub const MAX_INTEGER_LABEL: usize = 100_000;

/// Read a `.csv` or `.csv.gz` file (gzip detected by magic bytes) as `options` say.
pub fn read_csv(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    let bytes = idx::read_maybe_gz(path)?;
    let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = file_name.trim_end_matches(".gz").trim_end_matches(".csv").to_string();
    parse_csv(&bytes, &path.display().to_string(), &name, options)
}

/// One record: the line it starts on (1-based) and its trimmed fields.
struct Row {
    line: usize,
    fields: Vec<String>,
}

/// All non-blank records of `bytes`; a malformed record is an error naming its line.
fn records(bytes: &[u8], file: &str) -> Result<Vec<Row>> {
    let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(::csv::Trim::All).from_reader(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(String::new(), |p| format!(":{}", lines.line_at(p.byte())));
            let what = match e.kind() {
                ::csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text".to_string(),
                _ => e.to_string(),
            };
            SbnError::invalid(format!("{file}{line}"), what)
        })?;
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        rows.push(Row { line, fields: record.iter().map(str::to_string).collect() });
    }
    Ok(rows)
}

/// Line numbers of byte offsets, counted incrementally. The `csv` crate's own line count goes
/// astray on blank lines and CRLF ends, so lines are counted here from its byte offsets (which
/// leave out a byte-order mark and may point at the blank lines before a record).
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Bytes of the byte-order mark the reader skipped.
    bom: usize,
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter { bytes, bom: if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 }, pos: 0, line: 1 }
    }

    /// The 1-based line of the first character at or after byte `offset` that is not a line end;
    /// offsets must not decrease between calls.
    fn line_at(&mut self, offset: u64) -> usize {
        let mut target = (offset as usize + self.bom).min(self.bytes.len());
        while target < self.bytes.len() && matches!(self.bytes[target], b'\r' | b'\n') {
            target += 1;
        }
        if target > self.pos {
            self.line += self.bytes[self.pos..target].iter().filter(|&&b| b == b'\n').count();
            self.pos = target;
        }
        self.line
    }
}

/// Parse CSV text (already decompressed). `file` names the source in errors; `name` becomes the
/// data set's name.
pub fn parse_csv(bytes: &[u8], file: &str, name: &str, options: &LoadOptions) -> Result<Dataset> {
    let rows = records(bytes, file)?;
    let first = rows.first().ok_or_else(|| SbnError::invalid(format!("{file}:1"), "empty file: no data rows"))?;
    let label = label_column(first, options, file)?;
    let named_label = matches!(options.label_column, Some(LabelColumn::Name(_)));
    let has_header = named_label || first.fields.iter().enumerate().any(|(k, f)| Some(k) != label && !is_number(f));
    let header: Option<&[String]> = has_header.then_some(first.fields.as_slice());
    let col_name = |c: usize| match header {
        Some(h) => format!("column {} (`{}`)", c + 1, h[c]),
        None => format!("column {}", c + 1),
    };
    let data_rows = &rows[usize::from(has_header)..];
    if data_rows.is_empty() {
        return Err(SbnError::invalid(format!("{file}:{}", first.line + 1), "no data rows after the header"));
    }
    let (values, raw_labels) = read_fields(data_rows, first, label, &col_name, file)?;
    let dim = first.fields.len() - usize::from(label.is_some());
    let all_bytes = values.iter().all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let features = if all_bytes { Features::Bytes(values.iter().map(|&v| v as u8).collect()) } else { Features::Real(values) };
    let lines = data_rows.iter().map(|r| r.line).collect();
    let ds = Dataset::unlabelled(name, features, dim)?.with_origin(Origin::csv(file, lines, label.map(col_name)));
    match label {
        None => Ok(ds),
        Some(c) => with_labels(ds, &raw_labels, data_rows, &col_name(c), file),
    }
}

fn is_number(f: &str) -> bool {
    f.parse::<f64>().is_ok()
}

/// The label column of a file whose first row is `first` (`None`: every column is a feature).
fn label_column(first: &Row, options: &LoadOptions, file: &str) -> Result<Option<usize>> {
    let ncols = first.fields.len();
    let at = || format!("{file}:{}", first.line);
    let label = match (&options.label_column, options.labels) {
        (Some(_), LabelPolicy::Absent) => return Err(SbnError::invalid(file, "a label column was named, but the data was to be read without labels")),
        (None, LabelPolicy::Absent) => None,
        (None, LabelPolicy::IfPresent) if options.n_features == Some(ncols) => None,
        (None, LabelPolicy::Required) if options.n_features == Some(ncols) => {
            return Err(SbnError::invalid(
                at(),
                format!("{ncols} columns, exactly the model's inputs: the file has no label column, and labels are needed here"),
            ));
        }
        (Some(LabelColumn::Name(wanted)), _) => match first.fields.iter().position(|f| f == wanted) {
            Some(c) => Some(c),
            None => {
                let looks_header = first.fields.iter().any(|f| !is_number(f));
                let msg = if looks_header {
                    format!("label column `{wanted}` not found in the header (columns: {})", first.fields.join(", "))
                } else {
                    format!("label column `{wanted}` requested by name, but the file has no header")
                };
                return Err(SbnError::invalid(at(), msg));
            }
        },
        (Some(LabelColumn::Index(c)), _) if *c >= ncols => {
            return Err(SbnError::invalid(at(), format!("label column index {c} (0-based) out of range: the file has {ncols} columns")));
        }
        (Some(LabelColumn::Index(c)), _) => Some(*c),
        (None, _) => Some(ncols - 1),
    };
    if label.is_some() && ncols < 2 {
        return Err(SbnError::invalid(at(), format!("{ncols} column; need at least one feature column and one label column")));
    }
    Ok(label)
}

/// The feature values (row-major) and the label fields of `rows`, each row as wide as `first`.
fn read_fields<'r>(rows: &'r [Row], first: &Row, label: Option<usize>, col_name: &dyn Fn(usize) -> String, file: &str) -> Result<(Vec<f64>, Vec<&'r str>)> {
    let ncols = first.fields.len();
    let dim = ncols - usize::from(label.is_some());
    let mut values: Vec<f64> = Vec::new();
    values
        .try_reserve_exact(rows.len().saturating_mul(dim))
        .map_err(|_| SbnError::invalid(file, format!("{} rows of {dim} features do not fit in memory", rows.len())))?;
    let mut raw_labels: Vec<&str> = Vec::with_capacity(if label.is_some() { rows.len() } else { 0 });
    for row in rows {
        if row.fields.len() != ncols {
            // A quote that is never closed swallows the line ends after it into one field.
            if let Some(f) = row.fields.iter().find(|f| f.contains('\n')) {
                let lines = f.matches('\n').count() + 1;
                return Err(SbnError::invalid(
                    format!("{file}:{}", row.line),
                    format!("unterminated quote: a quoted field starting on this line runs over {lines} lines"),
                ));
            }
            return Err(SbnError::invalid(
                format!("{file}:{}", row.line),
                format!("ragged row: {} fields, expected {ncols} (as on line {})", row.fields.len(), first.line),
            ));
        }
        for (c, f) in row.fields.iter().enumerate() {
            let place = || format!("{file}:{}, {}", row.line, col_name(c));
            if Some(c) == label {
                if f.is_empty() {
                    return Err(SbnError::invalid(place(), "empty label"));
                }
                raw_labels.push(f);
                continue;
            }
            let v: f64 =
                f.parse().map_err(|_| SbnError::invalid(place(), if f.is_empty() { "empty field".to_string() } else { format!("non-numeric value `{f}`") }))?;
            if !v.is_finite() {
                return Err(SbnError::invalid(place(), format!("non-finite value `{f}`")));
            }
            values.push(v);
        }
    }
    Ok((values, raw_labels))
}

/// `ds` with the labels `raw` (one per row of `rows`, from the column `column`): integers are
/// class numbers; any non-numeric label makes them all names.
fn with_labels(ds: Dataset, raw: &[&str], rows: &[Row], column: &str, file: &str) -> Result<Dataset> {
    if raw.iter().all(|s| is_number(s)) {
        let mut index = Vec::with_capacity(raw.len());
        for (n, s) in raw.iter().enumerate() {
            let v: f64 = s.parse().expect("checked numeric");
            if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_INTEGER_LABEL as f64) {
                return Err(SbnError::invalid(
                    format!("{file}:{}, {column}", rows[n].line),
                    format!("label `{s}` is not a class number (a non-negative integer up to {MAX_INTEGER_LABEL}); write names if the labels are not numbers"),
                ));
            }
            index.push(v as usize);
        }
        let k = index.iter().max().map_or(0, |&m| m + 1);
        ds.with_labels(index, (0..k).map(|c| c.to_string()).collect(), true)
    } else {
        let mut names: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        names.sort_unstable();
        names.dedup();
        let index = raw.iter().map(|s| names.binary_search_by(|n| n.as_str().cmp(s)).expect("name present")).collect();
        ds.with_labels(index, names, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, label: Option<LabelColumn>) -> Result<Dataset> {
        parse_csv(text.as_bytes(), "t.csv", "t", &LoadOptions { label_column: label, ..LoadOptions::default() })
    }

    #[test]
    fn header_and_string_labels() {
        let ds = parse("a,species,b\n1.5,cat,2\n0.5,dog,3\n1,cat,-1\n", Some(LabelColumn::Name("species".into()))).unwrap();
        assert_eq!(ds.class_names(), ["cat", "dog"]);
        assert_eq!(ds.labels().unwrap(), [0, 1, 0]);
        assert_eq!(ds.dim, 2);
        assert!(!ds.is_bytes());
        assert_eq!(ds.feature(2, 1), -1.0);
        assert_eq!(ds.place(2), "t.csv:4, column 2 (`species`)");
    }

    #[test]
    fn no_header_integer_labels_become_bytes() {
        let ds = parse("2,0,5\n\n3,1,255\n", Some(LabelColumn::Index(0))).unwrap();
        assert_eq!(ds.labels().unwrap(), [2, 3]);
        assert_eq!(ds.n_classes(), 4);
        assert!(ds.is_bytes());
        assert_eq!(ds.feature(1, 1), 255.0);
        assert_eq!(ds.place(1), "t.csv:3, column 1");
    }

    #[test]
    fn quoted_fields_crlf_and_byte_order_mark() {
        // As pandas, R or a spreadsheet write them.
        let text = "\u{feff}\"x\",\"y\",\"label\"\r\n1,2,\"cat, big\"\r\n3,4,\"say \"\"hi\"\"\"\r\n\"5\",6,\"cat, big\"\r\n";
        let ds = parse(text, None).unwrap();
        assert_eq!(ds.class_names(), ["cat, big", "say \"hi\""]);
        assert_eq!(ds.labels().unwrap(), [0, 1, 0]);
        assert_eq!((ds.len(), ds.dim, ds.feature(2, 0)), (3, 2, 5.0));
        let ds = parse("\u{feff}label,x\n0,1\n1,2\n", Some(LabelColumn::Name("label".into()))).unwrap();
        assert_eq!(ds.labels().unwrap(), [0, 1]);
    }

    #[test]
    fn without_labels() {
        let absent = LoadOptions { labels: LabelPolicy::Absent, ..LoadOptions::default() };
        let ds = parse_csv(b"a,b\n1,2\n3,4\n", "t.csv", "t", &absent).unwrap();
        assert_eq!((ds.len(), ds.dim, ds.is_labelled()), (2, 2, false));
        // Exactly the model's inputs: no label column; one more: the last is the label.
        let predict = LoadOptions { labels: LabelPolicy::IfPresent, n_features: Some(2), ..LoadOptions::default() };
        let ds = parse_csv(b"1,2\n3,4\n", "t.csv", "t", &predict).unwrap();
        assert!(!ds.is_labelled());
        let ds = parse_csv(b"1,2,0\n3,4,1\n", "t.csv", "t", &predict).unwrap();
        assert_eq!(ds.labels().unwrap(), [0, 1]);
        let required = LoadOptions { n_features: Some(2), ..LoadOptions::default() };
        let e = parse_csv(b"1,2\n3,4\n", "t.csv", "t", &required).unwrap_err().to_string();
        assert!(e.contains("no label column"), "{e}");
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
        let e = parse("1,2,0\n\"3,4,1\n5,6,0\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv:2") && e.contains("unterminated quote"), "{e}");
        let e = parse_csv(b"1,2,0\n3,\xff,1\n", "t.csv", "t", &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("t.csv:2") && e.contains("UTF-8"), "{e}");
        assert!(parse("1,2,0.5\n", None).is_err());
        assert!(parse("", None).unwrap_err().to_string().contains("empty"));
        assert!(parse("a,b\n", None).is_err());
    }
}
