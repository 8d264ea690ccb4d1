"""Data sets that come with the package."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _sbn


def digits() -> Tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten 8×8 digits compiled into ``sbn`` (UCI, as shipped with scikit-learn,
    CC BY 4.0): ``X`` a (1797, 64) uint8 array of pixels in 0..16, ``y`` an int64 array of 0–9.
    The same data as the command line's ``embedded:digits``."""
    return _sbn.digits()
