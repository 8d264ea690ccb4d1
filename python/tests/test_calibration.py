"""Post-hoc calibration from Python (fitted, stored, applied on request), the reliability table,
and prediction with a tempered posterior; compared with the `sbn` command line where it has the
same feature."""

import json
import pickle
import subprocess

import numpy as np
import pytest

import sbn


def run(*args):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def model(fitted):
    """A copy of the shared fitted model that a test may calibrate."""
    return pickle.loads(pickle.dumps(fitted))


def test_a_fit_stores_a_validation_temperature(fitted):
    p = fitted.posthoc_
    assert p["method"] == "temperature" and p["temperature"] > 0
    assert "validation" in p["data"]
    # The default validation share of the 1,347 training digits, predicted with the spec's samples.
    assert p["n_examples"] == round(0.1 * 1347)


def test_the_temperature_fitted_in_python_is_sbn_calibrates(sbn_bin, fitted, digits, tmp_path):
    X, y = digits
    path = tmp_path / "m.sbn"
    fitted.save(path)
    mc = ["--weight-samples", "4", "--noise-samples", "2", "--seed", "3"]
    run(sbn_bin, "calibrate", path, "--data", "embedded:digits", "--fit", "temperature", "--save", *mc)
    cli = sbn.load(path)
    mine = pickle.loads(pickle.dumps(fitted))
    mine.calibrate(X, y, weight_samples=4, noise_samples=2, seed=3)
    assert mine.posthoc_["temperature"] == cli.posthoc_["temperature"]
    assert mine.posthoc_["temperature"] != fitted.posthoc_["temperature"]
    assert (mine.posthoc_["n_examples"], mine.posthoc_["weight_samples"], mine.posthoc_["noise_samples"]) == (1797, 4, 2)
    # Applied on request, as `sbn evaluate --posthoc`.
    out = json.loads(run(sbn_bin, "evaluate", path, "--data", "embedded:digits", "--posthoc", "--json", "--seed", "1"))
    scores = mine.evaluate(X, y, seed=1, posthoc=True)
    assert out.pop("posthoc")["map"]["temperature"] == scores.pop("posthoc")["temperature"]
    assert scores == out


def test_posthoc_applies_the_stored_temperature_to_each_weight_sample(model, split):
    _, _, Xt, yt = split
    model.calibrate(Xt, yt, seed=4)
    t = model.posthoc_["temperature"]
    # With one weight sample the predictive is that sample's p̄, tempered: p̄^(1/T), normalized.
    p = model.predict_proba(Xt, weight_samples=1, noise_samples=8, seed=2)
    q = model.predict_proba(Xt, weight_samples=1, noise_samples=8, seed=2, posthoc=True)
    expected = np.maximum(p, 1e-300) ** (1 / t)
    np.testing.assert_allclose(q, expected / expected.sum(axis=1, keepdims=True), rtol=0, atol=1e-9)
    # The split stays total = data + model.
    u = model.uncertainty(Xt, posthoc=True)
    np.testing.assert_allclose(u.total, u.data + u.model, rtol=0, atol=1e-12)


def test_a_fitted_temperature_does_not_raise_the_nll_of_its_data(model, split):
    _, _, Xt, yt = split
    for method in ("temperature", "vector", "histogram"):
        model.calibrate(Xt, yt, method=method, seed=5)
        assert model.posthoc_["method"] == method
        before = model.evaluate(Xt, yt, seed=5)["nll"]
        after = model.evaluate(Xt, yt, seed=5, posthoc=True)["nll"]
        if method != "histogram":
            assert after <= before
    assert set(model.posthoc_) >= {"edges", "accuracy"}
    # Histogram binning calibrates the mixture only: no model part left.
    np.testing.assert_allclose(model.uncertainty(Xt, posthoc=True).model, 0, rtol=0, atol=1e-12)


def test_the_calibration_is_kept_by_save_compact_and_pickle(model, split, tmp_path):
    _, _, Xt, yt = split
    model.calibrate(Xt, yt, method="vector", name="my held-out digits")
    for compact in (False, True):
        path = tmp_path / f"m{compact}.sbn"
        model.save(path, compact=compact)
        back = sbn.load(path).posthoc_
        assert back["data"] == "my held-out digits"
        np.testing.assert_array_equal(back["scale"], model.posthoc_["scale"])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).posthoc_["bias"], model.posthoc_["bias"])


def test_calibration_errors(model, split, tmp_path):
    X, y, Xt, yt = split
    with pytest.raises(ValueError, match="unknown method 'platt'"):
        model.calibrate(Xt, yt, method="platt")
    with pytest.raises(ValueError, match="`ten`"):
        model.calibrate(Xt, np.array(["ten"] * len(yt)))
    packed = tmp_path / "p.sbnp"
    model.export_packed(packed)
    one = sbn.load(packed)
    with pytest.raises(ValueError, match="packed export"):
        one.calibrate(Xt, yt)
    with pytest.raises(ValueError, match="posthoc=True: this model is a packed export"):
        one.predict_proba(Xt, posthoc=True)
    with pytest.raises(ValueError, match="posterior_temperature: this model is a packed export"):
        one.predict_proba(Xt, posterior_temperature=2.0)
    # A checkpoint holds no calibration: posthoc=True says so.
    sbn.fit(X, y, hidden=(16,), epochs=1, progress=False, out=tmp_path / "c.sbn")
    ckpt = sbn.load(tmp_path / "c.sbn.ckpt")
    assert ckpt.posthoc_ is None
    with pytest.raises(ValueError, match="no post-hoc calibration stored; fit one on held-out data with calibrate"):
        ckpt.evaluate(Xt, yt, posthoc=True)


def test_reliability_is_the_librarys_binning_of_the_predictive(fitted, split):
    _, _, Xt, yt = split
    r = fitted.reliability(Xt, yt, seed=2)
    assert r.ece == fitted.evaluate(Xt, yt, seed=2)["ece"]
    # The same table by hand: 15 equal-width bins of the top-class probability.
    p = fitted.predict_proba(Xt, seed=2)
    confidence, right = p.max(axis=1), p.argmax(axis=1) == yt
    which = np.minimum((confidence * 15).astype(int), 14)
    count = np.bincount(which, minlength=15)
    np.testing.assert_array_equal(r.count, count)
    filled = count > 0
    np.testing.assert_allclose(r.accuracy[filled], (np.bincount(which, right, 15) / np.maximum(count, 1))[filled], rtol=1e-12)
    np.testing.assert_allclose(r.confidence[filled], (np.bincount(which, confidence, 15) / np.maximum(count, 1))[filled], rtol=1e-12)
    np.testing.assert_allclose(r.lower, np.arange(15) / 15)
    assert r.mce == np.abs(r.accuracy - r.confidence)[filled].max()
    # Equal-mass bins hold about the same number of examples each.
    m = fitted.reliability(Xt, yt, bins=10, equal_mass=True)
    assert m.count.sum() == len(yt) and m.count.max() - m.count.min() <= 1
    calibrated = fitted.reliability(Xt, yt, seed=2, posthoc=True)
    assert calibrated.ece == fitted.evaluate(Xt, yt, seed=2, posthoc=True)["ece"]


def test_reliability_of_given_probabilities():
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.2, 0.8]])
    r = sbn.metrics.reliability(p, np.array([0, 1, 0, 1]), bins=2)
    # Every confidence (0.95, 0.95, 0.55, 0.8) is in [0.5, 1]; 3 of the 4 top classes are right.
    np.testing.assert_array_equal(r.count, [0, 4])
    np.testing.assert_allclose(r.accuracy, [0, 0.75])
    np.testing.assert_allclose(r.confidence, [0, (0.95 + 0.95 + 0.55 + 0.8) / 4])
    assert r.ece == pytest.approx(abs(0.75 - 0.8125))
    with pytest.raises(ValueError, match="sum"):
        sbn.metrics.reliability(np.array([[0.5, 0.6]]), np.array([0]))
    with pytest.raises(ValueError, match="label 2"):
        sbn.metrics.reliability(p, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="labels\\[1\\] = -1"):
        sbn.metrics.reliability(p, np.array([0, -1, 0, 0]))
    with pytest.raises(ValueError, match="3 labels for 4 rows"):
        sbn.metrics.reliability(p, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="bins must be at least 1"):
        sbn.metrics.reliability(p, np.array([0, 1, 0, 1]), bins=0)


def test_posterior_temperature_is_the_clis(sbn_bin, fitted, digits, tmp_path):
    X, _ = digits
    path = tmp_path / "m.sbn"
    fitted.save(path)
    out = tmp_path / "p.json"
    run(sbn_bin, "predict", path, "--data", "embedded:digits", "--posterior-temperature", "3", "--seed", "2", "--out", out)
    cli = json.loads(out.read_text())["examples"]
    r = fitted.predictive(X, seed=2, posterior_temperature=3.0)
    np.testing.assert_array_equal(r.probabilities, np.array([e["probabilities"] for e in cli]))
    np.testing.assert_allclose(r.model, [e["model"] for e in cli], rtol=0, atol=1e-15)
    # A flatter posterior (q nearer ½) disagrees more with itself: more model uncertainty.
    assert r.model.mean() > fitted.uncertainty(X, seed=2).model.mean()
    np.testing.assert_array_equal(fitted.predict_proba(X[:50], posterior_temperature=1.0), fitted.predict_proba(X[:50]))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="posterior_temperature: posterior temperature: must be a positive number"):
            fitted.predict_proba(X[:5], posterior_temperature=bad)
