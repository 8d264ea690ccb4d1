"""The Python package and the `sbn` command line agree: the same spec and data fit the same
model, and a model file predicts the same numbers in both."""

import json
import subprocess

import numpy as np
import pytest

import sbn
from conftest import REPO

SPEC = REPO / "models" / "digits.toml"


def run(*args):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def cli_model(sbn_bin, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "cli.sbn"
    run(sbn_bin, "fit", SPEC, "--train", "embedded:digits", "--epochs", "2", "--out", path)
    return path


def test_a_cli_model_predicts_the_same_numbers_in_python(sbn_bin, cli_model, digits, tmp_path):
    X, _ = digits
    out = tmp_path / "p.json"
    run(sbn_bin, "predict", cli_model, "--data", "embedded:digits", "--weight-samples", "4", "--noise-samples", "2", "--seed", "5", "--out", out)
    cli = json.loads(out.read_text())
    r = sbn.load(cli_model).predictive(X, weight_samples=4, noise_samples=2, seed=5)
    assert cli["classes"] == [str(k) for k in range(10)]
    np.testing.assert_array_equal(r.probabilities, np.array([e["probabilities"] for e in cli["examples"]]))
    for part in ("total", "data", "model"):
        np.testing.assert_allclose(getattr(r, part), [e[part] for e in cli["examples"]], rtol=0, atol=1e-15)


def test_the_same_spec_and_data_fit_the_same_model(cli_model, digits):
    X, y = digits
    py = sbn.fit(X, y, spec=SPEC, epochs=2, progress=False)
    cli = sbn.load(cli_model)
    assert py.model_.spec == cli.model_.spec
    np.testing.assert_array_equal(py.predict_proba(X, seed=1), cli.predict_proba(X, seed=1))
    keys = ["train_nll", "kl", "valid_accuracy", "valid_nll", "uncertain_share"]
    assert [[r[k] for k in keys] for r in py.history_] == [[r[k] for k in keys] for r in cli.history_]
    # Both store the temperature fitted on the same validation data.
    assert py.posthoc_["temperature"] == cli.posthoc_["temperature"]
    assert py.posthoc_["n_examples"] == cli.posthoc_["n_examples"]


def test_init_starts_where_sbn_fit_init_starts(sbn_bin, cli_model, digits, tmp_path):
    X, y = digits
    out = tmp_path / "init.sbn"
    run(sbn_bin, "fit", SPEC, "--train", "embedded:digits", "--epochs", "1", "--init", cli_model, "--init-temperature", "0.8", "--out", out)
    py = sbn.fit(X, y, spec=SPEC, epochs=1, init=cli_model, init_temperature=0.8, progress=False)
    np.testing.assert_array_equal(py.predict_proba(X, seed=1), sbn.load(out).predict_proba(X, seed=1))


def test_a_python_model_file_is_read_by_the_cli(sbn_bin, fitted, digits, tmp_path):
    X, y = digits
    path = tmp_path / "py.sbn"
    fitted.save(path)
    cli = json.loads(run(sbn_bin, "evaluate", path, "--data", "embedded:digits", "--json", "--seed", "2"))
    mine = fitted.evaluate(X, y, seed=2)
    assert mine == cli


def test_string_labels_give_the_classes_of_a_csv_file(sbn_bin, digits, tmp_path):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    csv = tmp_path / "named.csv"
    rows = [",".join(map(str, x)) + "," + n for x, n in zip(X.tolist(), names)]
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "named.sbn"
    run(sbn_bin, "fit", SPEC, "--train", csv, "--epochs", "1", "--out", out)
    cli = sbn.load(out)
    py = sbn.fit(X, names, spec=SPEC, epochs=1, progress=False)
    assert list(py.classes_) == list(cli.classes_) == sorted(set(names))
    np.testing.assert_array_equal(py.predict_proba(X, seed=1), cli.predict_proba(X, seed=1))
