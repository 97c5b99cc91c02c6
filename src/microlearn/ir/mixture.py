"""The Gaussian mixture IR: scikit-learn's ``GaussianMixture`` and ``BayesianGaussianMixture``, every
covariance type.

Semantics: per component k a mean ``mu_k``, the Cholesky factor of its precision ``C_k`` (scikit-learn's
``precisions_cholesky_``: (K, n, n) full, (n, n) tied, (K, n) diag, (K,) spherical) and a row-independent
constant ``const_k``; the weighted log-probability is

    wlp_k(x) = const_k - 0.5 * Q_k(x),   Q_k(x) = |(x - mu_k) @ C_k|^2

(diag: ``C_k`` a diagonal, spherical: a multiple of the identity). ``const_k`` holds what scikit-learn adds
to ``-0.5 Q``: ``-0.5 n log(2 pi) + log det C_k + log weight_k`` (GaussianMixture) and, for the Bayesian
model, its digamma terms; the frontend computes it once as scikit-learn does, so devices take no
logarithm of a model value. ``predict`` is the first largest ``wlp``, ``predict_proba`` its softmax,
``score_samples`` its logsumexp.

scikit-learn evaluates ``Q`` with BLAS and, for float32 input, rounds parts of it to float32 (the
``log_prob`` array takes the input's dtype; diag and spherical expand the square), so the reference
cannot be bit-identical: :meth:`GaussianMixture.reference` computes ``Q`` in float64 and bounds, per
row and component, the distance of scikit-learn's, its own and any float64 replay's value from the exact
one (:meth:`GaussianMixture.wlp_error`, docs/anomaly.md). Rows whose top component leads another by no
more than the sum of the two bounds are ``ambiguous``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines
from microlearn.ir.linear import U32, U64, gamma

CovType = Literal["full", "tied", "diag", "spherical"]
COV_TYPES: tuple[CovType, ...] = ("full", "tied", "diag", "spherical")
LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class GaussianMixture:
    means: npt.NDArray[np.float64]  # (K, n)
    prec_chol: npt.NDArray[np.float64]  # by covariance type (module docs)
    const: npt.NDArray[np.float64]  # (K,)
    covariance_type: CovType = "full"
    bayesian: bool = False
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        m, c, k = self.means, self.prec_chol, self.const
        if m.dtype != np.float64 or c.dtype != np.float64 or k.dtype != np.float64:
            raise ValueError("GaussianMixture arrays are float64")
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
            raise ValueError("means must be (K >= 1, n >= 1)")
        K, n = m.shape
        if self.covariance_type not in COV_TYPES:
            raise ValueError(f"covariance_type must be one of {COV_TYPES}")
        want = {"full": (K, n, n), "tied": (n, n), "diag": (K, n), "spherical": (K,)}[self.covariance_type]
        if c.shape != want:
            raise ValueError(f"a {self.covariance_type} model's precision factors have shape {want}")
        if k.shape != (K,):
            raise ValueError("const must hold one value per component")
        for a in (m, c, k):
            if not np.all(np.isfinite(a)):
                raise ValueError("means, precision factors and constants must be finite")

    @property
    def task(self) -> Task:
        return Task.CLUSTER

    @property
    def k(self) -> int:
        return int(self.means.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.means.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.k

    @property
    def classes(self) -> None:
        return None

    def summary(self) -> list[str]:
        name = "BayesianGaussianMixture" if self.bayesian else "GaussianMixture"
        lines = [
            f"{name}: {self.k} components, {self.n_features} features, covariance '{self.covariance_type}'",
            "wlp[k] = const[k] - 0.5 |(x - mean[k]) C[k]|^2; predict = argmax, score = logsumexp",
        ]
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ arithmetic
    def chol(self, k: int) -> npt.NDArray[np.float64]:
        """Component k's factor as an (n, n) matrix."""
        c, n = self.prec_chol, self.n_features
        t = self.covariance_type
        if t == "full":
            return np.asarray(c[k])
        if t == "tied":
            return np.asarray(c)
        if t == "diag":
            return np.asarray(np.diag(c[k]), dtype=np.float64)
        return np.asarray(np.eye(n) * c[k], dtype=np.float64)

    def quad(self, X: npt.NDArray[np.float32], absolute: bool = False) -> npt.NDArray[np.float64]:
        """Q (n_rows, K) in float64; ``absolute``: W = |(|x| + |mu|) @ |C||^2, the scale of the rounding."""
        X64 = np.asarray(X, dtype=np.float64)
        cols = []
        for k in range(self.k):
            C = self.chol(k)
            y = (np.abs(X64) + np.abs(self.means[k])) @ np.abs(C) if absolute else (X64 - self.means[k]) @ C
            cols.append(np.sum(y * y, axis=1))
        return np.asarray(np.stack(cols, axis=1), dtype=np.float64)

    def weighted_log_prob(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self.const - 0.5 * self.quad(X)
        return out

    def wlp_error(self, X: npt.NDArray[np.float32], Q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Bound of |scikit-learn's wlp - the exact wlp| per row and component, which also bounds the
        reference's and a float64 replay's (docs/anomaly.md): float64 products and sums of any order,
        scikit-learn's float32 roundings of the quadratic part for float32 input, the constants' own
        rounding."""
        n = self.n_features
        W = self.quad(X, absolute=True) * (1.0 + gamma(2 * n + 4, U64))
        e = 3.1 * gamma(2 * n + 4, U64) * W + gamma(n + 3, U32) * W
        e += 2.1 * U32 * (1.84 * n + np.abs(Q)) + 8 * U64 * (np.abs(self.const) + np.abs(Q) + 1.84 * n)
        out: npt.NDArray[np.float64] = e * (1.0 + 2.0**-20) + 2.0**-1000
        return out

    @staticmethod
    def logsumexp(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        m = np.max(a, axis=1)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out: npt.NDArray[np.float64] = m + np.log(np.sum(np.exp(a - m[:, None]), axis=1))
        return out

    def library_disagreements(self, estimator: Any, X: npt.NDArray[np.float32], ref: Reference) -> int:
        """verify's cross-check: firm rows (not ambiguous) where scikit-learn's component differs, plus
        rows where its score_samples is outside the bound."""
        got = np.asarray(estimator.predict(X)).astype(np.int64)
        firm = np.ones(len(got), bool) if ref.ambiguous is None else ~np.asarray(ref.ambiguous, bool)
        bad = int(np.sum((got != np.asarray(ref.outputs, np.int64)) & firm))
        if ref.scores is not None and ref.bound is not None:
            sk = np.asarray(estimator.score_samples(X), dtype=np.float64)
            bad += int(np.sum(~(np.abs(sk - ref.scores) <= ref.bound)))
        return bad

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        Q = self.quad(X32)
        wlp = self.const - 0.5 * Q
        E = self.wlp_error(X32, Q)
        idx = np.argmax(wlp, axis=1).astype(np.int64)
        r = np.arange(len(wlp))
        top = wlp[r, idx][:, None]
        close = (top - wlp) <= (2 * E[r, idx][:, None] + 2 * E)
        close[r, idx] = False
        amb = close.any(axis=1) | ~np.isfinite(top[:, 0])
        lse = self.logsumexp(wlp)
        with np.errstate(over="ignore", invalid="ignore"):
            proba = np.exp(wlp - lse[:, None])
        # score bound: logsumexp is 1-Lipschitz in the max norm; exp/log roundings; float32 output
        bound = 2 * np.max(E, axis=1) + 4 * U32 * np.abs(lse) + 64 * U64 * (np.abs(lse) + self.k)
        return Reference(
            outputs=idx,
            proba=np.asarray(proba, dtype=np.float64),
            scores=np.asarray(lse, dtype=np.float64),
            bound=np.asarray(bound, dtype=np.float64),
            ambiguous=np.asarray(amb, dtype=np.bool_),
        )
