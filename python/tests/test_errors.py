"""Bad input raises a Python exception naming what was wrong; nothing is silently wrong."""

import numpy as np
import pytest

import sbn


def test_wrong_feature_count(fitted, split):
    _, _, Xt, yt = split
    with pytest.raises(ValueError, match="X has 63 features per example, but the model takes 64"):
        fitted.predict_proba(Xt[:, :63])
    with pytest.raises(ValueError, match="X has 65 features per example"):
        fitted.evaluate(np.hstack([Xt, Xt[:, :1]]), yt)


def test_non_finite_features_are_named(fitted, split):
    _, _, Xt, y = split
    X = Xt[:5].astype(float)
    X[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"X\[2, 3\] is NaN: features must be finite"):
        fitted.predict_proba(X)
    X[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"X\[2, 3\] is inf"):
        fitted.evaluate(X, y[:5])
    with pytest.raises(ValueError, match=r"X\[2, 3\] is inf"):
        sbn.fit(X, y[:5], progress=False)


def test_shapes_and_types(fitted, split):
    _, _, Xt, _ = split
    with pytest.raises(ValueError, match=r"must be 2-D .*reshape\(1, -1\)"):
        fitted.predict_proba(Xt[0])
    with pytest.raises(ValueError, match="no examples"):
        fitted.predict_proba(Xt[:0])
    with pytest.raises(ValueError, match="expected numbers"):
        fitted.predict_proba(np.array([["a"] * 64]))


def test_sample_counts_must_be_positive(fitted, split):
    _, _, Xt, _ = split
    with pytest.raises(ValueError, match="at least 1"):
        fitted.predict_proba(Xt, weight_samples=0)
    with pytest.raises(OverflowError):
        fitted.predict_proba(Xt, noise_samples=-1)


def test_bad_settings_are_refused_with_the_field_named(split):
    X, y, _, _ = split
    with pytest.raises(ValueError, match="training.epochs: must be at least 1"):
        sbn.fit(X, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match='training.estimator = "nope": unknown variant'):
        sbn.fit(X, y, estimator="nope", progress=False)
    with pytest.raises(ValueError, match="lr"):
        sbn.fit(X, y, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match=r"training.epochs = 2.5"):
        sbn.fit(X, y, epochs=2.5, progress=False)
    with pytest.raises(ValueError, match=r"training.augment = .*unknown field `shfit`"):
        sbn.fit(X, y, augment={"shfit": 1}, progress=False)
    with pytest.raises(TypeError):
        sbn.fit(X, y, epoch=3)


def test_spec_files(split, tmp_path):
    X, y, _, _ = split
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        sbn.fit(X, y, spec=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nhidden = [8]\nweights = "bernoulli"\nwidth = 3\n')
    with pytest.raises(ValueError, match="width"):
        sbn.fit(X, y, spec=bad)


def test_missing_and_damaged_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.sbn"):
        sbn.load(tmp_path / "nothing.sbn")
    damaged = tmp_path / "damaged.sbn"
    damaged.write_bytes(b"this is not a model file")
    with pytest.raises(ValueError, match="damaged.sbn"):
        sbn.load(damaged)


def test_saving_where_a_folder_cannot_be(fitted, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="file"):
        fitted.save(tmp_path / "file" / "m.sbn")


def test_an_unfitted_classifier_says_so(split):
    _, _, Xt, _ = split
    with pytest.raises(AttributeError, match="not fitted"):
        sbn.SBNClassifier().predict(Xt)
