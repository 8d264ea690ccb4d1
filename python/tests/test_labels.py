"""Labels: integers are class numbers, strings are class names matched by name."""

import numpy as np
import pytest

import sbn

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def named(split):
    X, y, _, _ = split
    return sbn.fit(X, NAMES[y], hidden=(64,), epochs=6, batch_size=64, logit_lr=0.1, progress=False)


def test_string_labels_become_sorted_classes(named, split):
    _, _, Xt, yt = split
    assert list(named.classes_) == sorted(NAMES)
    predicted = named.predict(Xt)
    assert predicted.dtype.kind == "U"
    assert np.mean(predicted == NAMES[yt]) > 0.8


def test_evaluate_matches_labels_by_name(named, split):
    _, _, Xt, yt = split
    # Only three classes present, as plain Python strings: scored against the model's classes.
    keep = np.isin(yt, [7, 2, 9])
    labels = [str(s) for s in NAMES[yt[keep]]]
    scores = named.evaluate(Xt[keep], labels, seed=4)
    p = named.predict_proba(Xt[keep], seed=4)
    columns = [list(named.classes_).index(s) for s in labels]
    expected_accuracy = np.mean(np.argmax(p, axis=1) == columns)
    expected_nll = -np.mean(np.log(np.maximum(p[np.arange(len(columns)), columns], 1e-12)))
    assert scores["accuracy"] == pytest.approx(expected_accuracy)
    assert scores["nll"] == pytest.approx(expected_nll, rel=1e-12)


def test_an_unknown_label_names_itself_and_the_models_classes(named, split):
    _, _, Xt, yt = split
    labels = NAMES[yt[:10]].astype(object)
    labels[4] = "eleven"
    with pytest.raises(ValueError, match=r"y, example 4: label `eleven` is not one of the model's 10 classes: eight, five"):
        named.evaluate(Xt[:10], labels)


def test_integer_labels_of_a_named_model_are_unknown(named, split):
    _, _, Xt, yt = split
    with pytest.raises(ValueError, match="label `"):
        named.evaluate(Xt[:10], yt[:10])


def test_integer_labels_are_class_numbers(split):
    X, y, Xt, _ = split
    # Labels 0, 2 and 5 only: the classes are 0…5, classes 1, 3 and 4 having no examples.
    keep = np.isin(y, [0, 2, 5])
    clf = sbn.fit(X[keep], y[keep], hidden=(16,), epochs=2, progress=False)
    assert list(clf.classes_) == [0, 1, 2, 3, 4, 5]
    assert set(clf.predict(Xt)) <= {0, 1, 2, 3, 4, 5}


def test_whole_float_labels_are_class_numbers(split):
    X, y, Xt, _ = split
    a = sbn.fit(X, y, hidden=(16,), epochs=1, progress=False)
    b = sbn.fit(X, y.astype(float), hidden=(16,), epochs=1, progress=False)
    assert list(b.classes_) == list(range(10))
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))


@pytest.mark.parametrize(
    "labels, message",
    [
        (lambda y: np.where(y == 3, -1, y), r"y\[\d+\] = -1: integer labels are class numbers"),
        (lambda y: y + 0.5, r"is not a class number"),
        (lambda y: np.zeros_like(y), r"only one class"),
        (lambda y: y[:-1], r"labels for \d+ examples"),
        (lambda y: np.where(y == 3, "", NAMES[y]), r"empty string"),
        (lambda y: np.array([1, "a"] * (len(y) // 2) + [1] * (len(y) % 2), dtype=object), r"all integers .* or all strings"),
        (lambda y: y.reshape(-1, 2) if len(y) % 2 == 0 else y[:-1].reshape(-1, 2), r"must be 1-D|labels for"),
    ],
)
def test_bad_labels_are_refused(split, labels, message):
    X, y, _, _ = split
    with pytest.raises(ValueError, match=message):
        sbn.fit(X, labels(y), hidden=(8,), epochs=1, progress=False)
