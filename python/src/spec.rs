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
/// of spec sections (`"training"`, …), each a dict of fields, laid over it.
pub fn build(path: Option<&Path>, overrides: &Bound<'_, PyDict>) -> PyResult<Checked<ModelSpec>> {
    let (base, source) = match path {
        Some(p) => (ModelSpec::read(p).py_err()?, p.display().to_string()),
        None => (ModelSpec::new(NetworkSpec::dense(&[], WeightKind::Bernoulli)), "sbn.fit".to_string()),
    };
    let mut value = toml::Value::try_from(&base).map_err(|e| PyValueError::new_err(format!("{source}: {e}")))?;
    let table = value.as_table_mut().expect("a spec is a table");
    for (section, fields) in overrides.iter() {
        let section: String = section.extract()?;
        let fields = fields.cast::<PyDict>().map_err(|_| PyTypeError::new_err(format!("spec section {section}: expected a dict")))?;
        let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let target = entry.as_table_mut().ok_or_else(|| PyValueError::new_err(format!("{section} is not a section of a spec")))?;
        for (key, v) in fields.iter() {
            let key: String = key.extract()?;
            if v.is_none() {
                continue;
            }
            let converted = to_toml(&v, &format!("{section}.{key}"))?;
            target.insert(key, converted);
        }
    }
    let spec: ModelSpec = value.try_into().map_err(|e: toml::de::Error| PyValueError::new_err(format!("{source}: {}", e.message().trim())))?;
    spec.check(&source).py_err()
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
