"""Scores on arrays you already have, computed by the ``sbn`` library itself: the reliability
table (the one binning behind ``sbn calibrate``, ``sbn evaluate``'s ECE and the reliability
diagrams) and out-of-distribution detection (AUROC, AUPR, FPR at 95 % TPR, as ``sbn
uncertainty --ood`` reports them).

    p = clf.predict_proba(X_test)                            # or any (n, K) probabilities
    r = sbn.metrics.reliability(p, column_of_each_label)     # r.accuracy, r.confidence, r.count, r.ece
    s_in, s_out = clf.ood_scores(X_test), clf.ood_scores(X_other)
    sbn.metrics.auroc(s_in["model"], s_out["model"])          # 0.5 = no better than chance
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple

import numpy as np

from . import _sbn

#: The number of equal-width bins of ``sbn evaluate``'s ECE and ``sbn calibrate``'s table.
ECE_BINS = 15


class Reliability(NamedTuple):
    """A reliability table: per bin of top-class confidence (lowest first, empty bins
    included), its bounds, number of examples, accuracy and mean confidence; and the ECE
    (``Σ_b n_b/N |accuracy_b − confidence_b|``) and MCE (the largest gap of a non-empty bin).

    Equal-width bins are ``[lower, upper)`` (1.0 in the last); equal-mass bins give the smallest
    and largest confidence they hold. An empty bin has accuracy and confidence 0."""

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    """Examples per bin (int64)."""
    accuracy: np.ndarray
    """Fraction of the bin's examples whose top class is the label."""
    confidence: np.ndarray
    """Mean top-class probability of the bin's examples."""
    ece: float
    mce: float


def _table(d: Dict[str, Any]) -> Reliability:
    return Reliability(d["lower"], d["upper"], d["count"], d["accuracy"], d["confidence"], d["ece"], d["mce"])


def _scores(a, name: str) -> np.ndarray:
    s = np.asarray(a)
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {s.dtype}: expected numbers")
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per example), got shape {s.shape}")
    return np.ascontiguousarray(s, dtype=np.float64)


def reliability(probabilities, labels, *, bins: int = ECE_BINS, equal_mass: bool = False) -> Reliability:
    """The top-label reliability table of class probabilities ``probabilities`` (n × K, rows
    summing to 1) against ``labels``, the column of each example's true class (integers
    0…K−1; with a classifier, the position of the label in ``classes_``). ``bins`` equal-width
    bins on [0, 1], or with ``equal_mass=True`` bins of equal counts. Bad input (rows that do
    not sum to 1, labels out of range, lengths that differ) raises ``ValueError``."""
    p = np.asarray(probabilities)
    if p.dtype.kind not in "biuf" or p.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D array of numbers (examples × classes), got {p.dtype} of shape {p.shape}")
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D array of integer column indices, got {y.dtype} of shape {y.shape}")
    return _table(_sbn.reliability_table(np.ascontiguousarray(p, dtype=np.float64), y.astype(np.int64), int(bins), bool(equal_mass)))


def auroc(in_scores, ood_scores) -> float:
    """The area under the ROC curve of telling ``ood_scores`` (positives) from ``in_scores``
    (negatives), a higher score meaning "more out-of-distribution": ``P(s_ood > s_in) + ½
    P(s_ood = s_in)``. 1 separates them perfectly, 0.5 is chance. Scores must be finite."""
    return _sbn.auroc(_scores(in_scores, "in_scores"), _scores(ood_scores, "ood_scores"))


def ood_detection(in_scores, ood_scores) -> Dict[str, Any]:
    """``auroc``, ``aupr`` (average precision, OOD as positives) and ``fpr_at_95_tpr`` (the
    share of in-distribution examples flagged at the highest threshold that flags 95 % of the
    OOD ones) of one score, with ``n_in`` and ``n_ood``: what ``sbn uncertainty --ood`` prints."""
    return _sbn.ood_detection(_scores(in_scores, "in_scores"), _scores(ood_scores, "ood_scores"))
