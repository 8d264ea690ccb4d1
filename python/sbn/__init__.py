"""sbn: Bayesian stochastic binary neural networks, from Python.

Fit a network whose activations and weights are ±1 (variational Bernoulli posteriors, PSA
gradients), predict with its Monte Carlo predictive, and split the predictive's uncertainty into
a data part and a model part. The compiled library is the ``sbn`` crate of this repository; model
files are those of the ``sbn`` command line.

    import sbn
    X, y = sbn.datasets.digits()
    clf = sbn.fit(X[:1500], y[:1500], hidden=(128,), epochs=10)
    p = clf.predict_proba(X[1500:])          # (n, 10) float64
    u = clf.uncertainty(X[1500:])            # total = data + model, nats
    print(clf.evaluate(X[1500:], y[1500:]))  # accuracy, nll, brier, ece, …
    clf.save("digits.sbn")                   # sbn evaluate digits.sbn --data …
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import datasets
from ._classifier import DEFAULTS, PathLike, Predictive, SBNClassifier, Uncertainty

__all__ = ["SBNClassifier", "Uncertainty", "Predictive", "DEFAULTS", "fit", "load", "datasets"]
__version__ = "0.1.0"


def fit(X, y, *, valid: Optional[Tuple[Any, Any]] = None, **params: Any) -> SBNClassifier:
    """``SBNClassifier(**params).fit(X, y, valid=valid)``: see ``SBNClassifier`` for the
    parameters (``hidden``, ``weights``, ``epochs``, ``batch_size``, ``lr``, ``beta``, ``seed``,
    ``estimator``, ``spec``, ``progress``, …)."""
    return SBNClassifier(**params).fit(X, y, valid=valid)


def load(path: PathLike) -> SBNClassifier:
    """A fitted classifier from a model file (``sbn fit``'s output) or a packed export."""
    return SBNClassifier.load(path)
