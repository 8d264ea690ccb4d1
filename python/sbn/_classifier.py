"""``SBNClassifier``: a Bayesian stochastic binary neural network, fitted and used the
scikit-learn way (``fit``, ``predict``, ``predict_proba``, ``classes_``), with the Monte Carlo
predictive's uncertainty split, post-hoc calibration, OOD scores and the model files of the
``sbn`` command line."""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _convert, _sbn
from .metrics import ECE_BINS, Reliability, _table

PathLike = Union[str, "os.PathLike[str]"]

#: Values of the package used when neither an argument nor a ``spec`` file gives one; every other
#: setting takes the library's default (see ``SBNClassifier``).
DEFAULTS: Dict[str, Any] = {"hidden": (256, 256), "weights": "bernoulli", "beta": 0.01, "logit_lr": 0.05, "epochs": 20}

# Where each argument goes in a model spec (`models/*.toml`): section and field.
_FIELDS: Dict[str, Tuple[str, str]] = {
    "hidden": ("network", "hidden"),
    "weights": ("network", "weights"),
    "conv": ("network", "conv"),
    "image": ("network", "image"),
    "init_logit": ("network", "init_logit"),
    "beta": ("objective", "beta"),
    "prior_pi": ("objective", "prior_pi"),
    "estimator": ("training", "estimator"),
    "optimizer": ("training", "optimizer"),
    "lr": ("training", "lr"),
    "logit_lr": ("training", "logit_lr"),
    "schedule": ("training", "schedule"),
    "batch_size": ("training", "batch_size"),
    "epochs": ("training", "epochs"),
    "seed": ("training", "seed"),
    "chunk": ("training", "chunk"),
    "point_weights": ("training", "point_weights"),
    "augment": ("training", "augment"),
    "engine": ("training", "engine"),
    "valid_fraction": ("validation", "fraction"),
    "valid_weight_samples": ("validation", "weight_samples"),
    "valid_noise_samples": ("validation", "noise_samples"),
}


class Uncertainty(NamedTuple):
    """The uncertainty of every example (nats): ``total = data + model``."""

    total: np.ndarray
    """Entropy of the predictive distribution."""
    data: np.ndarray
    """Expected entropy under the posterior (aleatoric part)."""
    model: np.ndarray
    """Mutual information between label and weights (epistemic part)."""


class Predictive(NamedTuple):
    """One Monte Carlo pass: class probabilities (n × K) and the uncertainty split."""

    probabilities: np.ndarray
    total: np.ndarray
    data: np.ndarray
    model: np.ndarray


def _print_epoch(r: Dict[str, Any]) -> None:
    """The default progress: one line per epoch on stderr."""
    valid = ""
    if not math.isnan(r["valid_nll"]):
        valid = f", validation accuracy {100 * r['valid_accuracy']:.2f} % NLL {r['valid_nll']:.4f}"
    print(
        f"epoch {r['epoch']}/{r['epochs']}: train NLL {r['train_nll']:.4f}{valid}, "
        f"q uncertain {100 * r['uncertain_share']:.0f} % ({r['seconds']:.2f} s)",
        file=sys.stderr,
        flush=True,
    )


class SBNClassifier:
    """A Bayesian stochastic binary neural network classifier.

    Hidden units are ±1 (logistic noise before every sign); weights are ±1 with variational
    Bernoulli posteriors (``weights="bernoulli"``) or real; gradients by PSA by default. The fit
    holds out ``valid_fraction`` of the training data (with the spec's seed) unless ``fit`` is given
    ``valid=(X, y)``, and keeps the network with the best validation NLL. Predictions are Monte
    Carlo averages over ``weight_samples`` networks drawn from the posterior and ``noise_samples``
    activation-noise draws each, run on packed bits where the model allows.

    Every argument is optional. ``spec`` names a TOML model spec (the command line's
    ``models/*.toml``) whose values are used where an argument is ``None``; without a spec, ``None``
    takes the package default (``sbn.DEFAULTS``: ``hidden=(256, 256)``, ``weights="bernoulli"``,
    and the headline Fashion-MNIST spec's ``beta=0.01``, ``logit_lr=0.05``, ``epochs=20``) or the
    library's (``batch_size=128``, ``lr=0.003``, ``seed=1``, ``estimator="psa"``,
    ``optimizer="adam"``, ``schedule="cosine"``, ``valid_fraction=0.1``, …). The arguments are the spec's fields
    (``README.md``, "Model specs"): ``hidden`` widths of the dense binary layers; ``weights``
    ``"bernoulli"`` or ``"real"`` (or one per layer); ``conv`` a list of dicts (``channels``,
    ``kernel``, ``stride``, ``pad``, ``pad_value``) for image data; ``image`` ``[h, w, c]``;
    ``beta`` the KL weight; ``estimator`` ``"psa"``, ``"st"``, …; ``engine`` ``"fast"`` or
    ``"reference"``; ``augment`` a dict (``shift``, ``flip``). Bad values raise ``ValueError``
    with the library's message when ``fit`` is called.

    ``progress``: ``True`` prints a line per epoch to stderr, ``False`` nothing, a callable is
    called with a dict per epoch (the fields of ``history_``); an exception it raises stops the fit
    and propagates. Ctrl-C stops the fit after the current batch and raises ``KeyboardInterrupt``.

    Fitted attributes: ``classes_`` (integers when the classes are numbers 0…K−1, else strings),
    ``n_features_in_``, ``history_`` (a dict per epoch), ``posthoc_`` (the stored post-hoc
    calibration: the validation temperature of the fit, or what ``calibrate`` fitted), ``model_``
    (the compiled model).
    """

    def __init__(
        self,
        *,
        hidden: Optional[Sequence[int]] = None,
        weights: Optional[Union[str, Sequence[str]]] = None,
        epochs: Optional[int] = None,
        batch_size: Optional[int] = None,
        lr: Optional[float] = None,
        logit_lr: Optional[float] = None,
        beta: Optional[float] = None,
        prior_pi: Optional[float] = None,
        seed: Optional[int] = None,
        estimator: Optional[str] = None,
        optimizer: Optional[str] = None,
        schedule: Optional[str] = None,
        engine: Optional[str] = None,
        chunk: Optional[int] = None,
        init_logit: Optional[float] = None,
        point_weights: Optional[bool] = None,
        conv: Optional[List[Dict[str, Any]]] = None,
        image: Optional[Sequence[int]] = None,
        augment: Optional[Dict[str, Any]] = None,
        valid_fraction: Optional[float] = None,
        valid_weight_samples: Optional[int] = None,
        valid_noise_samples: Optional[int] = None,
        spec: Optional[PathLike] = None,
        progress: Union[bool, Callable[[Dict[str, Any]], Any]] = True,
    ) -> None:
        self.hidden = hidden
        self.weights = weights
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.logit_lr = logit_lr
        self.beta = beta
        self.prior_pi = prior_pi
        self.seed = seed
        self.estimator = estimator
        self.optimizer = optimizer
        self.schedule = schedule
        self.engine = engine
        self.chunk = chunk
        self.init_logit = init_logit
        self.point_weights = point_weights
        self.conv = conv
        self.image = image
        self.augment = augment
        self.valid_fraction = valid_fraction
        self.valid_weight_samples = valid_weight_samples
        self.valid_noise_samples = valid_noise_samples
        self.spec = spec
        self.progress = progress

    # scikit-learn's estimator protocol, without depending on scikit-learn.
    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's arguments."""
        return {k: getattr(self, k) for k in [*_FIELDS, "spec", "progress"]}

    def set_params(self, **params: Any) -> "SBNClassifier":
        """Sets constructor arguments; an unknown name is a ``ValueError``."""
        for k, v in params.items():
            if k not in _FIELDS and k not in ("spec", "progress"):
                raise ValueError(f"SBNClassifier has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        set_ = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None and k != "progress")
        return f"SBNClassifier({set_})"

    def _overrides(self) -> Dict[str, Dict[str, Any]]:
        """The arguments as spec sections; package defaults only when there is no spec file."""
        out: Dict[str, Dict[str, Any]] = {}
        for arg, (section, field) in _FIELDS.items():
            value = getattr(self, arg)
            if value is None and self.spec is None:
                value = DEFAULTS.get(arg)
            if value is None:
                continue
            if arg in ("hidden", "image"):
                value = [int(v) for v in np.atleast_1d(value)]
            elif arg == "weights" and not isinstance(value, str):
                value = list(value)
            out.setdefault(section, {})[field] = value
        return out

    def fit(
        self,
        X,
        y,
        *,
        valid: Optional[Tuple[Any, Any]] = None,
        init: Optional[Union["SBNClassifier", PathLike]] = None,
        init_temperature: float = 1.0,
        out: Optional[PathLike] = None,
        resume: bool = False,
        force: bool = False,
    ) -> "SBNClassifier":
        """Fits on features ``X`` (n × d numbers, or n × rows × cols uint8 images, flattened) and
        labels ``y`` (integers: class numbers 0…max; strings: class names). Returns ``self``.

        ``valid=(X, y)`` validates on that data instead of holding out part of ``X``. As ``sbn
        fit`` does, the model then stores a post-hoc temperature fitted on the validation data
        (``posthoc_``; applied only with ``posthoc=True``).

        ``init``: start from a fitted classifier or the path of a model file or checkpoint
        (``MODEL.ckpt``: its best network), with the same architecture (the ``[network]`` of the
        spec) and the same training data, e.g. a deterministic pre-training (``sbn fit --init``);
        ``init_temperature`` τ tempers its posterior to ``q = σ(θ/τ)`` first.

        ``out``: write the best model to this path after every epoch and the checkpoint to
        ``out + ".ckpt"``, under the lock ``out + ".lock"``, as ``sbn fit --out``; an earlier
        run's files there raise ``FileExistsError`` unless ``force=True``. A fit stopped by Ctrl-C
        (or by an exception of ``progress``) keeps its checkpoint, and ``resume=True`` with the
        same arguments continues it (``sbn fit --resume``; only ``epochs`` may change)."""
        if resume and init is not None:
            raise ValueError("init and resume=True exclude each other: a resumed fit continues from its checkpoint")
        x, image = _convert.features(X, "X")
        index, names = _convert.labels(y, len(x), "y")
        held_out = None
        if valid is not None:
            vx, _ = _convert.features(valid[0], "valid X")
            vindex, vnames = _convert.labels(valid[1], len(vx), "valid y")
            held_out = (vx, vindex, vnames)
        if callable(self.progress):
            callback = self.progress
        else:
            callback = _print_epoch if self.progress else None
        spec = None if self.spec is None else os.fspath(self.spec)
        start: Any = init
        if isinstance(init, SBNClassifier):
            start = init._model()
        elif init is not None and not isinstance(init, _sbn.Model):
            if not isinstance(init, (str, os.PathLike)):
                raise TypeError(f"init: expected an SBNClassifier or the path of a model file or checkpoint, got {type(init).__name__}")
            start = os.fspath(init)
        run = (None if out is None else os.fspath(out), bool(resume), bool(force), start, float(init_temperature))
        model = _sbn.fit(x, index, names, image, spec, self._overrides(), held_out, callback, run)
        return self._adopt(model)

    def _adopt(self, model: "_sbn.Model") -> "SBNClassifier":
        self.model_ = model
        self.classes_ = _convert.classes_array(model.classes)
        self.n_features_in_ = model.n_features
        self.history_ = model.history
        return self

    def _model(self) -> "_sbn.Model":
        model = getattr(self, "model_", None)
        if model is None:
            raise AttributeError("this SBNClassifier is not fitted yet: call fit(X, y) or sbn.load(path) first")
        return model

    def predictive(
        self, X, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> Predictive:
        """One Monte Carlo pass over ``X``: class probabilities (n × K, float64, columns in the
        order of ``classes_``) and the total, data and model uncertainty of every example (nats).
        ``weight_samples`` networks from the posterior (a packed export is one network, so it
        does not apply), ``noise_samples`` noise draws each; the same seed gives the same numbers
        as ``sbn predict --seed``.

        Every predicting method takes ``posthoc`` and ``posterior_temperature``:
        ``posthoc=True`` predicts through the post-hoc calibration stored in the model
        (``posthoc_``; fitted by ``fit`` on its validation data, or by ``calibrate``), as the
        command line's ``--posthoc``; ``ValueError`` when none is stored. A temperature keeps the
        split total = data + model; histogram binning calibrates the mixture only, so its model
        part is 0. ``posterior_temperature`` τ predicts with the tempered posterior ``q =
        σ(θ/τ)`` (above 1 more model uncertainty, below 1 less; ``--posterior-temperature``)."""
        x, _ = _convert.features(X, "X")
        p, total, data, model = self._model().predict(x, weight_samples, noise_samples, seed, posthoc, posterior_temperature)
        return Predictive(p, total, data, model)

    def predict_proba(
        self, X, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> np.ndarray:
        """Class probabilities (n × K float64 array, columns in the order of ``classes_``)."""
        return self.predictive(
            X, weight_samples=weight_samples, noise_samples=noise_samples, seed=seed, posthoc=posthoc, posterior_temperature=posterior_temperature
        ).probabilities

    def predict(
        self, X, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> np.ndarray:
        """The most probable class of every example (the first on ties), as in ``classes_``."""
        p = self.predict_proba(
            X, weight_samples=weight_samples, noise_samples=noise_samples, seed=seed, posthoc=posthoc, posterior_temperature=posterior_temperature
        )
        return self.classes_[np.argmax(p, axis=1)]

    def uncertainty(
        self, X, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> Uncertainty:
        """The total, data and model uncertainty of every example (nats; total = data + model)."""
        r = self.predictive(
            X, weight_samples=weight_samples, noise_samples=noise_samples, seed=seed, posthoc=posthoc, posterior_temperature=posterior_temperature
        )
        return Uncertainty(r.total, r.data, r.model)

    def ood_scores(
        self, X, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> Dict[str, np.ndarray]:
        """Every out-of-distribution score of ``sbn uncertainty --ood`` per example, higher
        meaning more uncertain (a dict of float64 arrays): ``max_probability`` (1 − the largest
        class probability), ``total`` (entropy of the predictive), ``data`` (the expected
        entropy over weight samples), ``model`` (total − data, the mutual information),
        ``energy`` (of the mean log-probabilities over weight samples; 0 with one weight sample)
        and ``variation_ratio`` (the share of weight samples whose top class is not the modal
        one). Compare in- and out-of-distribution data with ``sbn.metrics.auroc``."""
        x, _ = _convert.features(X, "X")
        return self._model().ood_scores(x, weight_samples, noise_samples, seed, posthoc, posterior_temperature)

    def evaluate(
        self, X, y, *, weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, posthoc: bool = False, posterior_temperature: float = 1.0
    ) -> Dict[str, Any]:
        """Scores as ``sbn evaluate`` reports them: ``accuracy``, ``nll`` (nats), ``brier``,
        ``ece`` and ``mce`` (15 equal-width bins), ``ece_equal_mass``, ``classwise_ece``, plus
        ``n_examples``, ``weight_samples``, ``noise_samples``, and with ``posthoc=True`` the
        calibration applied (``posthoc``). Labels are matched to the model's classes by name;
        one the model does not know raises ``ValueError`` naming it."""
        x, _ = _convert.features(X, "X")
        index, names = _convert.labels(y, len(x), "y")
        return self._model().evaluate(x, index, names, weight_samples, noise_samples, seed, posthoc, posterior_temperature)

    def reliability(
        self,
        X,
        y,
        *,
        bins: int = ECE_BINS,
        equal_mass: bool = False,
        weight_samples: int = 16,
        noise_samples: int = 8,
        seed: int = 0,
        posthoc: bool = False,
        posterior_temperature: float = 1.0,
    ) -> Reliability:
        """The reliability diagram's table on labelled data, binned as ``sbn calibrate`` bins:
        per bin of top-class confidence its bounds, ``count``, ``accuracy`` and mean
        ``confidence`` (arrays, empty bins included), and the ``ece`` and ``mce``
        (``bins`` equal-width bins, or equal-mass ones with ``equal_mass=True``). With the
        default 15 equal-width bins, ``ece`` is ``evaluate``'s."""
        x, _ = _convert.features(X, "X")
        index, names = _convert.labels(y, len(x), "y")
        d = self._model().reliability(x, index, names, int(bins), bool(equal_mass), weight_samples, noise_samples, seed, posthoc, posterior_temperature)
        return _table(d)

    def calibrate(
        self, X, y, *, method: str = "temperature", weight_samples: int = 16, noise_samples: int = 8, seed: int = 0, name: Optional[str] = None
    ) -> "SBNClassifier":
        """Fits a post-hoc calibration of the predictive on held-out labelled data ``X, y``
        (not the training data) and stores it in the model, replacing the one stored before,
        as ``sbn calibrate MODEL --data DATA --fit METHOD --save``: ``"temperature"`` (one
        temperature for every weight sample's probabilities; never raises the NLL of the data it
        is fitted on), ``"vector"`` (a scale and a bias per class) or ``"histogram"`` (top-label
        histogram binning). The predictive it is fitted on has ``weight_samples`` ×
        ``noise_samples`` draws from ``seed``; ``name`` records what the data was. Predict
        through it with ``posthoc=True``; ``save`` keeps it in the model file. Returns ``self``."""
        x, _ = _convert.features(X, "X")
        index, names = _convert.labels(y, len(x), "y")
        data_name = name if name is not None else f"{len(x)} examples given to calibrate()"
        self.model_ = self._model().calibrated(x, index, names, method, weight_samples, noise_samples, seed, data_name)
        return self

    @property
    def posthoc_(self) -> Optional[Dict[str, Any]]:
        """The stored post-hoc calibration (``None`` when there is none): ``method``, its
        parameters (``temperature``; or ``scale`` and ``bias``; or ``edges`` and ``accuracy``)
        and what it was fitted on (``data``, ``n_examples``, ``weight_samples``,
        ``noise_samples``)."""
        return self._model().posthoc

    def score(self, X, y) -> float:
        """Accuracy (scikit-learn's ``score`` of classifiers)."""
        return self.evaluate(X, y)["accuracy"]

    def save(self, path: PathLike, *, compact: bool = False) -> None:
        """Writes the model file, the format of ``sbn fit`` (every ``sbn`` command reads it);
        ``compact=True`` writes its compact form (Bernoulli logits in 8 bits each, about an
        eighth of the size, read like a model file; ``sbn export --format compact``)."""
        self._model().save(os.fspath(path), compact)

    def export_safetensors(self, path: PathLike, *, sample_seed: Optional[int] = None) -> None:
        """Writes the parameters in the safetensors format (``sbn export --format safetensors``):
        per layer ``layers.k.logits`` (Bernoulli; ``layers.k.weight`` for a real layer),
        ``layers.k.scale`` and ``layers.k.bias``, float64, matrices row-major ``[n_out, n_in]``;
        the metadata holds ``layers`` (geometry), ``input_scaling`` and ``class_names`` as JSON.
        With ``sample_seed``, also one sampled network's ±1 weights (``layers.k.sample``, int8)."""
        self._model().export_safetensors(os.fspath(path), sample_seed)

    def export_packed(self, path: PathLike, *, sample_seed: Optional[int] = None) -> None:
        """Writes one network at one bit per binary weight, as ``sbn export``: the most likely
        network, or one drawn from the posterior with ``sample_seed``."""
        self._model().export_packed(os.fspath(path), sample_seed)

    @classmethod
    def load(cls, path: PathLike) -> "SBNClassifier":
        """A classifier from a model file (``sbn fit``) or a packed export (``sbn export``)."""
        return cls(progress=False)._adopt(_sbn.load(os.fspath(path)))

    # Pickling keeps the model as the bytes of its model file.
    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = state["model_"].to_bytes()
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        if isinstance(state.get("model_"), bytes):
            state = dict(state, model_=_sbn.from_bytes(state["model_"], "pickled model"))
        self.__dict__.update(state)
