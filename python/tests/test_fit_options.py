"""Fit options of `sbn fit` from Python: the output written during the fit with its checkpoint,
resuming it, starting from another model (`--init`), and their errors."""

import pytest
import numpy as np

import sbn

SMALL = dict(hidden=(32,), epochs=3, batch_size=64, logit_lr=0.1, progress=False)


class Stop(Exception):
    pass


def stop_after(epoch):
    def progress(record):
        if record["epoch"] == epoch:
            raise Stop()

    return progress


def test_a_stopped_fit_resumes_to_the_uninterrupted_model(split, tmp_path):
    X, y, Xt, _ = split
    whole = sbn.fit(X, y, out=tmp_path / "whole.sbn", **SMALL)
    out = tmp_path / "m.sbn"
    with pytest.raises(Stop):
        sbn.fit(X, y, out=out, **{**SMALL, "progress": stop_after(1)})
    assert (tmp_path / "m.sbn.ckpt").is_file() and len(sbn.load(out).history_) == 1
    with pytest.raises(FileExistsError, match="force=True .* resume=True"):
        sbn.fit(X, y, out=out, **SMALL)
    resumed = sbn.fit(X, y, out=out, resume=True, **SMALL)
    assert len(resumed.history_) == 3
    np.testing.assert_array_equal(resumed.predict_proba(Xt), whole.predict_proba(Xt))
    assert resumed.posthoc_["temperature"] == whole.posthoc_["temperature"]
    # The file written is the model returned, with its validation temperature.
    np.testing.assert_array_equal(sbn.load(out).predict_proba(Xt, posthoc=True), resumed.predict_proba(Xt, posthoc=True))
    sbn.fit(X, y, out=out, force=True, **{**SMALL, "epochs": 1})
    assert len(sbn.load(out).history_) == 1
    assert not (tmp_path / "m.sbn.lock").exists()


def test_resume_errors(split, tmp_path):
    X, y, _, _ = split
    with pytest.raises(ValueError, match="resume=True needs out=MODEL"):
        sbn.fit(X, y, resume=True, **SMALL)
    with pytest.raises(FileNotFoundError, match="no checkpoint .*none.sbn.ckpt"):
        sbn.fit(X, y, out=tmp_path / "none.sbn", resume=True, **SMALL)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        sbn.fit(X, y, out=tmp_path, **SMALL)
    with pytest.raises(ValueError, match="exclude each other"):
        sbn.fit(X, y, out=tmp_path / "x.sbn", resume=True, init=tmp_path / "x.sbn", **SMALL)
    # Another spec than the checkpoint's (only epochs may change).
    with pytest.raises(Stop):
        sbn.fit(X, y, out=tmp_path / "s.sbn", **{**SMALL, "progress": stop_after(1)})
    with pytest.raises(ValueError, match="another spec"):
        sbn.fit(X, y, out=tmp_path / "s.sbn", resume=True, **{**SMALL, "beta": 0.5})


def test_init_starts_from_a_model_or_its_file(split, tmp_path):
    X, y, Xt, _ = split
    first = sbn.fit(X, y, **SMALL)
    first.save(tmp_path / "first.sbn")
    a = sbn.fit(X, y, init=first, **{**SMALL, "epochs": 1})
    b = sbn.fit(X, y, init=tmp_path / "first.sbn", **{**SMALL, "epochs": 1})
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))
    fresh = sbn.fit(X, y, **{**SMALL, "epochs": 1})
    assert not np.array_equal(a.predict_proba(Xt), fresh.predict_proba(Xt))
    # A tempered start is another start.
    c = sbn.fit(X, y, init=first, init_temperature=0.5, **{**SMALL, "epochs": 1})
    assert not np.array_equal(a.predict_proba(Xt), c.predict_proba(Xt))


def test_init_errors(split, tmp_path):
    X, y, _, _ = split
    first = sbn.fit(X, y, **SMALL)
    with pytest.raises(ValueError, match="another architecture"):
        sbn.fit(X, y, init=first, **{**SMALL, "hidden": (16,)})
    with pytest.raises(ValueError, match="other classes"):
        sbn.fit(X, np.where(y == 9, 8, y), init=first, **SMALL)
    with pytest.raises(ValueError, match="init_temperature: posterior temperature: must be a positive number"):
        sbn.fit(X, y, init=first, init_temperature=0.0, **SMALL)
    with pytest.raises(FileNotFoundError, match="missing.sbn"):
        sbn.fit(X, y, init=tmp_path / "missing.sbn", **SMALL)
    packed = tmp_path / "p.sbnp"
    first.export_packed(packed)
    with pytest.raises(ValueError, match="init: this model is a packed export"):
        sbn.fit(X, y, init=sbn.load(packed), **SMALL)
    with pytest.raises(TypeError, match="init: expected an SBNClassifier or the path of a model file or checkpoint, got int"):
        sbn.fit(X, y, init=3, **SMALL)
    # The compiled model of a classifier is taken as well.
    np.testing.assert_array_equal(sbn.fit(X, y, init=first.model_, **SMALL).predict_proba(X[:9]), sbn.fit(X, y, init=first, **SMALL).predict_proba(X[:9]))
