"""Fitting and predicting on the embedded digits."""

import threading
import time

import numpy as np
import pytest

import sbn


def test_fitted_model_predicts_held_out_digits(fitted, split):
    _, _, Xt, yt = split
    assert list(fitted.classes_) == list(range(10))
    assert fitted.n_features_in_ == 64
    p = fitted.predict_proba(Xt)
    assert p.shape == (len(yt), 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (p >= 0).all()
    # A 64-unit binary net after 8 epochs: well above chance (10 %); 0.85 leaves room for seeds.
    accuracy = np.mean(fitted.predict(Xt) == yt)
    assert accuracy > 0.85, accuracy
    scores = fitted.evaluate(Xt, yt)
    assert scores["accuracy"] == pytest.approx(accuracy)
    assert scores["n_examples"] == len(yt)
    assert (scores["weight_samples"], scores["noise_samples"]) == (16, 8)
    # NLL from the probabilities computed here, against the library's.
    nll = -np.mean(np.log(np.maximum(p[np.arange(len(yt)), yt], 1e-12)))
    assert scores["nll"] == pytest.approx(nll, rel=1e-12)
    brier = np.mean(np.sum((p - np.eye(10)[yt]) ** 2, axis=1))
    assert scores["brier"] == pytest.approx(brier, rel=1e-12)
    assert 0 <= scores["ece"] <= 1


def test_predict_is_the_argmax_of_predict_proba(fitted, split):
    _, _, Xt, _ = split
    p = fitted.predict_proba(Xt, seed=3)
    assert (fitted.predict(Xt, seed=3) == np.argmax(p, axis=1)).all()


def test_uncertainty_splits_the_predictive_entropy(fitted, split):
    _, _, Xt, _ = split
    r = fitted.predictive(Xt[:50], weight_samples=8, noise_samples=4, seed=1)
    entropy = -np.sum(r.probabilities * np.log(np.where(r.probabilities > 0, r.probabilities, 1)), axis=1)
    np.testing.assert_allclose(r.total, entropy, atol=1e-9)
    np.testing.assert_allclose(r.total, r.data + r.model, atol=1e-9)
    assert (r.model > -1e-12).all() and (r.data > -1e-12).all()
    u = fitted.uncertainty(Xt[:50], weight_samples=8, noise_samples=4, seed=1)
    np.testing.assert_array_equal(u.total, r.total)
    np.testing.assert_array_equal(u.model, r.model)


def test_seeds_make_predictions_reproducible(fitted, split):
    _, _, Xt, _ = split
    a = fitted.predict_proba(Xt, weight_samples=4, noise_samples=2, seed=7)
    b = fitted.predict_proba(Xt, weight_samples=4, noise_samples=2, seed=7)
    c = fitted.predict_proba(Xt, weight_samples=4, noise_samples=2, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_float_features_equal_to_bytes_predict_the_same(fitted, split):
    _, _, Xt, _ = split
    np.testing.assert_array_equal(fitted.predict_proba(Xt, seed=2), fitted.predict_proba(Xt.astype(np.float32), seed=2))


def test_same_arguments_give_the_same_model(split):
    X, y, Xt, _ = split
    a = sbn.fit(X, y, hidden=(16,), epochs=2, progress=False, seed=4)
    b = sbn.fit(X, y, hidden=(16,), epochs=2, progress=False, seed=4)
    c = sbn.fit(X, y, hidden=(16,), epochs=2, progress=False, seed=5)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))
    assert not np.array_equal(a.predict_proba(Xt), c.predict_proba(Xt))


def test_history_and_progress_callback(split):
    X, y, _, _ = split
    seen = []
    clf = sbn.fit(X, y, hidden=(16,), epochs=3, progress=seen.append)
    assert [r["epoch"] for r in seen] == [1, 2, 3]
    assert all(r["epochs"] == 3 for r in seen)
    assert clf.history_ == seen
    assert all(0 <= r["valid_accuracy"] <= 1 for r in seen)


def test_default_progress_prints_a_line_per_epoch(split, capsys):
    X, y, _, _ = split
    sbn.fit(X, y, hidden=(16,), epochs=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]


def test_an_exception_in_the_callback_stops_the_fit(split):
    X, y, _, _ = split
    calls = []

    def stop(record):
        calls.append(record["epoch"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sbn.fit(X, y, hidden=(16,), epochs=50, progress=stop)
    assert calls == [1]


def test_ctrl_c_stops_the_fit_with_keyboard_interrupt(digits):
    import os
    import signal

    X, y = digits
    # Python leaves SIGINT ignored when it starts with it ignored (a job started with `&` by a
    # non-interactive shell): give it Python's usual Ctrl-C handler for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))

    def press_ctrl_c_while_training(record):
        if record["epoch"] == 1:
            timer.start()

    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            sbn.fit(X, y, hidden=(256, 256), epochs=1000, progress=press_ctrl_c_while_training)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # 1000 epochs take minutes; stopping after the current batch takes well under a second.
    assert time.monotonic() - start < 20


def test_the_gil_is_released_while_fitting(split):
    X, y, _, _ = split
    worker = threading.Thread(target=sbn.fit, args=(X, y), kwargs=dict(hidden=(128,), epochs=15, progress=False))
    ticks = 0
    worker.start()
    while worker.is_alive():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    # With the GIL held by the fit, this thread could not run until it ended.
    assert ticks > 50, ticks


def test_validation_data_can_be_given(split):
    X, y, Xt, yt = split
    settings = dict(hidden=(64,), epochs=4, batch_size=64, logit_lr=0.1, progress=False)
    right = sbn.fit(X, y, valid=(Xt, yt), **settings)
    wrong = sbn.fit(X, y, valid=(Xt, np.random.default_rng(0).permutation(yt)), **settings)
    # Validation data does not change the training (all of X, the same draws), only its scores.
    assert [r["train_nll"] for r in right.history_] == [r["train_nll"] for r in wrong.history_]
    assert right.history_[-1]["valid_accuracy"] > 0.6
    assert wrong.history_[-1]["valid_accuracy"] < 0.3
    # The model is the epoch with the best validation NLL, scored on the given data (with other
    # Monte Carlo draws than validation's: equal within their noise).
    best = min(right.history_, key=lambda r: r["valid_nll"])
    scores = right.evaluate(Xt, yt, weight_samples=8, noise_samples=4)
    assert abs(scores["accuracy"] - best["valid_accuracy"]) < 0.05


def test_images_are_flattened(digits):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    a = sbn.fit(X, y, hidden=(16,), epochs=1, progress=False)
    b = sbn.fit(images, y, hidden=(16,), epochs=1, progress=False)
    np.testing.assert_array_equal(a.predict_proba(X[:20]), b.predict_proba(images[:20]))


def test_real_valued_features_are_standardized(digits):
    X, y = digits
    Xr = X / 16.0 + 0.001  # not bytes: standardized per feature
    clf = sbn.fit(Xr[::2], y[::2], hidden=(64,), epochs=6, batch_size=64, logit_lr=0.1, progress=False)
    assert np.mean(clf.predict(Xr[1::2]) == y[1::2]) > 0.8


def test_a_conv_net_fits_on_images(digits):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    clf = sbn.fit(images, y, conv=[{"channels": 4, "kernel": 3}], hidden=(), epochs=1, progress=False)
    assert clf.predict_proba(images[:5]).shape == (5, 10)
