"""Boosted and isolation tree ensembles: :class:`BoostedTrees`, the tree IR with what boosting needs.

``BoostedTrees`` is a :class:`~microlearn.ir.trees.TreeEnsemble` (same flat preorder node arrays, same
float32 ``threshold`` / ``missing_left`` rules) with these companion fields. It is a type of its own so
that the C methods registered for forests (which average votes) are never offered for it; the C methods
for it live in ``backends/c/boosting.py``; the model file is tree family 1 with the optional boosting
sections (``backends/modelfile/trees.py``).

The contract (every frontend fills these; every backend reproduces them):

Raw scores
    ``n_raw`` raw values per row (1 for regression, binary classification and isolation forests; one per
    class for multi-class boosting). ``raw[k]`` starts at ``base_score[k]`` (float64; an isolation forest
    has 0) and every tree ``t`` adds its leaf value, **in tree order**:

    * ``tree_output`` given (shape ``(n_trees,)``): tree ``t`` adds the single value ``leaf_value[row, 0]``
      to ``raw[tree_output[t]]`` (``leaf_value`` has one column). scikit-learn's multi-class
      GradientBoosting stores stage ``i``, class ``k`` as tree ``i * K + k`` with ``tree_output = k``;
      HistGradientBoosting the same; XGBoost's ``tree_info`` and LightGBM's class-major trees map the same
      way.
    * ``tree_output`` None: tree ``t`` adds the whole row ``leaf_value[row, :]`` (``n_raw`` columns;
      XGBoost's vector leaves). Each raw score is a sum of its own, so this is the same arithmetic as
      ``n_raw`` copies of each tree with one column each (how the model file stores it).

    ``accumulate`` is the arithmetic of the library: ``"float64"`` (scikit-learn: ``raw = base`` in
    float64, then ``raw += v`` per tree) or ``"float32"`` (XGBoost: the base and every leaf value rounded
    to float32, every addition in float32). ``aggregation`` is ``"sum"`` (boosting) or ``"mean"`` (e.g.
    LightGBM ``average_output``: ``raw[k] = base[k] + (sum of the trees of k, from 0) / (number of trees
    of k)``, the sum and the division in ``accumulate`` arithmetic).

    Learning rates are folded into the leaf values by the frontend, with the library's own product:
    scikit-learn's GradientBoosting adds ``learning_rate * value`` (a float64 product) to ``raw`` per
    stage, so the leaf value stored is that product and ``raw += leaf`` is the same arithmetic, bit for
    bit. HistGradientBoosting already stores shrunk leaf values.

Post-transform (``post``, parameters in ``post_params``)
    * ``"none"``: values are the raw scores (regression; a classifier without probabilities).
    * ``"sigmoid"``, ``post_params`` ``()`` or ``(scale,)`` (``s``, default 1, finite and > 0): binary,
      ``p1 = expit(s * raw[0])``, ``proba = [1 - p1, p1]``; multi-class (one-vs-all, LightGBM's
      ``multiclassova``), ``proba[k] = expit(s * raw[k])``, not normalised; regression, ``value =
      expit(s * raw[0])`` (XGBoost ``reg:logistic``, LightGBM ``cross_entropy``).
    * ``"exponential"``: binary (scikit-learn's exponential loss), ``p1 = expit(2 * raw[0])``.
    * ``"softmax"``: multi-class, ``proba = softmax(raw)``.
    * ``"exp"``: regression, ``value = exp(raw[0])`` (Poisson / Gamma / Tweedie log link).
    * ``"softplus"``: regression, ``value = log1p(exp(raw[0]))`` (LightGBM ``cross_entropy_lambda``).
    * ``"isolation"``: ``post_params = (denominator, offset)``; ``score_samples = -2 ** -(raw[0] /
      denominator)`` (1 when the denominator is 0), ``decision_function = score_samples - offset``,
      ``predict = -1`` where ``decision_function < 0`` else 1 (scikit-learn's IsolationForest).

Decisions (classifier)
    ``decide = "raw"``: binary class 1 iff ``raw[0] >= 0`` (GradientBoosting), multi-class the first
    argmax of ``raw``; ``"raw_strict"``: binary class 1 iff ``raw[0] > 0`` (HistGradientBoosting), else
    the same. ``decide = "proba"``: the first argmax of ``proba`` (HistGradientBoosting,
    XGBoost's sklearn wrapper), i.e. binary class 1 iff ``p1 > 1 - p1``. The two differ only where the
    raw margin is within float64 rounding of 0 (such rows are ``Reference.ambiguous``); one-vs-all
    sigmoids also where two classes' float64 probabilities are within a few ulp (both saturate at 1.0
    beyond a raw score of about 37). ``"margin_half"``: binary class 1 iff ``raw[0] > 0.5`` (XGBoost's
    scikit-learn wrapper on ``binary:logitraw``; float32 models only, no probabilities).
    ``tie_band``: rows whose decision margin (|raw| for binary, the lead of the largest raw score
    otherwise) is within this band are ambiguous too: there the library's own float32 link rounds the
    probabilities of two classes to the same value and its argmax takes the first (XGBoost's float32
    sigmoid is exactly 0.5 for margins up to about 2**-24, its float32 softmax ties classes whose margins
    differ by less than about 2**-22).

Categorical splits
    ``cat_set[i] >= 0`` makes node ``i`` categorical on feature ``feature[i]`` (``threshold`` unused):
    NaN goes left iff ``missing_left[i]``; otherwise the value is a *member* of set ``s = cat_set[i]`` when
    it names a category ``c`` in ``[0, 32 * n_words)`` whose bit ``cat_bits[s, c // 32] >> (c % 32) & 1``
    is set; members go left iff ``cat_left[i]``, every other value (not a member, negative, too large,
    not a category) goes the other way. ``cat_cast`` says which float names category ``c``:
    ``"exact"`` only ``c`` itself (scikit-learn: any other value is an unknown category), ``"trunc"``
    every value truncating to ``c`` (C's ``(int)x``; LightGBM, XGBoost). scikit-learn's HistGB, whose
    unknown categories follow the missing direction, is ``cat_left[i] = not missing_left[i]`` with the set
    of known categories on the non-missing side; LightGBM (members left, NaN as its missing type says) is
    ``cat_left[i] = True``.

``reference(X32)`` computes all this in numpy in the library's order (float64 or float32); see
:meth:`BoostedTrees.reference` for the bounds it states for the C fast paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task
from microlearn.ir.trees import EPS32, LEAF, TreeEnsemble

Aggregation = Literal["sum", "mean"]
Accumulate = Literal["float64", "float32"]
Post = Literal["none", "sigmoid", "exponential", "softmax", "exp", "isolation", "softplus"]
Decide = Literal["raw", "raw_strict", "proba", "margin_half"]
DECIDES: tuple[str, ...] = ("raw", "raw_strict", "proba", "margin_half")
CatCast = Literal["exact", "trunc"]

POSTS: tuple[str, ...] = ("none", "sigmoid", "exponential", "softmax", "exp", "isolation", "softplus")
EPS64 = float(np.finfo(np.float64).eps) / 2  # 2**-53
MAX_TREES_PER_OUTPUT = 1 << 20  # keeps the first-order rounding bounds below rigorous (n * u << 1)
MAX_CAT_WORDS = 256  # categories 0 .. 8191


def _i32(a: npt.ArrayLike) -> npt.NDArray[np.int32]:
    return np.asarray(a, dtype=np.int32)


@dataclass(frozen=True)
class BoostedTrees(TreeEnsemble):
    """A TreeEnsemble whose trees add raw scores (see the module docstring for the full contract)."""

    n_raw: int = 1
    base_score: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(1))
    tree_output: npt.NDArray[np.int32] | None = None
    aggregation: Aggregation = "sum"
    accumulate: Accumulate = "float64"
    post: Post = "none"
    post_params: tuple[float, ...] = ()
    decide: Decide = "raw"
    tie_band: float = 0.0
    cat_set: npt.NDArray[np.int32] | None = None  # (n_nodes,) set index, -1 at numerical nodes and leaves
    cat_left: npt.NDArray[np.bool_] | None = None  # (n_nodes,) members of the set go left
    cat_bits: npt.NDArray[np.uint32] | None = None  # (n_sets, n_words) category bitsets
    cat_cast: CatCast = "exact"

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        if self.kind not in ("classifier", "regressor", "anomaly"):
            raise ValueError(f"unknown kind {self.kind!r}")
        self.validate_nodes()
        if self.post not in POSTS:
            raise ValueError(f"unknown post-transform {self.post!r}")
        if self.aggregation not in ("sum", "mean") or self.accumulate not in ("float64", "float32"):
            raise ValueError("aggregation is 'sum' or 'mean'; accumulate 'float64' or 'float32'")
        if self.decide not in DECIDES or self.cat_cast not in ("exact", "trunc"):
            raise ValueError(f"decide is one of {DECIDES}; cat_cast 'exact' or 'trunc'")
        if self.decide == "margin_half" and self.kind != "classifier":
            raise ValueError("decide='margin_half' is a classifier's decision")
        if self.base_score.shape != (self.n_raw,) or not np.all(np.isfinite(self.base_score)):
            raise ValueError(f"base_score must be {self.n_raw} finite values")
        width = 1 if self.tree_output is not None else self.n_raw
        if self.leaf_value.shape[1] != width:
            raise ValueError(f"leaf_value must have {width} column(s)")
        if self.tree_output is not None:
            if self.tree_output.shape != (self.n_trees,):
                raise ValueError("tree_output must have one entry per tree")
            if np.any(self.tree_output < 0) or np.any(self.tree_output >= self.n_raw):
                raise ValueError("tree_output out of range")
        if np.any(self.trees_per_output() == 0) and self.aggregation == "mean":
            raise ValueError("a mean over no trees: every output needs a tree")
        if np.max(self.trees_per_output()) > MAX_TREES_PER_OUTPUT:
            raise ValueError(f"at most {MAX_TREES_PER_OUTPUT} trees per output")
        if self.kind == "classifier":
            if self.n_outputs < 2:
                raise ValueError("a classifier needs at least two classes")
            want = 1 if self.n_outputs == 2 else self.n_outputs
            if self.n_raw != want:
                raise ValueError(f"a classifier of {self.n_outputs} classes has {want} raw score(s)")
            if self.post not in (
                ("none", "sigmoid", "exponential") if want == 1 else ("none", "softmax", "sigmoid")
            ):
                raise ValueError(f"post-transform {self.post!r} does not fit {self.n_outputs} classes")
            if self.decide == "proba" and self.post == "none":
                raise ValueError("decide='proba' needs a post-transform that gives probabilities")
            if self.decide == "margin_half" and (
                want != 1 or self.post != "none" or self.accumulate != "float32"
            ):
                raise ValueError("decide='margin_half' is for binary float32 models without a post-transform")
            if self.classes is not None and len(self.classes) != self.n_outputs:
                raise ValueError("classes must have one label per output")
        else:
            if self.n_outputs != 1 or self.n_raw != 1:
                raise ValueError(f"a {self.kind} has exactly one output")
            allowed = ("isolation",) if self.kind == "anomaly" else ("none", "exp", "sigmoid", "softplus")
            if self.post not in allowed:
                raise ValueError(f"post-transform {self.post!r} does not fit a {self.kind}")
        if not (np.isfinite(self.tie_band) and self.tie_band >= 0):
            raise ValueError("tie_band must be a finite value >= 0")
        if self.post == "isolation":
            if len(self.post_params) != 2 or not all(np.isfinite(self.post_params)):
                raise ValueError("the isolation post-transform takes (denominator, offset)")
            if self.post_params[0] < 0:
                raise ValueError("the isolation denominator must not be negative")
        elif self.post == "sigmoid" and self.post_params:
            if len(self.post_params) != 1 or not (
                np.isfinite(self.post_params[0]) and self.post_params[0] > 0
            ):
                raise ValueError("the sigmoid post-transform takes () or (scale,) with a finite scale > 0")
        elif self.post_params:
            raise ValueError(f"post-transform {self.post!r} takes no parameters")
        self._validate_categorical()

    def _validate_categorical(self) -> None:
        given = [a is not None for a in (self.cat_set, self.cat_left, self.cat_bits)]
        if any(given) and not all(given):
            raise ValueError("cat_set, cat_left and cat_bits come together")
        if self.cat_set is None or self.cat_left is None or self.cat_bits is None:
            return
        n = self.n_nodes
        if self.cat_set.shape != (n,) or self.cat_left.shape != (n,):
            raise ValueError(f"cat_set and cat_left must have shape ({n},)")
        if self.cat_bits.ndim != 2 or not 1 <= self.cat_bits.shape[1] <= MAX_CAT_WORDS:
            raise ValueError(f"cat_bits must have shape (n_sets, 1..{MAX_CAT_WORDS})")
        if np.any(self.cat_set < -1) or np.any(self.cat_set >= self.cat_bits.shape[0]):
            raise ValueError("cat_set out of range")
        if np.any((self.cat_set >= 0) & (self.feature == LEAF)):
            raise ValueError("a leaf cannot be a categorical split")

    # ------------------------------------------------------------------ the IR protocol
    @property
    def task(self) -> Task:
        return {"classifier": Task.CLASSIFY, "regressor": Task.REGRESS}.get(self.kind, Task.SCORE)

    @property
    def has_categorical(self) -> bool:
        return self.cat_set is not None and bool(np.any(self.cat_set >= 0))

    @property
    def cat_words(self) -> int:
        return 0 if self.cat_bits is None else int(self.cat_bits.shape[1])

    @property
    def sigmoid_scale(self) -> float:
        """The factor s of ``post = "sigmoid"`` (``expit(s * raw)``): 1 unless ``post_params`` gives it."""
        return float(self.post_params[0]) if self.post == "sigmoid" and self.post_params else 1.0

    def summary(self) -> list[str]:
        lines = super().summary()
        if self.kind == "anomaly":
            lines = [ln if not ln.startswith("output:") else "output: one anomaly score" for ln in lines]
        how = f"{self.aggregation} of leaf values in {self.accumulate}, then post-transform {self.post}"
        lines.append(f"raw scores: {self.n_raw} ({how})")
        if self.has_categorical:
            assert self.cat_set is not None
            lines.append(f"categorical splits: {int(np.sum(self.cat_set >= 0))}")
        return lines

    def trees_per_output(self) -> npt.NDArray[np.int64]:
        if self.tree_output is None:
            return np.full(self.n_raw, self.n_trees, dtype=np.int64)
        return np.bincount(self.tree_output, minlength=self.n_raw).astype(np.int64)

    # ------------------------------------------------------------------ evaluation
    def category_member(self, s: npt.NDArray[np.int64], x: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """Whether each value ``x`` is a member of set ``s`` (elementwise; NaN is never a member)."""
        assert self.cat_bits is not None
        top = 32 * self.cat_words
        with np.errstate(invalid="ignore"):
            if self.cat_cast == "exact":
                ok = (x >= 0) & (x < top) & (np.floor(x) == x)
            else:
                ok = (x > -1) & (x < top)
        c = np.where(ok, x, 0).astype(np.int64)
        word = self.cat_bits[np.maximum(s, 0), c >> 5]
        bit = (word >> (c & 31).astype(np.uint32)) & 1
        member: npt.NDArray[np.bool_] = ok & (bit == 1)
        return member

    def apply(self, X: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """Leaf node index reached in every tree: shape (n_rows, n_trees)."""
        if not self.has_categorical:
            return super().apply(X)
        assert self.cat_set is not None and self.cat_left is not None
        X32 = np.asarray(X, dtype=np.float32)
        n = X32.shape[0]
        out = np.empty((n, self.n_trees), dtype=np.int32)
        rows = np.arange(n)
        for t, root in enumerate(self.roots):
            node = np.full(n, root, dtype=np.int64)
            while True:
                f = self.feature[node]
                active = f != LEAF
                if not active.any():
                    break
                xv = X32[rows, np.where(active, f, 0)]
                thr = self.threshold[node]
                numeric = np.where(self.missing_left[node], ~(xv > thr), xv <= thr)
                s = self.cat_set[node].astype(np.int64)
                member = self.category_member(s, xv)
                categorical = np.where(np.isnan(xv), self.missing_left[node], member == self.cat_left[node])
                go_left = np.where(s >= 0, categorical, numeric)
                nxt = np.where(go_left, self.left[node], self.right[node])
                node = np.where(active, nxt, node)
            out[:, t] = node
        return out

    def _dtype(self) -> type[np.floating]:
        return np.float64 if self.accumulate == "float64" else np.float32

    def raw_scores(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The raw scores (n_rows, n_raw) exactly as the library computes them (its order, its dtype)."""
        rows = self.leaf[self.apply(X)]
        dt = self._dtype()
        n = rows.shape[0]
        vals = self.leaf_value.astype(dt)
        base = self.base_score.astype(dt)
        acc = np.zeros((n, self.n_raw), dtype=dt)
        if self.aggregation == "sum":
            acc += base
        for t in range(self.n_trees):
            if self.tree_output is None:
                acc += vals[rows[:, t]]
            else:
                k = int(self.tree_output[t])
                acc[:, k] += vals[rows[:, t], 0]
        if self.aggregation == "mean":
            acc /= self.trees_per_output().astype(dt)
            acc += base
        return acc.astype(np.float64)

    def abs_sums(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per row and raw output, |base| + the sum of |leaf value| over the trees (float64, rounded up
        by a relative 2**-40, far above its own rounding)."""
        rows = self.leaf[self.apply(X)]
        absv = np.abs(self.leaf_value)
        acc = np.tile(np.abs(self.base_score), (rows.shape[0], 1))
        for t in range(self.n_trees):
            if self.tree_output is None:
                acc += absv[rows[:, t]]
            else:
                acc[:, int(self.tree_output[t])] += absv[rows[:, t], 0]
        out: npt.NDArray[np.float64] = acc * (1 + 2.0**-40)
        return out

    def raw_bound(self, S: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Largest difference between a float32 device sum (base and every leaf rounded to float32,
        every addition in float32, in tree order) and the exact sum, given ``S`` = |base| + sum |leaf|
        per output: ``(2T + 4) * 2**-24 * S`` with T the trees of that output.

        Proof: T + 1 roundings of the terms and T additions each err by at most 2**-24 of a magnitude
        not above S (1 + (2T + 1) 2**-24), i.e. (2T + 1) 2**-24 S to first order; with T < 2**20 the
        higher-order terms and the float64 reference's own error (T 2**-53 S) stay below the extra
        3 * 2**-24 S. A "mean" divides once more: relative 2**-24 of a value at most S / T, covered too.
        For ``accumulate == "float32"`` the device does the library's arithmetic and the bound is 0."""
        if self.accumulate == "float32":
            return np.zeros_like(S)
        T = self.trees_per_output().astype(np.float64)
        b: npt.NDArray[np.float64] = (2 * T + 4) * EPS32 * S
        if self.aggregation == "mean":
            b = b / T
        return b

    def static_sums(self) -> npt.NDArray[np.float64]:
        """Per output, the largest S any input can reach: |base| + the sum of each tree's largest |leaf|
        (rounded up by a relative 2**-40)."""
        S = np.abs(self.base_score).copy()
        absv = np.abs(self.leaf_value)
        for t, (start, stop) in enumerate(self.tree_slices()):
            leaves = self.leaf[start:stop][self.feature[start:stop] == LEAF]
            m = absv[leaves].max(axis=0)
            if self.tree_output is None:
                S += m
            else:
                S[int(self.tree_output[t])] += m[0]
        out: npt.NDArray[np.float64] = S * (1 + 2.0**-40)
        return out

    def static_bound(self) -> npt.NDArray[np.float64]:
        """Per output, the :meth:`raw_bound` of :meth:`static_sums`: the constant the C fast path
        compares margins with."""
        out: npt.NDArray[np.float64] = self.raw_bound(self.static_sums()[None, :])[0]
        return out

    def proba_from_raw(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
        """Class probabilities from raw scores (the library's link inverse), or None without one."""
        from scipy.special import expit

        if self.post == "sigmoid" and self.n_raw > 1:  # one-vs-all: one sigmoid per class
            s = self.sigmoid_scale
            ova: npt.NDArray[np.float64] = expit(raw if s == 1.0 else s * raw)
            return ova
        if self.post in ("sigmoid", "exponential"):
            s = 2.0 if self.post == "exponential" else self.sigmoid_scale
            p1 = expit(raw[:, 0] if s == 1.0 else s * raw[:, 0])
            return np.stack([1.0 - p1, p1], axis=1)
        if self.post == "softmax":
            m = raw.max(axis=1, keepdims=True)
            e = np.exp(raw - m)
            out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
            return out
        return None

    def decision_margin(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per row, the distance of the raw scores to a change of class: |raw| (binary) or the lead of
        the largest raw score over the next (multi-class)."""
        if self.n_raw == 1:
            out: npt.NDArray[np.float64] = np.abs(raw[:, 0])
            return out
        top2 = np.sort(raw, axis=1)[:, -2:]
        lead: npt.NDArray[np.float64] = top2[:, 1] - top2[:, 0]
        return lead

    def isolation(self, raw: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
        """(score_samples, decision_function) of an isolation forest from its depth sums."""
        denom, offset = self.post_params
        x = np.divide(raw[:, 0], denom, out=np.ones_like(raw[:, 0]), where=denom != 0)
        score: npt.NDArray[np.float64] = -(2.0 ** (-x))
        return score, score - offset

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        """The library's result and the bounds the C methods and mlrt are held to.

        CLASSIFY: the class (by ``decide``), probabilities, ``scores`` = raw scores (``(n,)`` binary);
        ``ambiguous`` where the raw margin is within 4 (T + 2) 2**-53 S + 2**-50 (float64 rounding of
        the sum and of the link: there the library's own rule may go either way).
        REGRESS: the value; ``bound`` = :meth:`raw_bound` (``"exp"``: carried through exp, + 4 ulp).
        SCORE (isolation): ``outputs`` = score_samples, ``scores`` = decision_function, ``decision`` =
        predict (1 / -1); ``bound`` carries the raw bound through ``-2**-(raw / d)`` (and ``- offset``)
        plus 8 float32 ulp for exp2f and 2 for the subtraction; ``ambiguous``: |decision_function|
        within that bound."""
        X32 = np.asarray(X, dtype=np.float32)
        raw = self.raw_scores(X32)
        if self.kind == "classifier":
            proba = self.proba_from_raw(raw)
            if self.decide == "proba":
                assert proba is not None
                idx = np.argmax(proba, axis=1).astype(np.int64)
            elif self.decide == "margin_half":
                idx = (raw[:, 0] > 0.5).astype(np.int64)
            elif self.n_raw == 1:
                idx = (raw[:, 0] > 0 if self.decide == "raw_strict" else raw[:, 0] >= 0).astype(np.int64)
            else:
                idx = np.argmax(raw, axis=1).astype(np.int64)
            S = self.abs_sums(X32)
            T = self.trees_per_output().astype(np.float64)
            fuzz = 4 * (T + 2) * EPS64 * S
            amb_tol = fuzz[:, 0] if self.n_raw == 1 else 2 * fuzz.max(axis=1)
            if self.accumulate == "float32":  # the device repeats float32 arithmetic exactly
                amb_tol = np.zeros_like(amb_tol)
            if self.decide == "proba":
                scale = min(1.0, 2.0 if self.post == "exponential" else self.sigmoid_scale)
                amb_tol = amb_tol + 2.0**-50 * np.maximum(1.0, np.abs(raw).max(axis=1)) / scale
            margin = self.decision_margin(raw - 0.5 if self.decide == "margin_half" else raw)
            ambiguous = margin <= amb_tol + self.tie_band
            if self.decide == "proba" and self.post == "sigmoid" and self.n_raw > 1:
                # float64 sigmoids of two classes within a few ulp may tie (saturated at 1.0): argmax
                # of the library's probabilities then takes the first, the raw scores the larger
                assert proba is not None
                top2 = np.sort(proba, axis=1)[:, -2:]
                ambiguous |= top2[:, 1] - top2[:, 0] <= 2.0**-49
            scores = raw[:, 0] if self.n_raw == 1 else raw
            return Reference(outputs=idx, proba=proba, scores=scores, ambiguous=ambiguous)
        bound = self.raw_bound(self.abs_sums(X32))[:, 0]
        if self.kind == "regressor":
            if self.post == "exp":
                v = np.exp(raw[:, 0])
                b = v * (np.expm1(bound) * (1 + 2.0**-20)) + 8 * EPS32 * v
                return Reference(outputs=v, bound=b)
            if self.post == "sigmoid":
                # expit is 1/4-Lipschitz; the float32 link (s rounded, s * raw, expf within 8 ulp, one
                # addition, one division) adds at most 5 * 2**-24 to a value in [0, 1]
                from scipy.special import expit

                s = self.sigmoid_scale
                v = expit(raw[:, 0] if s == 1.0 else s * raw[:, 0])
                return Reference(outputs=v, bound=s * bound / 4 * (1 + 2.0**-20) + 8 * EPS32)
            if self.post == "softplus":
                # log1p(exp(r)) is 1-Lipschitz; the float32 link (expf within 8 ulp, log1pf within 4,
                # and for r > 0 the addition r + log1pf(expf(-r))) adds at most 17 * 2**-24 * value
                with np.errstate(over="ignore"):
                    v = np.log1p(np.exp(raw[:, 0]))
                return Reference(outputs=v, bound=bound * (1 + 2.0**-20) + 20 * EPS32 * v)
            return Reference(outputs=raw[:, 0], bound=bound)
        score, decision = self.isolation(raw)
        b = self.isolation_bound(raw[:, 0], bound, score)
        return Reference(
            outputs=score,
            scores=decision,
            bound=b,
            decision=np.where(decision < 0, -1, 1).astype(np.int64),
            ambiguous=np.abs(decision) <= b,
        )

    @property
    def library_disagreements(self) -> Any:
        """For an isolation forest, how verify checks the reference against the library (score_samples
        within the bound, predict on the rows outside it); None for the other kinds (verify's default)."""
        if self.kind != "anomaly":
            return None
        from microlearn.ir.base import score_disagreements

        return score_disagreements

    def isolation_bound(
        self, raw: npt.NDArray[np.float64], raw_b: npt.NDArray[np.float64], score: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Bound on a float32 device's decision_function: ``d = raw * (1/denominator)`` (both rounded:
        relative 3 * 2**-24) with the raw bound, through ``2**-d`` (slope ln 2 * 2**-d), exp2f within
        8 ulp, the offset rounded and the subtraction (2 ulp of the larger)."""
        denom, offset = self.post_params
        if denom == 0:
            return np.full(raw.shape, 4 * EPS32 * (1 + abs(offset)))
        d = raw / denom
        dd = raw_b / denom + 3 * EPS32 * np.abs(d)
        s = np.abs(score)
        b: npt.NDArray[np.float64] = (
            s * np.expm1(np.log(2.0) * dd) * (1 + 2.0**-20) + 16 * EPS32 * s + 4 * EPS32 * (s + abs(offset))
        )
        return b

    def predict_value(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities (classifier with a link), else the values / decision_function column."""
        ref = self.reference(np.asarray(X, dtype=np.float32))
        if ref.proba is not None:
            return ref.proba
        if self.kind == "classifier":
            assert ref.scores is not None
            return ref.scores.reshape(len(ref.scores), -1)
        out: npt.NDArray[np.float64] = np.asarray(ref.outputs, dtype=np.float64).reshape(-1, 1)
        return out

    def predict_index(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = np.asarray(
            self.reference(np.asarray(X, dtype=np.float32)).outputs, dtype=np.int64
        )
        return out

    def regression_bound(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        b = self.reference(np.asarray(X, dtype=np.float32)).bound
        return np.zeros(np.asarray(X).shape[0]) if b is None else b
