"""Safetensors exports read with NumPy alone, compact model files, and the pretrained models of
`pretrained/`.

The safetensors file is parsed by hand, as the format's specification describes it
(github.com/huggingface/safetensors, "Format"): 8 bytes of header length N (little-endian u64),
N bytes of JSON (per tensor its dtype, shape and [begin, end) offsets into the data that follows,
plus "__metadata__"), then the raw little-endian data in C order.
"""

import gzip
import json
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest

import sbn

REPO = pathlib.Path(__file__).resolve().parents[2]
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
# The README's numbers for pretrained/fashion-mnist.sbn and fashion-mnist-conv.sbn (S_w = 16,
# S_z = 8, seed 0).
FASHION_ACCURACY = 0.8836
FASHION_CONV_ACCURACY = 0.9081

DTYPES = {"F64": "<f8", "I8": "i1"}


def read_safetensors(path):
    """The tensors (name → NumPy array) and the metadata of a safetensors file."""
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, meta


def scaled(meta, X):
    scaling = json.loads(meta["input_scaling"])
    if "Affine" in scaling:
        return scaling["Affine"]["alpha"] * X.astype(np.float64) + scaling["Affine"]["offset"]
    s = scaling["Standardize"]
    return (X - np.array(s["mean"])) / np.array(s["std"])


def forward(tensors, weights, x, draws, seed):
    """The Monte Carlo predictive of one network with ±1 weights `weights[k]`: a hidden unit is
    +1 with probability σ(a), a = γ ⊙ (W x) + b; the output layer's a are the class logits."""
    rng = np.random.default_rng(seed)
    states = np.repeat(x[None], draws, axis=0)
    last = len(weights) - 1
    for k, w in enumerate(weights):
        a = tensors[f"layers.{k}.scale"] * (states @ w.T) + tensors[f"layers.{k}.bias"]
        if k < last:
            states = np.where(rng.random(a.shape) < 1.0 / (1.0 + np.exp(-a)), 1.0, -1.0)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).mean(axis=0)


def test_safetensors_export_has_the_documented_tensors(fitted, tmp_path):
    path = tmp_path / "m.safetensors"
    fitted.export_safetensors(path)
    tensors, meta = read_safetensors(path)
    assert meta["format"] == "sbn"
    assert json.loads(meta["class_names"]) == [str(c) for c in fitted.classes_]
    layers = json.loads(meta["layers"])
    assert [(l["kind"], l["n_out"], l["n_in"]) for l in layers] == [("bernoulli", 64, 64), ("bernoulli", 10, 64)]
    assert sorted(tensors) == sorted(f"layers.{k}.{p}" for k in range(2) for p in ("logits", "scale", "bias"))
    assert tensors["layers.0.logits"].shape == (64, 64) and tensors["layers.0.logits"].dtype == np.float64
    assert tensors["layers.1.bias"].shape == (10,)


def test_safetensors_metadata_holds_the_stored_calibration(fitted, sbn_bin, tmp_path):
    path = tmp_path / "m.safetensors"
    fitted.export_safetensors(path)
    _, meta = read_safetensors(path)
    stored = json.loads(meta["posthoc"])
    assert stored["map"] == {"temperature": fitted.posthoc_["temperature"]}
    assert stored["n_examples"] == fitted.posthoc_["n_examples"] and stored["data"] == fitted.posthoc_["data"]
    # The command line writes the same metadata for the same model file.
    fitted.save(tmp_path / "m.sbn")
    done = subprocess.run([sbn_bin, "export", str(tmp_path / "m.sbn"), "--format", "safetensors", "--out", str(tmp_path / "cli.safetensors")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert read_safetensors(tmp_path / "cli.safetensors")[1]["posthoc"] == meta["posthoc"]


@pytest.mark.parametrize("sample_seed", [None, 3])
def test_numpy_forward_of_the_exported_network_matches_sbn(fitted, split, tmp_path, sample_seed):
    """The most likely network (sign of each logit) or a sampled one, run in NumPy from the
    safetensors file, against sbn's own packed prediction of the same network: both are Monte
    Carlo averages over the activation noise, so they agree within its error (a transposed or
    mis-scaled layer misses by far more)."""
    _, _, Xt, _ = split
    X = Xt[:24]
    fitted.export_safetensors(tmp_path / "m.safetensors", sample_seed=sample_seed)
    fitted.export_packed(tmp_path / "m.packed", sample_seed=sample_seed)
    tensors, meta = read_safetensors(tmp_path / "m.safetensors")
    if sample_seed is None:
        weights = [np.where(tensors[f"layers.{k}.logits"] >= 0, 1.0, -1.0) for k in range(2)]
    else:
        assert meta["sample_seed"] == "3"
        weights = [tensors[f"layers.{k}.sample"].astype(np.float64) for k in range(2)]
    ours = np.array([forward(tensors, weights, x, 4000, 1) for x in scaled(meta, X)])
    theirs = sbn.load(tmp_path / "m.packed").predict_proba(X, noise_samples=2048)
    assert np.abs(ours - theirs).max() < 0.03
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.9


def test_compact_save_loads_like_a_model_file(fitted, split, tmp_path):
    _, _, Xt, yt = split
    fitted.save(tmp_path / "full.sbn")
    fitted.save(tmp_path / "small.sbn", compact=True)
    full, small = (tmp_path / "full.sbn").stat().st_size, (tmp_path / "small.sbn").stat().st_size
    assert small * 3 < full
    back = sbn.load(tmp_path / "small.sbn")
    assert list(back.classes_) == list(fitted.classes_)
    a, b = fitted.evaluate(Xt, yt)["accuracy"], back.evaluate(Xt, yt)["accuracy"]
    assert abs(a - b) <= 0.01
    damaged = bytearray((tmp_path / "small.sbn").read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    (tmp_path / "bad.sbn").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="bad.sbn"):
        sbn.load(tmp_path / "bad.sbn")


def test_pretrained_digits_scores_what_its_report_says(digits):
    X, y = digits
    model = sbn.load(REPO / "pretrained" / "digits.sbn")
    assert list(model.classes_) == list(range(10)) and model.n_features_in_ == 64
    report = json.loads((REPO / "docs" / "pretrained" / "digits" / "metrics.json").read_text())
    scores = model.evaluate(X, y)
    assert scores["accuracy"] == report["scores"]["accuracy"]
    assert scores["nll"] == report["scores"]["nll"]


def idx(path):
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw[4 + 4 * dims :], dtype=np.uint8).reshape(shape)


def test_pretrained_fashion_mnist():
    model = sbn.load(REPO / "pretrained" / "fashion-mnist.sbn")
    assert model.n_features_in_ == 784 and len(model.classes_) == 10
    X = np.random.default_rng(0).integers(0, 256, size=(5, 784), dtype=np.uint8)
    p = model.predict_proba(X)
    assert p.shape == (5, 10) and np.allclose(p.sum(axis=1), 1.0)
    if not (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed: shapes and classes checked, accuracy not")
    Xt = idx(FASHION / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    yt = idx(FASHION / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    assert abs(model.evaluate(Xt, yt)["accuracy"] - FASHION_ACCURACY) <= 0.002


def test_pretrained_fashion_mnist_conv():
    model = sbn.load(REPO / "pretrained" / "fashion-mnist-conv.sbn")
    assert model.n_features_in_ == 784 and len(model.classes_) == 10
    if not (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed: shapes and classes checked, accuracy not")
    Xt = idx(FASHION / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    yt = idx(FASHION / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    assert round(model.evaluate(Xt, yt)["accuracy"] * 10_000) == round(FASHION_CONV_ACCURACY * 10_000)
