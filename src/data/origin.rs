//! Where the examples of a data set come from, so that a message about one of them points at it
//! in the user's file: `train.csv:17, column 65 (\`label\`)`, `t10k-images-idx3-ubyte.gz, record 3`.

/// Where the examples of a data set come from: a file and, per example, its 1-based line (CSV)
/// or 0-based record (IDX), so that messages can point at the example in the user's file.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    file: String,
    unit: Unit,
    /// The label column of a CSV file, e.g. "column 65 (`label`)".
    label_field: Option<String>,
    /// Position of every example in the file; `None` means example `n` is at position `n`.
    positions: Option<Vec<usize>>,
}

/// What an [`Origin`]'s positions count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// 1-based lines of a text file.
    Line,
    /// 0-based records of an IDX file.
    Record,
    /// Examples of a data set made in memory.
    Example,
}

impl Origin {
    /// Examples made in memory (generators, grids, arrays passed to the library).
    pub fn memory(name: &str) -> Origin {
        Origin { file: name.to_string(), unit: Unit::Example, label_field: None, positions: None }
    }

    /// Records of an IDX file, example `n` at record `n`.
    pub fn idx(file: &str) -> Origin {
        Origin { file: file.to_string(), unit: Unit::Record, label_field: None, positions: None }
    }

    /// Lines of a CSV file, one per example; `label_field` names the label column.
    pub fn csv(file: &str, lines: Vec<usize>, label_field: Option<String>) -> Origin {
        Origin { file: file.to_string(), unit: Unit::Line, label_field, positions: Some(lines) }
    }

    /// The file (or, for examples made in memory, the name) the examples come from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The place of example `n` in messages: `file:line, column …`, `file, record n`, `name, example n`.
    pub fn place(&self, n: usize) -> String {
        let pos = self.positions.as_ref().map_or(n, |p| p[n]);
        match self.unit {
            Unit::Line => match &self.label_field {
                Some(field) => format!("{}:{pos}, {field}", self.file),
                None => format!("{}:{pos}", self.file),
            },
            Unit::Record => format!("{}, record {pos}", self.file),
            Unit::Example => format!("{}, example {pos}", self.file),
        }
    }

    /// The origin of the examples `indices` of this one, in that order.
    pub(crate) fn subset(&self, indices: &[usize]) -> Origin {
        let positions = Some(indices.iter().map(|&n| self.positions.as_ref().map_or(n, |p| p[n])).collect());
        Origin { positions, ..self.clone() }
    }
}
