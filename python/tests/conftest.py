"""Shared fixtures: the embedded digits, one small fitted model, and the `sbn` command line.

The command line tests need the `sbn` binary of the same checkout: `SBN_BIN` names it, or
`target/release/sbn` (what `cargo test --release` and `cargo build --release` leave). Without
one they are skipped, unless `SBN_REQUIRE_CLI=1` (CI sets it), where a missing binary fails.
"""

import os
import pathlib

import numpy as np
import pytest

import sbn

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def digits():
    return sbn.datasets.digits()


@pytest.fixture(scope="session")
def split(digits):
    """A fixed split of the digits: every fourth example is a test example."""
    X, y = digits
    test = np.arange(len(y)) % 4 == 0
    return X[~test], y[~test], X[test], y[test]


@pytest.fixture(scope="session")
def fitted(split):
    """A small model fitted once for the tests that only predict (about a second)."""
    X, y, _, _ = split
    return sbn.fit(X, y, hidden=(64,), epochs=8, batch_size=64, logit_lr=0.1, progress=False)


@pytest.fixture(scope="session")
def sbn_bin():
    path = pathlib.Path(os.environ.get("SBN_BIN", REPO / "target" / "release" / "sbn"))
    if not path.is_file():
        if os.environ.get("SBN_REQUIRE_CLI") == "1":
            pytest.fail(f"the sbn binary {path} does not exist (SBN_REQUIRE_CLI=1)")
        pytest.skip(f"no sbn binary at {path}; set SBN_BIN or run cargo build --release")
    return str(path)
