"""NumPy in: features and labels as the compiled module takes them.

Features become a 2-D C array of ``uint8`` (kept as bytes) or ``float64`` (a copy); the compiled
module copies them again into the library's storage, where values that are all integers in
0..=255 are stored as bytes, as ``sbn``'s CSV loader does.

Labels become class indices and class names, by the rule of ``sbn fit`` for CSV files: integer
labels are class numbers (the classes are ``0, 1, …, max(y)``, a number missing from ``y`` still
being a class); string labels are names (the classes are the distinct names in sorted order). The
library matches names to a model's classes, so test labels may cover some classes or come in
another order.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from . import _sbn


def features(X, name: str = "X") -> Tuple[np.ndarray, Optional[Tuple[int, int]]]:
    """``X`` as a 2-D uint8 or float64 array, and the image shape of 3-D input (n × rows × cols)."""
    a = np.asarray(X)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {a.dtype}: expected numbers (uint8 pixels or floats)")
    if a.ndim < 2:
        raise ValueError(
            f"{name} must be 2-D (examples × features), got shape {a.shape}; "
            f"for a single example use {name}.reshape(1, -1)"
        )
    image = (int(a.shape[1]), int(a.shape[2])) if a.ndim == 3 else None
    if a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a), image
    return np.ascontiguousarray(a, dtype=np.float64), image


def labels(y, n_examples: int, name: str = "y") -> Tuple[np.ndarray, List[str]]:
    """Class indices (int64) into the returned class names, one per example."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a.ravel()
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example), got shape {a.shape}")
    if len(a) != n_examples:
        raise ValueError(f"{name} has {len(a)} labels for {n_examples} examples")
    a = _common_kind(a, name)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a < 0) | (a != np.floor(a))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{name}[{i}] = {a[i]!r} is not a class number (a whole number ≥ 0); "
                f"pass strings to use labels as class names"
            )
        a = a.astype(np.int64)
    if a.dtype.kind in "iu":
        return _numbered(a, name)
    return _named(a, name)


def _common_kind(a: np.ndarray, name: str) -> np.ndarray:
    """Object, bytes and bool labels as integers or strings."""
    kind = a.dtype.kind
    if kind == "O":
        values = a.tolist()
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            return np.array(values, dtype=np.int64)
        if all(isinstance(v, str) for v in values):
            return np.array(values, dtype=str)
        raise ValueError(f"{name}: labels must be all integers (class numbers) or all strings (class names)")
    if kind == "S":
        return np.char.decode(a, "utf-8")
    if kind == "b":
        return a.astype(str)
    if kind not in "iufU":
        raise ValueError(f"{name} has dtype {a.dtype}: expected integer or string labels")
    return a


def _numbered(a: np.ndarray, name: str) -> Tuple[np.ndarray, List[str]]:
    if (a < 0).any():
        i = int(np.argmax(a < 0))
        raise ValueError(
            f"{name}[{i}] = {a[i]}: integer labels are class numbers 0, 1, …, which cannot be negative; "
            f"pass strings (e.g. {name}.astype(str)) to use them as class names"
        )
    top = int(a.max()) if len(a) else -1
    if top > _sbn.MAX_INTEGER_LABEL:
        i = int(np.argmax(a))
        raise ValueError(
            f"{name}[{i}] = {a[i]} is not a class number (at most {_sbn.MAX_INTEGER_LABEL}); "
            f"pass strings to use labels as class names"
        )
    return a.astype(np.int64), [str(k) for k in range(top + 1)]


def _named(a: np.ndarray, name: str) -> Tuple[np.ndarray, List[str]]:
    values = a.tolist()
    for i, v in enumerate(values):
        if v == "":
            raise ValueError(f"{name}[{i}] is an empty string: a class name must not be empty")
    # Python orders str by code point, which is the byte order of UTF-8: the CLI's order.
    names = sorted(set(values))
    index = {s: k for k, s in enumerate(names)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), names


def classes_array(names: List[str]) -> np.ndarray:
    """A model's classes as users see them: integers when they are exactly 0, 1, …, K−1 (numbered
    classes, as integer labels make), strings otherwise."""
    if names == [str(k) for k in range(len(names))]:
        return np.arange(len(names), dtype=np.int64)
    return np.array(names, dtype=str)
