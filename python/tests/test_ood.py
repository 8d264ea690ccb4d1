"""Per-example OOD scores of a model and the library's AUROC, AUPR and FPR at 95 % TPR of two
sets of scores; compared with `sbn uncertainty --ood`."""

import subprocess

import numpy as np
import pytest

import sbn

KEYS = ["max_probability", "total", "data", "model", "energy", "variation_ratio"]


def brute_force_auroc(neg, pos):
    """P(s_pos > s_neg) + ½ P(s_pos = s_neg) over every pair."""
    d = np.asarray(pos)[:, None] - np.asarray(neg)[None, :]
    return ((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size


def test_auroc_of_known_scores():
    assert sbn.metrics.auroc([0, 1, 2], [3, 4]) == 1.0
    assert sbn.metrics.auroc([3, 4], [0, 1, 2]) == 0.0
    assert sbn.metrics.auroc([1, 1], [1, 1, 1]) == 0.5
    # Pairs won by the OOD scores 0.9, 0.4, 0.6 against 0.1, 0.4, 0.35, 0.8: 4 + 2.5 + 3 of 12.
    assert sbn.metrics.auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.9, 0.4, 0.6])) == pytest.approx(9.5 / 12, abs=1e-15)
    rng = np.random.default_rng(7)
    neg, pos = rng.integers(0, 20, 300).astype(float), rng.integers(5, 25, 200).astype(float)
    assert sbn.metrics.auroc(neg, pos) == pytest.approx(brute_force_auroc(neg, pos), abs=1e-12)
    d = sbn.metrics.ood_detection([0.0, 0.1, 0.2], [0.5, 0.7])
    assert d == {"n_in": 3, "n_ood": 2, "auroc": 1.0, "aupr": 1.0, "fpr_at_95_tpr": 0.0}


def test_bad_scores_raise():
    with pytest.raises(ValueError, match="in-distribution: score 1 is NaN"):
        sbn.metrics.auroc([0.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="OOD: no scores"):
        sbn.metrics.auroc([0.0], [])
    with pytest.raises(ValueError, match="must be 1-D"):
        sbn.metrics.ood_detection(np.zeros((2, 2)), [1.0])
    with pytest.raises(ValueError, match="expected numbers"):
        sbn.metrics.auroc(["a"], [1.0])


def test_ood_scores_are_the_predictives(fitted, split):
    _, _, Xt, _ = split
    s = fitted.ood_scores(Xt, seed=3)
    assert sorted(s) == sorted(KEYS) and all(v.shape == (len(Xt),) and v.dtype == np.float64 for v in s.values())
    r = fitted.predictive(Xt, seed=3)
    np.testing.assert_array_equal(s["max_probability"], 1 - r.probabilities.max(axis=1))
    for part in ("total", "data", "model"):
        np.testing.assert_array_equal(s[part], getattr(r, part))
    assert np.all((s["variation_ratio"] >= 0) & (s["variation_ratio"] <= 1 - 1 / 16))
    assert np.all(s["energy"] >= -1e-12)
    # One weight sample: nothing to disagree, so energy and variation ratio are 0.
    one = fitted.ood_scores(Xt, weight_samples=1)
    assert np.all(one["variation_ratio"] == 0) and np.allclose(one["energy"], 0, atol=1e-12)
    calibrated = fitted.ood_scores(Xt, seed=3, posthoc=True)
    np.testing.assert_array_equal(calibrated["total"], fitted.uncertainty(Xt, seed=3, posthoc=True).total)


def test_ood_aurocs_are_sbn_uncertaintys(sbn_bin, fitted, digits, tmp_path):
    X, _ = digits
    noise = np.random.default_rng(0).integers(0, 17, size=(200, 64))
    ood = tmp_path / "noise.csv"
    np.savetxt(ood, noise, fmt="%d", delimiter=",")
    path = tmp_path / "m.sbn"
    fitted.save(path)
    done = subprocess.run([sbn_bin, "uncertainty", str(path), "--data", "embedded:digits", "--ood", str(ood)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("OOD detection")[1].splitlines()[2:8]
    cli = [float(line[30:].split()[0]) for line in table]
    s_in, s_out = fitted.ood_scores(X), fitted.ood_scores(noise)
    # The CLI's rows, in its order: max-probability, total, model part, expected entropy, energy, variation ratio.
    order = ["max_probability", "total", "model", "data", "energy", "variation_ratio"]
    mine = [sbn.metrics.auroc(s_in[k], s_out[k]) for k in order]
    np.testing.assert_allclose(mine, cli, rtol=0, atol=5e-5)
    assert max(mine) > 0.8  # uniform noise is far from digits
