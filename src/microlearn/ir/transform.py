"""Preprocessing stages (Task.TRANSFORM): scalers, imputer, normalizer, PCA, with scikit-learn's arithmetic.

A stage maps rows of ``n_inputs`` values to rows of ``n_outputs`` values. ``reference(X)`` performs the
operations scikit-learn's ``transform`` performs, in the same dtypes and the same order, so it is bit for
bit the library's result (tests compare the bits on random data, zero scales, NaN and inf):

* Data stays in its own dtype: float32 rows stay float32 through every scaler, the imputer and the
  normalizer (scikit-learn validates with ``dtype=FLOAT_DTYPES`` and works in place).
* An in-place ``X op= c`` on float32 ``X`` with a float64 array ``c`` computes in float64 (numpy promotes
  the operands) and rounds the result to float32: ``fl32(fl64(x op c))``. Where scikit-learn casts the
  constant first (``StandardScaler``: ``X -= mean_.astype(X.dtype)``) the operation is a float32 one:
  ``fl32(x op fl32(c))``. The two differ (the second rounds the constant); each :class:`Op` records which
  it is (:attr:`Op.dtype`).
* PCA projects with BLAS in float64 (``X @ components_.T``); its summation order is BLAS's own, so a device
  reproduces it within a stated bound (:meth:`Project.reference` fills ``Reference.bound``), not bit for
  bit. Its output is float64.
* ``Normalizer``: ``max`` and ``l1`` norms are exact (``l1`` is numpy's pairwise float32 sum, replayed by
  :func:`pairwise_sum32`); the ``l2`` norm comes from ``np.einsum`` whose float32 accumulation order
  depends on numpy's SIMD build: bound.

Values beyond what scikit-learn accepts (it refuses ``inf`` in every stage and NaN in PCA and the
normalizer) follow IEEE arithmetic here (``inf`` passes through a scaler as numpy would compute it); the C
and MicroPython stages compute the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
EPS64 = 2.0**-53  # unit roundoff of float64
EPS32 = 2.0**-24

OpCode = Literal["sub", "add", "mul", "div", "clip"]
ConstDtype = Literal["x", "f32", "f64"]


def _floats(X: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
    """X as scikit-learn's validation leaves it: float32 and float64 stay, anything else becomes float64."""
    A = np.asarray(X)
    if A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float64)
    return np.array(A, copy=True, order="C")


@dataclass(frozen=True)
class Op:
    """One in-place per-feature operation ``X op= c`` (``clip``: ``X = clip(X, lo, hi)``).

    ``dtype`` says in which dtype scikit-learn holds ``c`` when it operates: ``"x"`` = cast to the data's
    dtype first (float32 rows: a float32 operation with ``fl32(c)``), ``"f32"`` / ``"f64"`` = the dtype
    the fitted attribute has (``"f64"`` on float32 rows: ``fl32(fl64(x op c))``). ``c`` is stored in
    float64; for ``"f32"`` it holds float32 values. ``clip`` takes ``lo`` = ``c`` and ``hi`` (constants,
    cast to the data's dtype, NaN passes through)."""

    code: OpCode
    c: F64
    dtype: ConstDtype
    hi: F64 | None = None

    def __post_init__(self) -> None:
        if self.code not in ("sub", "add", "mul", "div", "clip"):
            raise ValueError(f"unknown operation {self.code!r}")
        if self.dtype not in ("x", "f32", "f64"):
            raise ValueError(f"unknown constant dtype {self.dtype!r}")
        if self.c.ndim != 1:
            raise ValueError("an operation's constants are one per feature")
        if self.dtype == "f32" and not np.array_equal(self.c.astype(np.float32).astype(np.float64), self.c):
            raise ValueError("f32 constants must be float32 values")
        if (self.code == "clip") != (self.hi is not None):
            raise ValueError("clip (and only clip) has an upper bound")
        if self.hi is not None and self.hi.shape != self.c.shape:
            raise ValueError("clip bounds are one per feature")
        if not np.all(np.isfinite(self.c)) or (self.hi is not None and not np.all(np.isfinite(self.hi))):
            raise ValueError("stage constants must be finite")
        if self.code == "div" and np.any(self.c == 0):
            raise ValueError("a stage cannot divide by zero")

    def const(self, data_dtype: np.dtype[Any]) -> npt.NDArray[np.floating[Any]]:
        """The constant array as scikit-learn holds it when transforming data of ``data_dtype``."""
        if self.dtype == "x":
            return self.c.astype(data_dtype)
        return self.c.astype(np.float32 if self.dtype == "f32" else np.float64)

    def apply(self, X: npt.NDArray[np.floating[Any]]) -> None:
        """``X op= c`` in place, exactly as numpy does it inside scikit-learn."""
        if self.code == "clip":
            assert self.hi is not None
            np.clip(X, self.c.astype(X.dtype), self.hi.astype(X.dtype), out=X)
            return
        c = self.const(X.dtype)
        with np.errstate(all="ignore"):  # overflow to inf is IEEE's (and the device's) result
            if self.code == "sub":
                X -= c
            elif self.code == "add":
                X += c
            elif self.code == "mul":
                X *= c
            else:
                X /= c

    def wide(self) -> bool:
        """Whether the operation on float32 data is computed in float64 (then rounded to float32)."""
        return self.dtype == "f64" and self.code != "clip"


class TransformStage:
    """What every preprocessing stage IR below is (one model-file family holds them all)."""

    task = Task.TRANSFORM
    classes = None


@dataclass(frozen=True)
class Elementwise(TransformStage):
    """Per-feature operations applied in order: StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler.

    Output j depends on input j alone; with positive multipliers/divisors the map is monotone
    non-decreasing per feature, which ``passes/fold.py`` uses to fold it into tree thresholds."""

    n_features: int
    ops: tuple[Op, ...]
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        for op in self.ops:
            if op.c.shape != (self.n_features,):
                raise ValueError(f"every operation needs {self.n_features} constants")

    @property
    def n_inputs(self) -> int:
        return self.n_features

    @property
    def n_outputs(self) -> int:
        return self.n_features

    def summary(self) -> list[str]:
        steps = ", ".join(f"{op.code}{'(float64)' if op.wide() else ''}" for op in self.ops) or "identity"
        return [f"{_short(self.source)}: {self.n_features} features, per feature {steps}"]

    def transform(self, X: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
        A = _floats(X)
        for op in self.ops:
            op.apply(A)
        return A

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        return Reference(outputs=self.transform(X))

    def column(self, j: int, x: F32) -> F32:
        """Feature j's float32 map applied to float32 values (the map ``passes/fold.py`` folds)."""
        A = np.array(x, dtype=np.float32, copy=True)
        for op in self.ops:
            sub = Op(op.code, op.c[j : j + 1], op.dtype, None if op.hi is None else op.hi[j : j + 1])
            sub.apply(A)
        return A

    def monotone(self) -> bool:
        """Non-decreasing per feature on float32 input, and never NaN for a non-NaN input: every constant
        finite and every multiplier and divisor positive *as applied* (a float64 constant cast to float32
        may overflow to inf or underflow to 0)."""
        for op in self.ops:
            c = op.const(np.dtype(np.float32))
            if not np.all(np.isfinite(c)):
                return False
            if op.code in ("mul", "div") and not np.all(c > 0):
                return False
            if op.hi is not None and not np.all(np.isfinite(op.hi.astype(np.float32))):
                return False
        return True


@dataclass(frozen=True)
class Impute(TransformStage):
    """SimpleImputer with ``missing_values=NaN``: output j is input ``keep[j]`` with NaN replaced by
    ``fill[j]`` rounded to the data's dtype (scikit-learn assigns the float64 statistic into the array).
    Features scikit-learn drops (no observed value at fit) are absent from ``keep``."""

    n_features: int
    keep: npt.NDArray[np.int32]
    fill: F64  # one per output feature
    source: str = "sklearn.impute.SimpleImputer"
    feature_names: tuple[str, ...] | None = field(default=None)
    strategy: str = ""

    def __post_init__(self) -> None:
        if self.keep.ndim != 1 or self.fill.shape != self.keep.shape:
            raise ValueError("Impute needs one fill value per kept feature")
        if self.keep.size and (self.keep.min() < 0 or self.keep.max() >= self.n_features):
            raise ValueError("kept feature index out of range")
        if np.any(np.diff(self.keep) <= 0):
            raise ValueError("kept features must be increasing")
        if np.any(np.isnan(self.fill)):
            raise ValueError("fill values must not be NaN")

    @property
    def n_inputs(self) -> int:
        return self.n_features

    @property
    def n_outputs(self) -> int:
        return int(self.keep.size)

    def summary(self) -> list[str]:
        dropped = self.n_features - self.n_outputs
        return [
            f"{_short(self.source)}({self.strategy}): NaN -> fill value in {self.n_outputs} features"
            + (f", {dropped} dropped (never observed)" if dropped else "")
        ]

    def transform(self, X: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
        A = _floats(X)[:, self.keep]
        fill = self.fill.astype(A.dtype)
        nan = np.isnan(A)
        rows, cols = np.nonzero(nan)
        A[rows, cols] = fill[cols]
        return A

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        return Reference(outputs=self.transform(X))


NormKind = Literal["l1", "l2", "max"]


def pairwise_sum32(A: F32) -> F32:
    """numpy's float32 ``np.sum(A, axis=1)`` of a C-contiguous array, in its own order (pairwise:
    sequential below 8 values, 8 running sums up to 128, halves beyond), vectorised across rows."""
    n = A.shape[1]
    if n < 8:
        r = np.zeros(A.shape[0], dtype=np.float32)
        for i in range(n):
            r = r + A[:, i]
        return r
    if n <= 128:
        acc = A[:, :8].copy()
        i = 8
        while i < n - n % 8:
            acc += A[:, i : i + 8]
            i += 8
        r = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + (
            (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
        )
        while i < n:
            r = r + A[:, i]
            i += 1
        return r
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum32(A[:, :n2]) + pairwise_sum32(A[:, n2:])


@dataclass(frozen=True)
class Normalize(TransformStage):
    """Normalizer: each row divided by its l1, l2 or max norm (norms below 10 eps of the dtype -> 1)."""

    n_features: int
    norm: NormKind
    source: str = "sklearn.preprocessing.Normalizer"
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.norm not in ("l1", "l2", "max"):
            raise ValueError(f"unknown norm {self.norm!r}")

    @property
    def n_inputs(self) -> int:
        return self.n_features

    @property
    def n_outputs(self) -> int:
        return self.n_features

    @staticmethod
    def tiny(dtype: Any) -> float:
        """Norms below this are replaced by 1 (scikit-learn's ``_handle_zeros_in_scale``)."""
        return float(10 * np.finfo(dtype).eps)

    def summary(self) -> list[str]:
        return [f"{_short(self.source)}: {self.n_features} features, rows divided by their {self.norm} norm"]

    def norms(self, A: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
        if self.norm == "max":
            out: npt.NDArray[np.floating[Any]] = np.max(np.abs(A), axis=1)
        elif self.norm == "l1":
            out = pairwise_sum32(np.abs(A)) if A.dtype == np.float32 else np.sum(np.abs(A), axis=1)
        else:
            out = np.sqrt(np.einsum("ij,ij->i", A, A))
        return out

    def transform(self, X: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
        A = _floats(X)
        nrm = self.norms(A)
        nrm[nrm < np.asarray(self.tiny(A.dtype), dtype=A.dtype)] = 1.0
        A /= nrm[:, None]
        return A

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        A = self.transform(X)
        bound = None
        if self.norm == "l2":
            # the sum of squares in another float32 order: in any order it is within gamma = (n+1) 2**-24
            # (relatively) of the exact one, so two orders differ by 2 gamma, the square root halves that
            # and rounds, and the division rounds once more on each side
            X64 = np.asarray(X, dtype=np.float64)
            n = self.n_features
            rel = (n + 1) * EPS32 / (1 - (n + 1) * EPS32)
            bound = np.max(np.abs(A), axis=1, initial=0.0).astype(np.float64) * (rel + 4 * EPS32) * 1.01
            exact = np.sqrt(np.sum(X64 * X64, axis=1))
            tiny = self.tiny(np.float32)
            near_tiny = np.abs(exact - tiny) <= 2 * (rel + 2 * EPS32) * tiny  # 1 or the norm: either side
            bound = np.where(np.all(np.isfinite(X64), axis=1) & ~near_tiny, bound, np.inf)
        return Reference(outputs=A, bound=bound)


@dataclass(frozen=True)
class Project(TransformStage):
    """PCA: ``(X @ components.T - offset) / scale`` in float64, where ``offset = mean @ components.T`` is
    what scikit-learn computes at every call (the same float64 numbers each time) and ``scale`` (whiten)
    is ``max(sqrt(explained_variance_), eps)``, else None. Output float64."""

    mean: F64  # (n_features,)
    components: F64  # (n_components, n_features)
    offset: F64  # (n_components,)
    scale: F64 | None = None
    source: str = "sklearn.decomposition.PCA"
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        k, d = self.components.shape
        if self.mean.shape != (d,) or self.offset.shape != (k,):
            raise ValueError("PCA mean must have n_features values and offset n_components")
        if self.scale is not None and (self.scale.shape != (k,) or not np.all(self.scale > 0)):
            raise ValueError("PCA whitening scales must be positive, one per component")
        for a in (self.mean, self.components, self.offset):
            if not np.all(np.isfinite(a)):
                raise ValueError("PCA arrays must be finite")

    @property
    def n_inputs(self) -> int:
        return int(self.components.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.components.shape[0])

    def summary(self) -> list[str]:
        return [
            f"{_short(self.source)}: {self.n_inputs} features -> {self.n_outputs} components"
            + (", whitened" if self.scale is not None else "")
        ]

    def transform(self, X: npt.ArrayLike) -> F64:
        A = _floats(X)
        Y: F64 = A @ self.components.T
        Y -= self.offset.reshape(1, -1)
        if self.scale is not None:
            Y /= self.scale
        return Y

    def bound(self, X: npt.ArrayLike, Y: F64) -> F64:
        """Per row, how far a float64 evaluation in another summation order, rounded to float32, can lie
        from scikit-learn's float64 output: each dot product of d terms errs by at most
        d * 2**-53 * sum|x_i c_ji| in any order (so two orders differ by twice that), the subtraction
        and the division add a rounding each side, and the float32 rounding half an ulp of the value."""
        A = np.asarray(X, dtype=np.float64)
        d = self.n_inputs
        g = 2 * (d + 2) * EPS64 / (1 - (d + 2) * EPS64)
        mag = np.abs(A) @ np.abs(self.components).T + np.abs(self.offset)
        if self.scale is not None:
            mag = mag / self.scale
        b: F64 = np.max(g * mag * 1.01 + EPS32 * np.abs(Y), axis=1, initial=0.0)
        return np.where(np.all(np.isfinite(A), axis=1), b, np.inf)

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        Y = self.transform(X)
        return Reference(outputs=Y, bound=self.bound(X, Y))


Stage = Elementwise | Impute | Normalize | Project


def _short(source: str) -> str:
    return source.rsplit(".", 1)[-1] if source else "stage"
