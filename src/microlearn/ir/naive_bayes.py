"""The Gaussian naive Bayes IR: per class a mean and a variance per feature and a prior.

Semantics (scikit-learn's ``GaussianNB``, which :meth:`GaussianNB.reference` reproduces bit for bit):

* ``jll[:, c] = log(prior_c) + (-0.5 * sum(log(2 pi var_c)) - 0.5 * sum((x - theta_c)**2 / var_c))``, in
  the dtype of the fitted arrays (``dtype``: float64, or float32 when the model was fitted on float32
  data), the float32 input widened exactly; the sum over features is numpy's (pairwise) sum.
* ``predict``: the first index of the largest ``jll``; ``predict_log_proba``: ``jll - logsumexp(jll)``
  (scikit-learn's own logsumexp); ``predict_proba``: its ``exp``.

The row-independent parts, ``log_prior`` and ``norm`` (``-0.5 * sum(log(2 pi var_c))``), are computed
here exactly as scikit-learn computes them and stored in the model: the devices never take a logarithm.

Exactness (docs/naive_bayes.md): every computed ``jll`` differs from the exact value of the same formula
(``log_prior`` and ``norm`` taken as exact) by at most :meth:`GaussianNB.jll_error`, whatever the order
of the sum (its terms are all non-negative). A row is ``ambiguous`` when scikit-learn's own margin
between its top class and another class is within the bound of scikit-learn's arithmetic plus that of
a float64 replay; on every other row the exact winner, scikit-learn's and any float64 replay's agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines
from microlearn.ir.linear import TINY32, TINY64, U32, U64, gamma

Dtype = Literal["float32", "float64"]
F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class GaussianNB:
    """A fitted Gaussian naive Bayes classifier. ``theta`` and ``var`` are (K, n_features), ``prior``
    (K,): scikit-learn's ``theta_``, ``var_`` and ``class_prior_`` widened exactly to float64."""

    theta: npt.NDArray[np.float64]
    var: npt.NDArray[np.float64]
    prior: npt.NDArray[np.float64]
    dtype: Dtype = "float64"
    classes: npt.NDArray[np.generic] | None = None
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def task(self) -> Task:
        return Task.CLASSIFY

    def validate(self) -> None:
        t, v, p = self.theta, self.var, self.prior
        if t.dtype != np.float64 or v.dtype != np.float64 or p.dtype != np.float64:
            raise ValueError("GaussianNB arrays are float64")
        if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 1:
            raise ValueError("GaussianNB.theta must have shape (K >= 2, n_features >= 1)")
        if v.shape != t.shape or p.shape != (t.shape[0],):
            raise ValueError("GaussianNB.var must match theta, prior must have one value per class")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v)) and np.all(np.isfinite(p))):
            raise ValueError("means, variances and priors must be finite")
        if np.any(v <= 0):
            raise ValueError("every variance must be > 0")
        if np.any(p < 0) or not np.any(p > 0):
            raise ValueError("priors must be >= 0 and not all 0")
        if np.any(np.abs(t) > F32_MAX) or np.any(v > F32_MAX):
            raise ValueError("means and variances must lie within the float32 range")
        if self.dtype not in ("float32", "float64"):
            raise ValueError("unknown dtype")
        if self.dtype == "float32":
            for a in (t, v, p):
                if np.any(a.astype(np.float32).astype(np.float64) != a):
                    raise ValueError("a float32 model holds float32 values")
        if self.classes is not None and len(self.classes) != t.shape[0]:
            raise ValueError("classes must have one label per class")
        if not np.all(np.isfinite(self.norm)):
            raise ValueError("a variance is too small or too large for its logarithm's sum")

    # ------------------------------------------------------------------ shape
    @property
    def k(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.theta.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.k

    @property
    def has_proba(self) -> bool:
        return True

    def _np_dtype(self) -> Any:
        return np.float32 if self.dtype == "float32" else np.float64

    def summary(self) -> list[str]:
        labels = [str(c) for c in (self.classes if self.classes is not None else range(self.k))]
        shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
        more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
        pri = ", ".join(f"{float(v):.4g}" for v in self.prior[:8]) + (" ..." if self.k > 8 else "")
        lines = [
            f"GaussianNB: {self.n_features} features",
            f"classes: {self.k} ({shown}{more})",
            f"priors: {pri}; arithmetic of scikit-learn in {self.dtype}",
        ]
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ scikit-learn's arithmetic
    @property
    def log_prior(self) -> npt.NDArray[np.float64]:
        """log(prior_c) as scikit-learn computes it (-inf for a zero prior)."""
        dt = self._np_dtype()
        p = self.prior.astype(dt)
        with np.errstate(divide="ignore"):
            return np.array([np.log(p[i]) for i in range(self.k)], dtype=np.float64)

    @property
    def norm(self) -> npt.NDArray[np.float64]:
        """-0.5 * sum(log(2 pi var_c)) as scikit-learn computes it."""
        dt = self._np_dtype()
        v = self.var.astype(dt)
        with np.errstate(divide="ignore", over="ignore"):
            return np.array([-0.5 * np.sum(np.log(2.0 * np.pi * v[i, :])) for i in range(self.k)], np.float64)

    def joint_log_likelihood(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.floating[Any]]:
        """scikit-learn's ``_joint_log_likelihood`` (n, K), same operations, same bits."""
        X = np.asarray(X)
        if X.dtype != np.float32:
            raise TypeError("GaussianNB.joint_log_likelihood takes float32 rows")
        dt = self._np_dtype()
        t, v = self.theta.astype(dt), self.var.astype(dt)
        p = self.prior.astype(dt)
        cols = []
        with np.errstate(divide="ignore", over="ignore"):
            for i in range(self.k):
                jointi = np.log(p[i])
                n_ij = -0.5 * np.sum(np.log(2.0 * np.pi * v[i, :]))
                n_ij = n_ij - 0.5 * np.sum(((X - t[i, :]) ** 2) / (v[i, :]), axis=1)
                cols.append(jointi + n_ij)
        return np.asarray(np.stack(cols).T)

    @staticmethod
    def log_proba(jll: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
        """``jll - logsumexp(jll)`` with scikit-learn's logsumexp (same operations)."""
        a = np.asarray(jll)
        amax = np.max(a, axis=1, keepdims=True)
        at_max = a == amax
        rest = a.copy()
        rest[at_max] = -np.inf
        m = np.sum(at_max.astype(a.dtype), axis=1, keepdims=True, dtype=a.dtype)
        shift = np.where(np.isfinite(amax), amax, 0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            e = np.exp(rest - shift)
            s = np.sum(e, axis=1, keepdims=True, dtype=e.dtype)
            s = np.where(s == 0, s, s / m)
            out = np.log1p(s) + np.log(m) + amax
        return np.asarray(a - np.squeeze(out, axis=1)[:, None])

    # ------------------------------------------------------------------ bounds
    def quad(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """0.5 * sum((x - theta_c)^2 / var_c) per row and class, in float64 (the scale of the rounding)."""
        X64 = np.asarray(X, dtype=np.float64)
        out = np.stack(
            [0.5 * np.sum((X64 - self.theta[c]) ** 2 / self.var[c], axis=1) for c in range(self.k)]
        )
        return np.asarray(out.T)

    def jll_error(self, Q: npt.NDArray[np.float64], u: float, tiny: float) -> npt.NDArray[np.float64]:
        """Bound of |computed jll - exact jll| for an arithmetic of unit roundoff ``u`` given ``Q`` (a
        computed 0.5 * sum(...), any order, each term in 3 roundings), docs/naive_bayes.md:
        gamma(n + 3) * Q' + u * (|norm| + Q') + u * (|log prior| + |norm| + Q'), Q' = Q * (1 + gamma(n + 3)),
        plus the underflow of n terms; every factor rounded up."""
        n = self.n_features
        g = gamma(n + 4, u)
        lp = np.where(np.isfinite(self.log_prior), np.abs(self.log_prior), 0.0)
        nm = np.abs(self.norm)
        Qp = Q * (1.0 + 2 * g)
        e = g * Qp + gamma(2, u) * (lp + 2 * nm + 2 * Qp) + (n + 2) * tiny
        return np.asarray(e * (1.0 + 2.0**-40), dtype=np.float64)

    def sklearn_error(self, Q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.dtype == "float32":
            return self.jll_error(Q, U32, TINY32)
        return self.jll_error(Q, U64, TINY64)

    def replay_error(self, Q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.jll_error(Q, U64, TINY64)

    def ambiguous(
        self, X: npt.NDArray[np.float32], jll: npt.NDArray[Any] | None = None
    ) -> npt.NDArray[np.bool_]:
        """Rows whose top class beats another by no more than scikit-learn's bound plus the replay's
        (both sides). Classes of zero prior (-inf) never tie a finite score."""
        X32 = np.asarray(X, dtype=np.float32)
        if jll is None:
            jll = self.joint_log_likelihood(X32)
        s = np.asarray(jll, dtype=np.float64)
        Q = self.quad(X32)
        E = self.sklearn_error(Q) + self.replay_error(Q)
        n = s.shape[0]
        r = np.arange(n)
        top = np.argmax(s, axis=1)
        st = s[r, top][:, None]
        with np.errstate(invalid="ignore"):
            close = (st - s) <= (E[r, top][:, None] + E)
        close[r, top] = False
        bad = ~np.isfinite(st[:, 0])
        out: npt.NDArray[np.bool_] = close.any(axis=1) | bad
        return out

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        jll = self.joint_log_likelihood(X32)
        idx = np.argmax(jll, axis=1).astype(np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            proba = np.exp(self.log_proba(jll))
        return Reference(
            outputs=idx,
            proba=np.asarray(proba, dtype=np.float64),
            scores=np.asarray(jll, dtype=np.float64),
            ambiguous=self.ambiguous(X32, jll),
        )
