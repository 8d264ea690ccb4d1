"""Type stubs of the compiled module ``sbn._sbn`` (the ``sbn`` crate through PyO3). Users call
``sbn.SBNClassifier``, ``sbn.fit`` and ``sbn.load``; these are their compiled parts."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

MAX_INTEGER_LABEL: int

class Model:
    """A fitted model (with its spec) or a packed export."""

    @property
    def classes(self) -> List[str]: ...
    @property
    def n_features(self) -> int: ...
    @property
    def is_packed(self) -> bool: ...
    @property
    def spec(self) -> Optional[str]: ...
    @property
    def history(self) -> List[Dict[str, float]]: ...
    @property
    def posthoc(self) -> Optional[Dict[str, Any]]: ...
    def predict(
        self,
        x: np.ndarray,
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        posthoc: bool = False,
        posterior_temperature: float = 1.0,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
    def ood_scores(
        self,
        x: np.ndarray,
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        posthoc: bool = False,
        posterior_temperature: float = 1.0,
    ) -> Dict[str, np.ndarray]: ...
    def evaluate(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        names: List[str],
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        posthoc: bool = False,
        posterior_temperature: float = 1.0,
    ) -> Dict[str, Any]: ...
    def reliability(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        names: List[str],
        bins: int = 15,
        equal_mass: bool = False,
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        posthoc: bool = False,
        posterior_temperature: float = 1.0,
    ) -> Dict[str, Any]: ...
    def calibrated(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        names: List[str],
        method: str = "temperature",
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        data_name: str = "arrays given to calibrate()",
    ) -> "Model": ...
    def save(self, path: str, compact: bool = False) -> None: ...
    def export_safetensors(self, path: str, sample_seed: Optional[int] = None) -> None: ...
    def export_packed(self, path: str, sample_seed: Optional[int] = None) -> None: ...
    def to_bytes(self) -> bytes: ...

def fit(
    x: np.ndarray,
    labels: np.ndarray,
    names: List[str],
    image_shape: Optional[Tuple[int, int]],
    spec_path: Optional[str],
    overrides: Dict[str, Dict[str, Any]],
    valid: Optional[Tuple[np.ndarray, np.ndarray, List[str]]],
    progress: Optional[Callable[[Dict[str, Any]], Any]],
    run: Tuple[Optional[str], bool, bool, Optional[Union[Model, str]], float] = (None, False, False, None, 1.0),
) -> Model: ...
def load(path: str) -> Model: ...
def from_bytes(data: bytes, name: str = "bytes") -> Model: ...
def digits() -> Tuple[np.ndarray, np.ndarray]: ...
def reliability_table(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15, equal_mass: bool = False) -> Dict[str, Any]: ...
def ood_detection(in_scores: np.ndarray, ood_scores: np.ndarray) -> Dict[str, Any]: ...
def auroc(in_scores: np.ndarray, ood_scores: np.ndarray) -> float: ...
