//! The spec of a fit from Python: a TOML spec file (the CLI's `models/*.toml`) or the library's
//! default spec, with the keyword arguments laid over it section by section. The merged spec goes
//! through the library's own deserialization and check, so unknown fields, wrong types and bad
//! values are refused with the library's messages.

use std::path::Path;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use sbn::WeightKind;
use sbn::checked::Checked;
use sbn::spec::{ModelSpec, NetworkSpec};

use crate::errors::IntoPy;

/// The checked spec: `path`'s (or, without one, the library default's) with `overrides`, a dict
/// of spec sections (`"training"`, …), each a dict of fields, laid over it. A value the spec
/// cannot take is an error naming its field.
pub fn build(path: Option<&Path>, overrides: &Bound<'_, PyDict>) -> PyResult<Checked<ModelSpec>> {
    let (base, source) = match path {
        Some(p) => (ModelSpec::read(p).py_err()?, p.display().to_string()),
        None => (ModelSpec::new(NetworkSpec::dense(&[], WeightKind::Bernoulli)), "sbn.fit".to_string()),
    };
    let base = toml::Value::try_from(&base).map_err(|e| PyValueError::new_err(format!("{source}: {e}")))?;
    let fields = fields(overrides)?;
    let spec = match with_fields(&base, &fields) {
        Ok(spec) => spec,
        // Which field: the first that the base spec cannot take alone.
        Err(e) => {
            let culprit = fields.iter().find_map(|f| with_fields(&base, std::slice::from_ref(f)).err().map(|e| (f, e)));
            let message = match culprit {
                Some(((section, key, value), e)) => format!("{source}: {section}.{key} = {value}: {}", e.message().trim()),
                None => format!("{source}: {}", e.message().trim()),
            };
            return Err(PyValueError::new_err(message));
        }
    };
    spec.check(&source).py_err()
}

/// A spec field set from Python: section, key, value.
type Field = (String, String, toml::Value);

/// The fields of `overrides` (sections of fields; `None` values left out).
fn fields(overrides: &Bound<'_, PyDict>) -> PyResult<Vec<Field>> {
    let mut out = Vec::new();
    for (section, table) in overrides.iter() {
        let section: String = section.extract()?;
        let table = table.cast::<PyDict>().map_err(|_| PyTypeError::new_err(format!("spec section {section}: expected a dict")))?;
        for (key, v) in table.iter() {
            let key: String = key.extract()?;
            if !v.is_none() {
                let value = to_toml(&v, &format!("{section}.{key}"))?;
                out.push((section.clone(), key, value));
            }
        }
    }
    Ok(out)
}

/// The spec `base` with `fields` set, deserialized (not yet checked).
fn with_fields(base: &toml::Value, fields: &[Field]) -> Result<ModelSpec, toml::de::Error> {
    let mut value = base.clone();
    let table = value.as_table_mut().expect("a spec is a table");
    for (section, key, v) in fields {
        let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.clone(), v.clone());
        }
    }
    value.try_into()
}

/// A Python value as TOML: bool, int, float, str, and lists, tuples and dicts of them.
fn to_toml(v: &Bound<'_, PyAny>, key: &str) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() || v.hasattr("__index__")? && !v.is_instance_of::<PyFloat>() {
        let i: i64 = v.extract().map_err(|_| PyValueError::new_err(format!("{key}: {v} is out of range")))?;
        return Ok(toml::Value::Integer(i));
    }
    if v.is_instance_of::<PyFloat>() || v.hasattr("__float__")? && !v.is_instance_of::<PyString>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(toml::Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, x) in d.iter() {
            let k: String = k.extract()?;
            let value = to_toml(&x, &format!("{key}.{k}"))?;
            t.insert(k, value);
        }
        return Ok(toml::Value::Table(t));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = v.extract()?;
        return items.iter().enumerate().map(|(i, x)| to_toml(x, &format!("{key}[{i}]"))).collect::<PyResult<Vec<_>>>().map(toml::Value::Array);
    }
    Err(PyTypeError::new_err(format!("{key}: a {} is not a number, string, list or dict", v.get_type().name()?)))
}
