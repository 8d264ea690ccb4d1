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

Calibration and out-of-distribution data: ``clf.calibrate(X_held, y_held)`` stores a post-hoc
temperature, ``posthoc=True`` predicts through it, ``clf.reliability(X, y)`` gives the reliability
diagram's bins and ECE, ``clf.ood_scores(X)`` every per-example uncertainty score, and
``sbn.metrics.auroc(in_scores, ood_scores)`` how well a score tells two data sets apart.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from . import datasets, metrics
from ._classifier import DEFAULTS, PathLike, Predictive, SBNClassifier, Uncertainty
from .metrics import Reliability

__all__ = ["SBNClassifier", "Uncertainty", "Predictive", "Reliability", "DEFAULTS", "fit", "load", "datasets", "metrics"]
__version__ = "0.1.0"


def fit(
    X,
    y,
    *,
    valid: Optional[Tuple[Any, Any]] = None,
    init: Optional[Union[SBNClassifier, PathLike]] = None,
    init_temperature: float = 1.0,
    out: Optional[PathLike] = None,
    resume: bool = False,
    force: bool = False,
    **params: Any,
) -> SBNClassifier:
    """``SBNClassifier(**params).fit(X, y, valid=…, init=…, init_temperature=…, out=…,
    resume=…, force=…)``: see ``SBNClassifier`` for the parameters (``hidden``, ``weights``,
    ``epochs``, ``batch_size``, ``lr``, ``beta``, ``seed``, ``estimator``, ``spec``,
    ``progress``, …) and ``SBNClassifier.fit`` for the others."""
    return SBNClassifier(**params).fit(X, y, valid=valid, init=init, init_temperature=init_temperature, out=out, resume=resume, force=force)


def load(path: PathLike) -> SBNClassifier:
    """A fitted classifier from a model file (``sbn fit``'s output) or a packed export."""
    return SBNClassifier.load(path)
