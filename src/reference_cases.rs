//! The JSON case format of the PSA reference vectors (`shared/conformance/`), read and written by
//! `sbn grad`: real-weight networks, inputs, labels and optional uniforms in; each requested
//! estimator's value and gradients out, in the same layout (`W[k]` is `[n_out][n_in]`).

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use serde_json::{Map, Value, json};

use crate::error::{Result, SbnError};
use crate::estimator::{Estimate, EstimatorKind};
use crate::model::{GivenDraws, Layer, Network, RngDraws};

/// One case: a real-weight network, a batch, and (optionally) the uniforms of its sample.
#[derive(Clone, Debug)]
pub struct GradCase {
    /// The case's `name` in the file, repeated in the output.
    pub name: String,
    /// The real-weight network of the case's `params` (`W[k]`, `b[k]`).
    pub net: Network,
    /// Inputs, `d0 × B` (one example per column).
    pub x0: DMatrix<f64>,
    /// Labels, one class index per example.
    pub y: Vec<usize>,
    /// `uniforms[k]`, `n_k × B`: one uniform per binary unit.
    pub uniforms: Option<Vec<DMatrix<f64>>>,
}

/// Reads the `cases` array of a JSON document. `source` names the file in error messages.
pub fn parse_cases(text: &str, source: &str) -> Result<Vec<GradCase>> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| SbnError::invalid(source, format!("not valid JSON (line {}, column {}): {e}", e.line(), e.column())))?;
    let cases = doc
        .get("cases")
        .ok_or_else(|| SbnError::invalid(source, "missing field 'cases'"))?
        .as_array()
        .ok_or_else(|| SbnError::invalid(format!("{source}: cases"), "expected an array of cases"))?;
    if cases.is_empty() {
        return Err(SbnError::invalid(format!("{source}: cases"), "the array is empty"));
    }
    cases.iter().enumerate().map(|(c, v)| parse_case(v, &format!("{source}: case {c}"))).collect()
}

fn parse_case(v: &Value, place: &str) -> Result<GradCase> {
    let obj = v.as_object().ok_or_else(|| SbnError::invalid(place, "expected an object"))?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(SbnError::invalid(format!("{place}: name"), "expected a string")),
        None => return Err(SbnError::invalid(place, "missing field 'name'")),
    };
    let place = format!("{place} ('{name}')");
    let field = |key: &str| obj.get(key).ok_or_else(|| SbnError::invalid(&place, format!("missing field '{key}'")));
    let net = parse_network(field("params")?, &place)?;
    let dims = net.dims();
    if let Some(d) = obj.get("dims") {
        let given: Vec<usize> = array(d, &format!("{place}: dims"))?
            .iter()
            .map(|v| v.as_u64().map(|u| u as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| SbnError::invalid(format!("{place}: dims"), "expected non-negative integers"))?;
        if given != dims {
            return Err(SbnError::invalid(format!("{place}: dims"), format!("says {given:?} but params give {dims:?}")));
        }
    }
    let x_rows = matrix(field("x0")?, &format!("{place}: x0"))?; // [B][d0]
    if x_rows.ncols() != dims[0] {
        return Err(SbnError::invalid(format!("{place}: x0"), format!("rows have {} inputs but W[0] takes {}", x_rows.ncols(), dims[0])));
    }
    let x0 = x_rows.transpose();
    let y = parse_labels(field("y")?, x0.ncols(), *dims.last().expect("dims"), &place)?;
    let uniforms = match obj.get("uniforms") {
        None | Some(Value::Null) => None,
        Some(u) => Some(parse_uniforms(u, &dims, x0.ncols(), &place)?),
    };
    Ok(GradCase { name, net, x0, y, uniforms })
}

/// The real-weight network of `params` (`W` and `b`, one entry per layer).
fn parse_network(params: &Value, place: &str) -> Result<Network> {
    let w_list = params.get("W").ok_or_else(|| SbnError::invalid(format!("{place}: params"), "missing field 'W'"))?;
    let b_list = params.get("b").ok_or_else(|| SbnError::invalid(format!("{place}: params"), "missing field 'b'"))?;
    let w_arr = array(w_list, &format!("{place}: params.W"))?;
    let b_arr = array(b_list, &format!("{place}: params.b"))?;
    if w_arr.len() != b_arr.len() {
        return Err(SbnError::invalid(format!("{place}: params"), format!("W has {} layers but b has {}", w_arr.len(), b_arr.len())));
    }
    if w_arr.len() < 2 {
        return Err(SbnError::invalid(format!("{place}: params.W"), "needs at least one binary layer and an output layer"));
    }
    let mut layers = Vec::with_capacity(w_arr.len());
    for (k, (w, b)) in w_arr.iter().zip(b_arr).enumerate() {
        let w = matrix(w, &format!("{place}: params.W[{k}]"))?;
        let b = vector(b, &format!("{place}: params.b[{k}]"))?;
        if b.len() != w.nrows() {
            return Err(SbnError::invalid(format!("{place}: params.b[{k}]"), format!("has {} entries but W[{k}] has {} rows", b.len(), w.nrows())));
        }
        if let Some(prev) = layers.last().map(Layer::n_out)
            && w.ncols() != prev
        {
            return Err(SbnError::invalid(format!("{place}: params.W[{k}]"), format!("has {} columns but layer {} has {prev} units", w.ncols(), k - 1)));
        }
        layers.push(Layer::real(w, b));
    }
    Network::new(layers).map_err(|e| SbnError::invalid(place, e.to_string()))
}

/// The `batch` class indices of `y`, each below `n_classes`.
fn parse_labels(y: &Value, batch: usize, n_classes: usize, place: &str) -> Result<Vec<usize>> {
    let y_arr = array(y, &format!("{place}: y"))?;
    if y_arr.len() != batch {
        return Err(SbnError::invalid(format!("{place}: y"), format!("has {} labels but x0 has {batch} rows", y_arr.len())));
    }
    y_arr
        .iter()
        .enumerate()
        .map(|(n, v)| match v.as_u64() {
            Some(c) if (c as usize) < n_classes => Ok(c as usize),
            _ => Err(SbnError::invalid(format!("{place}: y[{n}]"), format!("expected a class index in 0..{n_classes}, got {v}"))),
        })
        .collect()
}

/// The unit uniforms of every binary layer (`batch × units` in the file), transposed to the
/// network's layout (`units × batch`).
fn parse_uniforms(u: &Value, dims: &[usize], batch: usize, place: &str) -> Result<Vec<DMatrix<f64>>> {
    let u_arr = array(u, &format!("{place}: uniforms"))?;
    let n_hidden = dims.len() - 2;
    if u_arr.len() != n_hidden {
        return Err(SbnError::invalid(format!("{place}: uniforms"), format!("has {} layers but the net has {n_hidden} binary layers", u_arr.len())));
    }
    u_arr
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let f = format!("{place}: uniforms[{k}]");
            let m = matrix(m, &f)?;
            if m.shape() != (batch, dims[k + 1]) {
                return Err(SbnError::invalid(&f, format!("is {}×{} but should be {batch}×{} (batch × units)", m.nrows(), m.ncols(), dims[k + 1])));
            }
            if m.iter().any(|&u| !(0.0..=1.0).contains(&u)) {
                return Err(SbnError::invalid(&f, "uniforms must lie in [0, 1]"));
            }
            Ok(m.transpose())
        })
        .collect()
}

fn array<'a>(v: &'a Value, place: &str) -> Result<&'a Vec<Value>> {
    v.as_array().ok_or_else(|| SbnError::invalid(place, format!("expected an array, got {}", kind_of(v))))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn number(v: &Value, place: &str) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(SbnError::invalid(place, format!("expected a finite number, got {}", if v.is_string() { v.to_string() } else { kind_of(v).to_string() }))),
    }
}

fn vector(v: &Value, place: &str) -> Result<DVector<f64>> {
    let a = array(v, place)?;
    let vals = a.iter().enumerate().map(|(i, x)| number(x, &format!("{place}[{i}]"))).collect::<Result<Vec<_>>>()?;
    Ok(DVector::from_vec(vals))
}

/// A rectangular `[rows][cols]` array of finite numbers.
fn matrix(v: &Value, place: &str) -> Result<DMatrix<f64>> {
    let rows = array(v, place)?;
    if rows.is_empty() {
        return Err(SbnError::invalid(place, "is empty"));
    }
    let mut data = Vec::new();
    let mut width = None;
    for (r, row) in rows.iter().enumerate() {
        let row = vector(row, &format!("{place}[{r}]"))?;
        match width {
            None if row.is_empty() => return Err(SbnError::invalid(format!("{place}[{r}]"), "is empty")),
            None => width = Some(row.len()),
            Some(w) if w != row.len() => {
                return Err(SbnError::invalid(format!("{place}[{r}]"), format!("has {} entries but row 0 has {w} (ragged array)", row.len())));
            }
            Some(_) => {}
        }
        data.extend(row.iter());
    }
    Ok(DMatrix::from_row_slice(rows.len(), width.expect("non-empty"), &data))
}

fn matrix_json(m: &DMatrix<f64>) -> Value {
    Value::Array(m.row_iter().map(|r| Value::Array(r.iter().map(|&v| json!(v)).collect())).collect())
}

fn grad_json(est: &Estimate) -> (Value, Value) {
    let dw = est.grad.layers.iter().map(|l| matrix_json(&l.w)).collect();
    let db = est.grad.layers.iter().map(|l| Value::Array(l.bias.iter().map(|&v| json!(v)).collect())).collect();
    (Value::Array(dw), Value::Array(db))
}

impl GradCase {
    /// Runs the estimators on this case's sample (its uniforms, or draws from `seed` when it has
    /// none; every estimator sees the same sample) and returns the result in the reference layout.
    pub fn run(&self, estimators: &[EstimatorKind], seed: u64) -> Result<Value> {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        for &kind in estimators {
            let mut given = match &self.uniforms {
                Some(u) => GivenDraws { units: u.clone(), weights: vec![] },
                None => {
                    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
                    let dims = self.net.dims();
                    let mut units = Vec::new();
                    for &n in &dims[1..dims.len() - 1] {
                        let mut m = DMatrix::zeros(n, self.x0.ncols());
                        crate::model::Draws::units(&mut RngDraws(&mut rng), 0, m.as_mut_slice());
                        units.push(m);
                    }
                    GivenDraws { units, weights: vec![] }
                }
            };
            let ws = self.net.sample_weights(&mut given);
            let est = kind
                .build()
                .estimate(&self.net, &self.x0, &self.y, &ws, &mut given)
                .map_err(|e| SbnError::invalid(format!("case '{}'", self.name), e.to_string()))?;
            let (dw, db) = grad_json(&est);
            let value_key = match kind {
                EstimatorKind::Psa => "loss_estimate",
                EstimatorKind::Exact => "expected_loss",
                _ => "loss_at_sample",
            };
            out.insert(kind.name().into(), json!({ value_key: est.loss, "dW": dw, "db": db }));
        }
        Ok(Value::Object(out))
    }
}
