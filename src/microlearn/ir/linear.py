"""The linear-model IR: scores ``x @ coef.T + intercept``, then a class, probabilities or values.

One IR serves every scikit-learn linear estimator (logistic regression, linear SVMs, SGD, ridge,
perceptron, passive-aggressive, least squares, lasso, elastic net, Huber, one-vs-rest wrappers): they
differ only in the numbers and in a few flags that say how scikit-learn evaluates them.

Semantics (scikit-learn's, which :meth:`Linear.reference` reproduces bit for bit on the same batch):

* Input rows are float32. scikit-learn multiplies them with ``coef_`` in ``coef_``'s dtype (``dtype``:
  float64 usually, float32 when the model was fitted on float32 data), through BLAS, then adds
  ``intercept_`` (``intercept_dtype``: a float32 or float64 array or numpy scalar, or the Python float
  0.0 of ``fit_intercept=False``, "weak", which keeps the product's dtype).
* ``layout`` is the shape of that product: "vector" (``X @ coef_`` with a 1-D ``coef_``: single-output
  regressors), "matrix" (``X @ coef_.T``, one BLAS call for all rows of ``coef``) or "per_class" (one
  product per row of ``coef``: ``OneVsRestClassifier``). BLAS sums in an order of its own, so the
  reference repeats the same calls. "sequential" is XGBoost's ``gblinear`` (float32 only): each score
  starts at its intercept and adds ``x_j * w_j`` (a float32 product) for j = 0, 1, ... in float32 (a
  missing value is skipped there, which an ``Impute`` stage filling 0 in front repeats). Its classes come
  from XGBoost's float32 links: the float32 sigmoid is exactly 0.5 for margins up to about 8.9e-8 and the
  float32 softmax ties classes whose margins differ by less than about 2**-22, so rows whose margin (or
  lead) is within ``SEQUENTIAL_TIE`` are ambiguous as well.
* Classifier with one row of ``coef`` (binary): class 1 where the score is > 0, else class 0. With
  ``K`` rows: the first index of the largest score (numpy's argmax).
* Probabilities (``proba``): "logistic" (binary: ``[1 - expit(s), expit(s)]``), "softmax",
  "modified_huber" (``(clip(s, -1, 1) + 1) / 2``), each then optionally normalised (``normalize``):
  "ovr" (divide by the row sum; a row summing to 0 becomes uniform: ``LinearClassifierMixin``),
  "ovr_nonzero" (divide where the row sum is not 0: ``OneVsRestClassifier``).
* Regressor: the scores are the values (``K`` outputs).

Exactness of the other backends (docs/linear.md): every target computes the scores in an order of its
own, so it cannot repeat BLAS's rounding. A class decided by a margin larger than the rounding bound of
scikit-learn's arithmetic plus that of the device's float64 replay is scikit-learn's class on every
target; :meth:`Linear.reference` marks the rows inside that bound ``ambiguous``. Values (regression,
decision scores) are within ``Reference.bound``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines

Dtype = Literal["float32", "float64"]
InterceptDtype = Literal["float32", "float64", "weak"]
Layout = Literal["vector", "matrix", "per_class", "sequential"]
Proba = Literal["none", "logistic", "softmax", "modified_huber"]
Normalize = Literal["none", "ovr", "ovr_nonzero"]

U64 = 2.0**-53  # unit roundoff of float64
U32 = 2.0**-24  # unit roundoff of float32
TINY64 = 2.0**-1074  # smallest float64 subnormal: the absolute error of one underflowing product
TINY32 = 2.0**-149
F32_MAX = float(np.finfo(np.float32).max)

PROBAS = ("none", "logistic", "softmax", "modified_huber")
NORMALIZES = ("none", "ovr", "ovr_nonzero")
LAYOUTS = ("vector", "matrix", "per_class", "sequential")
SEQUENTIAL_TIE = 2.0**-21  # XGBoost's float32 links tie classes within this margin (see above)


def gamma(k: int, u: float) -> float:
    """Higham's gamma_k = k u / (1 - k u): the relative error bound of k roundings in a row, rounded up."""
    ku = k * u
    return float(np.nextafter(ku / (1.0 - ku) * (1.0 + 4 * U64), np.inf))


@dataclass(frozen=True)
class Linear:
    """A fitted linear model. ``coef`` is (K, n_features) and ``intercept`` (K,), both holding exactly
    the values of scikit-learn's arrays (float32 values widened exactly when ``dtype`` is float32)."""

    task: Task
    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    dtype: Dtype = "float64"
    intercept_dtype: InterceptDtype = "float64"
    layout: Layout = "matrix"
    proba: Proba = "none"
    normalize: Normalize = "none"
    classes: npt.NDArray[np.generic] | None = None
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        c, b = self.coef, self.intercept
        if self.task not in (Task.CLASSIFY, Task.REGRESS):
            raise ValueError("a Linear model classifies or regresses")
        if c.dtype != np.float64 or b.dtype != np.float64:
            raise ValueError("Linear.coef and Linear.intercept are float64 arrays")
        if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
            raise ValueError("Linear.coef must have shape (K >= 1, n_features >= 1)")
        if b.shape != (c.shape[0],):
            raise ValueError(f"Linear.intercept must have shape ({c.shape[0]},)")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(b))):
            raise ValueError("coefficients and intercepts must be finite")
        if np.any(np.abs(c) > F32_MAX) or np.any(np.abs(b) > F32_MAX):
            raise ValueError("coefficients and intercepts must lie within the float32 range")
        if self.dtype not in ("float32", "float64") or self.intercept_dtype not in (
            "float32",
            "float64",
            "weak",
        ):
            raise ValueError("unknown dtype")
        if self.dtype == "float32" and np.any(c.astype(np.float32).astype(np.float64) != c):
            raise ValueError("float32 coefficients must be exact float32 values")
        if self.intercept_dtype == "float32" and np.any(b.astype(np.float32).astype(np.float64) != b):
            raise ValueError("float32 intercepts must be exact float32 values")
        if self.intercept_dtype == "weak" and np.any(b != b[0]):
            raise ValueError("a 'weak' (Python float) intercept is one value for every output")
        if self.layout not in LAYOUTS or self.proba not in PROBAS or self.normalize not in NORMALIZES:
            raise ValueError("unknown layout, proba or normalize")
        if self.layout == "vector" and c.shape[0] != 1:
            raise ValueError("the 'vector' layout has one row of coefficients")
        if self.layout == "sequential" and (self.dtype != "float32" or self.intercept_dtype != "float32"):
            raise ValueError("the 'sequential' layout (XGBoost's gblinear) sums float32 values")
        if self.task == Task.REGRESS:
            if self.proba != "none" or self.normalize != "none" or self.classes is not None:
                raise ValueError("a regressor has no probabilities and no classes")
        else:
            if self.classes is not None and len(self.classes) != self.n_outputs:
                raise ValueError("classes must have one label per class")
            if self.proba == "softmax" and self.k == 1:
                raise ValueError("softmax needs one row of coefficients per class")
            if self.normalize != "none" and self.proba not in ("logistic", "modified_huber"):
                raise ValueError("only per-class sigmoid or modified-Huber probabilities are normalised")

    # ------------------------------------------------------------------ shape
    @property
    def k(self) -> int:
        """Rows of coef: 1 for a binary classifier or a single-output regressor."""
        return int(self.coef.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.coef.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        if self.task == Task.CLASSIFY:
            return 2 if self.k == 1 else self.k
        return self.k

    @property
    def is_classifier(self) -> bool:
        return self.task == Task.CLASSIFY

    @property
    def binary(self) -> bool:
        return self.task == Task.CLASSIFY and self.k == 1

    @property
    def has_proba(self) -> bool:
        return self.proba != "none"

    @property
    def exact32(self) -> bool:
        """Every coefficient and intercept is a float32 value (then float32 tables replay exactly)."""
        c, b = self.coef, self.intercept
        return bool(
            np.all(c.astype(np.float32).astype(np.float64) == c)
            and np.all(b.astype(np.float32).astype(np.float64) == b)
        )

    def summary(self) -> list[str]:
        name = self.source.split(".")[-1] or "linear model"
        lines = [f"{name}: linear, {self.n_features} features"]
        if self.is_classifier:
            labels = [str(c) for c in (self.classes if self.classes is not None else range(self.n_outputs))]
            shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
            more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
            lines.append(f"classes: {self.n_outputs} ({shown}{more})")
            rule = "score > 0" if self.binary else "first largest score"
            lines.append(
                f"decision: {rule}; probabilities: {self.proba}"
                + (f" (normalised: {self.normalize})" if self.normalize != "none" else "")
            )
        else:
            lines.append(f"outputs: {self.k} value{'s' if self.k > 1 else ''} (regression)")
        how = "XGBoost's gblinear arithmetic" if self.layout == "sequential" else "scikit-learn's arithmetic"
        lines.append(f"coefficients: {self.k} x {self.n_features} {self.dtype} ({how})")
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ scikit-learn's arithmetic
    def _intercept_operand(self) -> Any:
        if self.intercept_dtype == "weak":
            return float(self.intercept[0])
        dt = np.float32 if self.intercept_dtype == "float32" else np.float64
        if self.layout == "vector":
            return dt(self.intercept[0])  # a numpy scalar: strong, as scikit-learn's intercept_
        return self.intercept.astype(dt)

    def decision(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.floating[Any]]:
        """scikit-learn's scores, (n, K), in scikit-learn's dtype and bits (same BLAS calls)."""
        X = np.asarray(X)
        if X.dtype != np.float32:
            raise TypeError("Linear.decision takes float32 rows")
        W: npt.NDArray[Any] = self.coef.astype(np.float32 if self.dtype == "float32" else np.float64)
        b = self._intercept_operand()
        if self.layout == "sequential":  # XGBoost's gblinear: from the intercept, feature by feature
            s32 = np.tile(self.intercept.astype(np.float32), (X.shape[0], 1))
            for j in range(self.n_features):
                s32 = s32 + X[:, j : j + 1] * W[:, j]
            return s32
        if self.layout == "vector":
            s = X @ W[0] + b
            return np.asarray(s).reshape(-1, 1)
        if self.layout == "matrix":
            return np.asarray(X @ W.T + b)
        cols = []
        for j in range(self.k):
            bj = b if isinstance(b, float) else b[j : j + 1]
            cols.append(np.ravel(X @ W[j : j + 1].T + bj))
        return np.asarray(np.array(cols).T)

    def _proba(self, s: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
        from scipy.special import expit

        if self.proba == "softmax":
            p = s.copy()
            p -= p.max(axis=1).reshape(-1, 1)
            np.exp(p, out=p)
            p /= p.sum(axis=1).reshape(-1, 1)
            return p
        if self.normalize == "ovr_nonzero":  # OneVsRestClassifier over binary estimators
            cols = [self._binary_proba(s[:, j])[:, 1] for j in range(self.k)]
            Y = np.array(cols).T
            if self.k == 1:
                Y = np.concatenate((1 - Y, Y), axis=1)
            sums = np.sum(Y, axis=1)[:, np.newaxis]
            np.divide(Y, sums, out=Y, where=sums != 0)
            return Y
        if self.k == 1:
            return self._binary_proba(s[:, 0])
        if self.proba == "logistic":
            p = expit(s.copy())
        else:
            p = s.copy()
            np.clip(p, -1, 1, p)
            p += 1.0
            p /= 2.0
        sums = p.sum(axis=1)
        zero = sums == 0
        if np.any(zero):
            p[zero, :] = 1
            sums[zero] = p.shape[1]
        p /= sums.reshape((p.shape[0], -1))
        return np.asarray(p)

    def _binary_proba(self, s: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
        from scipy.special import expit

        if self.proba == "logistic":
            p = expit(s.copy())
            return np.stack([1 - p, p], axis=1)
        p2 = np.ones((s.shape[0], 2))
        p = p2[:, 1]
        np.clip(s, -1, 1, p)
        p += 1.0
        p /= 2.0
        p2[:, 0] -= p
        return p2

    # ------------------------------------------------------------------ bounds
    def abs_sums(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row and output, an upper bound of sum_i |x_i w_i| + |b| (the scale of every rounding)."""
        X64 = np.abs(np.asarray(X, dtype=np.float64))
        S = X64 @ np.abs(self.coef).T + np.abs(self.intercept)
        out: npt.NDArray[np.float64] = S * (1.0 + gamma(self.n_features + 2, U64))
        return out

    def sklearn_error(self, S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Bound of |scikit-learn's score - the exact score| given abs_sums: any summation order, FMA
        or not, n products and n additions (the intercept last) in ``dtype``."""
        n = self.n_features
        if self.dtype == "float32":
            e = gamma(n + 1, U32) * S + (n + 1) * TINY32
            if self.intercept_dtype == "float64":
                e += gamma(1, U64) * (S + e)
            return e
        return gamma(n + 1, U64) * S + (n + 1) * TINY64

    def replay_error(self, S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Bound of the device's float64 replay (sequential sum from the intercept, any FMA)."""
        return gamma(self.n_features + 1, U64) * S + (self.n_features + 1) * TINY64

    def float32_error(self, S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Bound of a float32 evaluation with float32-rounded coefficients (the C fast path, docs)."""
        n = self.n_features
        return gamma(n + 2, U32) * S + (n + 2) * TINY32

    def value_bound(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row and output: how far a float32 evaluation may be from scikit-learn's value."""
        S = self.abs_sums(X)
        return self.sklearn_error(S) + self.float32_error(S)

    def ambiguous(
        self, X: npt.NDArray[np.float32], s: npt.NDArray[Any] | None = None
    ) -> npt.NDArray[np.bool_]:
        """Rows whose class is within rounding of a tie: scikit-learn's own margin is not larger than
        scikit-learn's rounding bound plus the replay's, for the top class and some other class."""
        if s is None:
            s = self.decision(X)
        s64 = np.asarray(s, dtype=np.float64)
        S = self.abs_sums(X)
        E = self.sklearn_error(S) + self.replay_error(S)
        if self.layout == "sequential":
            E = E + SEQUENTIAL_TIE
        if self.k == 1:
            out: npt.NDArray[np.bool_] = np.abs(s64[:, 0]) <= E[:, 0]
            return out
        n = s64.shape[0]
        top = np.argmax(s64, axis=1)
        st = s64[np.arange(n), top][:, None]
        Et = E[np.arange(n), top][:, None]
        close = (st - s64) <= (Et + E)
        close[np.arange(n), top] = False
        amb: npt.NDArray[np.bool_] = close.any(axis=1)
        return amb

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        s = self.decision(X32)
        if self.task == Task.REGRESS:
            vals = np.asarray(s, dtype=np.float64)
            bound = self.value_bound(X32)
            if self.k == 1:
                return Reference(outputs=vals[:, 0], bound=bound[:, 0])
            # one bound per row (verify compares each row's largest difference): the largest output's
            return Reference(outputs=vals, bound=bound.max(axis=1))
        if self.k == 1:
            idx = (s[:, 0] > 0).astype(np.int64)
            scores = np.asarray(s[:, 0], dtype=np.float64)
        else:
            idx = np.argmax(s, axis=1).astype(np.int64)
            scores = np.asarray(s, dtype=np.float64)
        proba = np.asarray(self._proba(s), dtype=np.float64) if self.has_proba else None
        return Reference(outputs=idx, proba=proba, scores=scores, ambiguous=self.ambiguous(X32, s))


def proba_bound(ir: Linear, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Per row: how far float32 probabilities (scores within ``value_bound``, expf within 2 ulp, every
    other operation rounded once) may be from scikit-learn's (docs/linear.md, "Probabilities")."""
    X32 = np.asarray(X, dtype=np.float32)
    d = ir.value_bound(X32).max(axis=1)  # score error, largest over the rows of coef
    ref = ir.reference(X32)
    assert ref.proba is not None
    p = ref.proba
    k = ir.k
    u = U32
    rounding = (2 * ir.n_outputs + 16) * u  # expf 4u, sums, divisions, 1 - p; scikit-learn's float32 too
    if ir.proba == "softmax":
        rel = np.expm1(2 * d) + rounding
        return np.asarray((p * rel[:, None]).max(axis=1) + 2.0**-120, dtype=np.float64)
    if ir.proba == "logistic":
        if k == 1 or ir.normalize == "none":
            return np.asarray(d / 4 + rounding + 2.0**-120, dtype=np.float64)
        rho = np.expm1(d) + rounding  # relative error of each sigmoid
        rel = (1 + rho) / np.maximum(1 - rho, 0.5) - 1 + rounding
        return np.asarray((p * rel[:, None]).max(axis=1) + 2.0**-120, dtype=np.float64)
    # modified Huber: (clip(s, -1, 1) + 1) / 2 is 1/2-Lipschitz
    e = d / 2 + 4 * u
    if k == 1 or ir.normalize == "none":
        return np.asarray(e + rounding, dtype=np.float64)
    S = ir.decision(X32).astype(np.float64)
    msum = ((np.clip(S, -1, 1) + 1) / 2).sum(axis=1)
    denom = msum - k * e
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(denom > 0, e * (1 + k) / denom + rounding, np.inf)
    return np.asarray(b, dtype=np.float64)
