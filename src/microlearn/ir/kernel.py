"""The kernel-expansion IR: scikit-learn's ``OneClassSVM`` (libsvm's one-class SVM).

Semantics: ``decision_function(x) = sum_i coef_i K(sv_i, x) - rho`` with libsvm's kernels (linear
``<x, s>``, poly ``(gamma <x, s> + coef0)^degree``, rbf ``exp(-gamma |x - s|^2)``, sigmoid
``tanh(gamma <x, s> + coef0)``), the float32 row widened to float64; ``score_samples = decision_function +
offset_`` (offset_ = rho); ``predict`` is 1 where the decision value is > 0, else -1 (libsvm's rule).

libsvm computes the dot products with BLAS, so the reference computes the same formula in float64 and
states a proven bound per row (:meth:`KernelExpansion.decision_error`, docs/anomaly.md): the kernel
values' own errors (dot products of any order, the exp/tanh of the C library within 2 ulp, repeated
multiplication for the power) weighted by ``|coef_i|``, plus the sum's. Rows whose decision value is
within three such bounds of 0 are ``ambiguous``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines, score_disagreements
from microlearn.ir.linear import U32, U64, gamma

KernelName = Literal["linear", "poly", "rbf", "sigmoid"]
KERNELS: tuple[KernelName, ...] = ("linear", "poly", "rbf", "sigmoid")


@dataclass(frozen=True)
class KernelExpansion:
    support: npt.NDArray[np.float64]  # (m, n) support vectors
    coef: npt.NDArray[np.float64]  # (m,) dual coefficients
    rho: float  # decision = sum - rho; offset_
    kernel: KernelName = "rbf"
    gamma: float = 1.0
    coef0: float = 0.0
    degree: int = 3
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        s, c = self.support, self.coef
        if s.dtype != np.float64 or c.dtype != np.float64:
            raise ValueError("kernel expansion arrays are float64")
        if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1 or c.shape != (s.shape[0],):
            raise ValueError("support must be (m >= 1, n >= 1) and coef (m,)")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(c))):
            raise ValueError("support vectors and coefficients must be finite")
        if not all(np.isfinite(v) for v in (self.rho, self.gamma, self.coef0)):
            raise ValueError("rho, gamma and coef0 must be finite")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}")
        if not 0 <= self.degree <= 64:
            raise ValueError("degree must be 0 .. 64")

    @property
    def task(self) -> Task:
        return Task.SCORE

    @property
    def n_inputs(self) -> int:
        return int(self.support.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def m(self) -> int:
        return int(self.support.shape[0])

    @property
    def classes(self) -> None:
        return None

    def summary(self) -> list[str]:
        k = {
            "linear": "<x, s>",
            "poly": f"({self.gamma:.6g} <x, s> + {self.coef0:.6g})^{self.degree}",
            "rbf": f"exp(-{self.gamma:.6g} |x - s|^2)",
            "sigmoid": f"tanh({self.gamma:.6g} <x, s> + {self.coef0:.6g})",
        }[self.kernel]
        lines = [
            f"OneClassSVM: {self.m} support vectors, {self.n_features} features, kernel {k}",
            f"decision = sum coef K(s, x) - {self.rho:.6g}; inlier when > 0; score = decision + offset",
        ]
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ arithmetic
    def kernel_values(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        X64 = np.asarray(X, dtype=np.float64)
        S = self.support
        if self.kernel == "rbf":
            d2 = np.stack([np.sum((X64 - s) ** 2, axis=1) for s in S], axis=1)
            out: npt.NDArray[np.float64] = np.exp(-self.gamma * d2)
            return out
        dot = X64 @ S.T
        if self.kernel == "linear":
            return dot
        t = self.gamma * dot + self.coef0
        if self.kernel == "poly":
            return t**self.degree
        return np.tanh(t)

    def kernel_error(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row and support vector, a bound of |a float64 kernel value - the exact one| (any order
        of the dot product, exp/tanh within 2 ulp, the power by repeated multiplication)."""
        n, u = self.n_features, U64
        X64 = np.asarray(X, dtype=np.float64)
        S = self.support
        g = abs(self.gamma)
        if self.kernel == "rbf":
            d2 = np.stack([np.sum((X64 - s) ** 2, axis=1) for s in S], axis=1)
            K = np.exp(-self.gamma * d2)
            ds = gamma(n + 3, u) * d2
            out: npt.NDArray[np.float64] = K * np.expm1(g * ds * 1.01) + 4 * u * K
            return out * 1.01
        A = np.abs(X64) @ np.abs(S).T
        ddot = gamma(n + 2, u) * A
        if self.kernel == "linear":
            return np.asarray(ddot * 1.01, dtype=np.float64)
        dot = X64 @ S.T
        t = self.gamma * dot + self.coef0
        dt = g * ddot + gamma(3, u) * (g * A + abs(self.coef0))
        if self.kernel == "sigmoid":
            return np.asarray((dt + 4 * u) * 1.01, dtype=np.float64)
        p = self.degree
        if p == 0:
            return np.zeros_like(t)
        big = np.abs(t) + dt
        return np.asarray((p * big ** (p - 1) * dt + gamma(2 * p + 2, u) * big**p) * 1.01, dtype=np.float64)

    def decision(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self.kernel_values(X) @ self.coef - self.rho
        return out

    def decision_error(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        K = self.kernel_values(X)
        absc = np.abs(self.coef)
        e = self.kernel_error(X) @ absc + gamma(self.m + 2, U64) * (np.abs(K) @ absc + abs(self.rho))
        out: npt.NDArray[np.float64] = e * (1.0 + 2.0**-20) + 2.0**-1000
        return out

    def library_disagreements(self, estimator: Any, X: npt.NDArray[np.float32], ref: Reference) -> int:
        """verify's cross-check: rows where scikit-learn's score is outside the bound, or its predict
        differs on a row that is not ambiguous."""
        return score_disagreements(estimator, X, ref)

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        dec = self.decision(X32)
        score = dec + self.rho
        E = self.decision_error(X32)
        with np.errstate(invalid="ignore"):
            amb = (np.abs(dec) <= 3 * E) | ~np.isfinite(dec)
        bound = 3 * E + 4 * U64 * np.abs(score) + 1.01 * U32 * np.abs(score)
        return Reference(
            outputs=np.asarray(score, dtype=np.float64),
            scores=np.asarray(dec, dtype=np.float64),
            bound=np.asarray(bound, dtype=np.float64),
            ambiguous=np.asarray(amb, dtype=np.bool_),
            decision=np.where(dec > 0, 1, -1).astype(np.int64),
        )
