"""Neural networks: a ``Network`` IR (a chain of layers with explicit tensor shapes) and the layer contract.

The layer contract (docs/networks.md, "Layers"), which every layer kind follows, wherever it is defined:

* A layer is a frozen dataclass with a class attribute ``kind`` (a short name, e.g. ``"dense"``) and
  ``code`` (its record code in the model file, 1..255, unique), registered once with
  :func:`register_layer` (``@register_layer`` on the class). Dense and Activation live here; other kinds
  (convolution, pooling, reshaping, normalisation) live in modules of their own that register the same way.
* Tensors are per sample (no batch axis) and row-major; images are **NHWC**: a layer's input shape is
  ``(C,)`` for a vector, ``(L, C)`` for a sequence, ``(H, W, C)`` for an image, channels last. The flat
  order of a tensor in C, in the model file and in mlrt is numpy's C order of that shape.
* ``out_shape(in_shape)`` gives the output shape or raises ``ValueError`` saying why the layer cannot take
  that input. ``Network`` calls it once per layer at construction: ``Network.shapes`` holds every tensor's
  shape, input first.
* ``forward(x, dtype)`` computes the layer on a batch ``x`` of shape ``(n, *in_shape)`` exactly as the
  library the network came from computes it: ``dtype`` is the network's arithmetic ("float64" for
  scikit-learn models fitted on float64 data, "float32" for Keras): numpy operations in that dtype, in the
  library's order where the library's result depends on it (scikit-learn: ``x @ W`` then ``+= b`` with
  numpy's BLAS; a float32 input with float64 weights gives float64, as in scikit-learn).
* ``n_params`` (parameters stored), ``describe()`` (one line for the header comment) and
  ``lipschitz``/``own_error`` (for the error bounds: how far the layer may move a bounded input error, and
  how much rounding it adds itself) complete it; see :class:`Layer`.

A ``Network`` classifies (``decision``: "argmax" over the last layer's outputs, or "threshold": one output,
class 1 when it exceeds 0.5, scikit-learn's binary rule) or regresses (its outputs are the values). The
last layer's activation is the output transform (softmax, logistic or identity); decisions are taken on
the values *before* it (``logits``), which orders the classes the same way outside rounding, and
``Reference.ambiguous`` marks the rows where rounding could reorder them.

The C methods (backends/c/network.py), the model-file codec (family 6) and mlrt look layers up by type
(C emitter, codec) or by ``code`` (mlrt) in registries of their own, so a new layer kind is new files plus
one registration each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines
from microlearn.ir.linear import U32, U64, gamma

Shape = tuple[int, ...]
Dtype = Literal["float32", "float64"]
Decision = Literal["argmax", "threshold", "none"]

ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "softmax")
# Largest absolute error assumed of the math library's tanh / exp-based logistic, in units of the
# arithmetic's unit roundoff, on outputs in [-1, 1] (glibc, newlib, picolibc, numpy, scipy are within
# 2-4 ulp; docs/networks.md states this assumption)
FN_ULPS = 8.0
# An absolute margin below which a decision is always called ambiguous: above it, probabilities computed
# by the output transform order the classes as the logits do (docs/networks.md, "Decisions"); by the
# library's arithmetic
MARGIN_FLOOR = {"float64": 2.0**-40, "float32": 2.0**-18}
F32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------- protocol
@runtime_checkable
class Layer(Protocol):
    """What every layer kind provides (see the module docstring for the contract)."""

    kind: ClassVar[str]
    code: ClassVar[int]

    def out_shape(self, in_shape: Shape) -> Shape: ...

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        """The library's arithmetic on a batch (n, *in_shape) -> (n, *out_shape)."""
        ...

    @property
    def n_params(self) -> int: ...

    def describe(self) -> str: ...

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        """Given every input value within ``m_in`` in magnitude and each within ``e_in`` of its exact
        value, return ``(m_out, e_out)``: a bound on the magnitude of the exact outputs plus ``e_out``,
        and on each output's distance from its exact value, when the layer is evaluated in an arithmetic of
        unit roundoff ``u`` with every operation rounded (any order, FMA or not) and the functions within
        ``FN_ULPS`` units. A layer that cannot bound its error returns ``e_out = inf``."""
        ...


_LAYERS: dict[str, type] = {}
_CODES: dict[int, type] = {}


def register_layer(cls: type) -> type:
    """Class decorator: make a layer kind known (by its ``kind`` and model-file ``code``)."""
    kind, code = getattr(cls, "kind", None), getattr(cls, "code", None)
    if not isinstance(kind, str) or not isinstance(code, int) or not 1 <= code <= 255:
        raise ValueError(f"{cls.__name__} needs class attributes kind (str) and code (1..255)")
    for old, key in ((_LAYERS.get(kind), kind), (_CODES.get(code), code)):
        if old is not None and old is not cls:
            raise ValueError(f"layer {key!r} is already {old.__name__}")
    _LAYERS[kind] = cls
    _CODES[code] = cls
    return cls


def layer_kinds() -> dict[str, type]:
    """Every registered layer kind by name."""
    return dict(_LAYERS)


def layer_by_code(code: int) -> type | None:
    return _CODES.get(code)


# ---------------------------------------------------------------------------------------------- activations
def apply_activation(name: str, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """scikit-learn's in-place activations (sklearn.neural_network._base.ACTIVATIONS) on a copy, over the
    last axis for softmax; Keras applies the same functions in float32."""
    from scipy.special import expit

    y = np.array(x, copy=True)
    if name == "identity":
        return y
    if name == "logistic":
        expit(y, out=y)
    elif name == "tanh":
        np.tanh(y, out=y)
    elif name == "relu":
        np.maximum(y, 0, out=y)
    elif name == "softmax":
        flat = y.reshape(-1, y.shape[-1])
        tmp = flat - flat.max(axis=1)[:, np.newaxis]
        np.exp(tmp, out=flat)
        flat /= flat.sum(axis=1)[:, np.newaxis]
        y = flat.reshape(y.shape)
    else:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return y


def activation_bound(name: str, m_in: float, e_in: float, u: float) -> tuple[float, float]:
    """(m_out, e_out) of an element-wise activation (softmax: of its logits, see ``Network``)."""
    if name in ("identity", "relu"):
        return m_in, e_in  # exact operations
    if name == "softmax":  # inside a network (a last softmax is applied after the decision, see Network)
        return 1.0, float("inf")
    if name == "tanh":
        return min(m_in, 1.0) + e_in + FN_ULPS * u, e_in + FN_ULPS * u
    if name == "logistic":
        return 1.0, e_in / 4 + FN_ULPS * u
    raise ValueError(f"unknown activation {name!r}")


# ---------------------------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class BatchNormFold:
    """What a linear layer (Dense, Conv, DepthwiseConv) keeps of a batch normalization folded into its
    parameters (``passes.fold_network``): the library still computes the two apart, so the error bound needs
    ``bias``, the largest ``|scale * b|`` of the layer's own biases ``b``, and ``spread``, the largest
    ``|mean * scale| + |beta|`` the normalization adds in its own order (``ChannelAffine.spread``)."""

    bias: float
    spread: float

    def __post_init__(self) -> None:
        for v in (self.bias, self.spread):
            if not (np.isfinite(v) and 0 <= v <= F32_MAX):
                raise ValueError("BatchNormFold.bias and .spread are finite non-negative numbers")


def tiny_of(u: float) -> float:
    """The smallest subnormal of the arithmetic of unit roundoff ``u`` (float32 or float64)."""
    return 2.0**-149 if u == U32 else 2.0**-1074


def linear_layer_bound(
    c: float, bmax: float, k: int, fold: BatchNormFold | None, m_in: float, e_in: float, u: float
) -> tuple[float, float]:
    """(m, e) of a sum of ``k`` products plus a bias (``c``: the largest sum of one output's absolute
    weights, ``bmax`` the largest |bias|), see ``Layer.error_bound``:
    ``e' = c e + gamma(k + 3) (c (m + e) + bmax)`` (the ``+ 3``: the bias, the weights' rounding to the
    arithmetic, one spare).

    With a batch normalization folded in (``fold``; ``c`` and ``bmax`` then of the folded parameters
    ``W a``, ``b a + t``), two evaluations are bounded and the larger bound is taken (docs/keras.md):

    * the folded one (the device): as above with ``gamma(k + 8)`` (five more roundings: the float64
      computation of ``a`` and of ``W a`` the reference uses) plus ``gamma(3) (fold.bias + fold.spread)``
      (the float64 sum ``b a + t``, which may cancel);
    * the library's, unfolded: its layer ``e1 = c e + gamma(k + 3) (c (m + e) + fold.bias)`` scaled by
      ``a`` (``a`` times the unfolded weights' column sums is ``c``), then the per-channel scale and
      shift as ``ChannelAffine``: ``e1 + (gamma(6) + 8u) (c m + fold.bias + e1 + fold.spread)``."""
    c = c * (1 + 4 * U64)
    tiny = (k + 2) * tiny_of(u)
    if fold is None:
        e = c * e_in + gamma(k + 3, u) * (c * (m_in + e_in) + bmax) + tiny
        return c * m_in + bmax + e, e
    e_dev = c * e_in + gamma(k + 8, u) * (c * (m_in + e_in) + bmax) + gamma(3, u) * (fold.bias + fold.spread)
    e1 = c * e_in + gamma(k + 3, u) * (c * (m_in + e_in) + fold.bias) + tiny
    e_lib = e1 + (gamma(6, u) + FN_ULPS * u) * (c * m_in + fold.bias + e1 + fold.spread) + 4 * tiny_of(u)
    e = max(e_dev + tiny, e_lib)
    return c * m_in + bmax + e, e


def fold_text(fold: BatchNormFold | None) -> str:
    """The header-comment words of a folded batch normalization."""
    return "" if fold is None else ", batch normalization folded in"


def _shape_check(name: str, in_shape: Shape, n: int) -> None:
    if len(in_shape) != 1 or in_shape[0] != n:
        raise ValueError(f"{name} takes a vector of {n} values, not shape {in_shape} (add a Flatten first)")


@register_layer
@dataclass(frozen=True, eq=False)
class Dense:
    """``y = act(x @ weight + bias)``: ``weight`` (n_in, n_out) and ``bias`` (n_out,), float64 arrays
    holding the library's values exactly (float32 values widened for a float32 network); ``activation``
    fused (one of ``ACTIVATIONS``)."""

    kind: ClassVar[str] = "dense"
    code: ClassVar[int] = 1

    weight: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    activation: str = "identity"
    fold: BatchNormFold | None = None  # a batch normalization folded into weight and bias (Keras)

    def __post_init__(self) -> None:
        w, b = self.weight, self.bias
        if w.dtype != np.float64 or b.dtype != np.float64 or w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError("Dense.weight is a (n_in, n_out) and Dense.bias a (n_out,) float64 array")
        if w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError("a Dense layer has at least one input and one output")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ValueError("Dense weights and biases must be finite")
        if np.any(np.abs(w) > F32_MAX) or np.any(np.abs(b) > F32_MAX):
            raise ValueError("Dense weights and biases must lie within the float32 range")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[1])

    def out_shape(self, in_shape: Shape) -> Shape:
        _shape_check("Dense", in_shape, self.n_in)
        return (self.n_out,)

    def pre_activation(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        W = self.weight if dtype == "float64" else self.weight.astype(np.float32)
        b = self.bias if dtype == "float64" else self.bias.astype(np.float32)
        a = x @ W  # scikit-learn: safe_sparse_dot(activation, coefs_[i]); activation += intercepts_[i]
        a += b
        return np.asarray(a)

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        return apply_activation(self.activation, self.pre_activation(x, dtype))

    @property
    def n_params(self) -> int:
        return int(self.weight.size + self.bias.size)

    def describe(self) -> str:
        return f"dense {self.n_in} -> {self.n_out}, {self.activation}" + fold_text(self.fold)

    @property
    def col_abs_max(self) -> float:
        """max_j sum_i |W_ij|: how far the outputs move per unit of input error (infinity norm)."""
        return float(np.abs(self.weight).sum(axis=0).max())

    def linear_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        """(m, e) of the pre-activation values (see Layer.error_bound)."""
        # n products, n additions, the bias; weights rounded to u (+1)
        bmax = float(np.abs(self.bias).max())
        return linear_layer_bound(self.col_abs_max, bmax, self.n_in, self.fold, m_in, e_in, u)

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        m, e = self.linear_bound(m_in, e_in, u)
        return activation_bound(self.activation, m, e, u)


@register_layer
@dataclass(frozen=True)
class Activation:
    """An element-wise activation (or softmax over the last axis) as a layer of its own."""

    kind: ClassVar[str] = "activation"
    code: ClassVar[int] = 2

    activation: str

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        return apply_activation(self.activation, x)

    @property
    def n_params(self) -> int:
        return 0

    def describe(self) -> str:
        return f"activation {self.activation}"

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        return activation_bound(self.activation, m_in, e_in, u)


ACTIVATION_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}  # in the model file and C


def output_activation(layer: Any) -> str:
    """The activation a layer ends with ("identity" for a layer without one)."""
    return str(getattr(layer, "activation", "identity"))


# ---------------------------------------------------------------------------------------------- network
@dataclass(frozen=True, eq=False)
class Network:
    """A chain of layers. ``input_shape`` is per sample (NHWC for images); ``n_inputs`` its size (the C
    API and the model file take the flat row). ``dtype``: the library's arithmetic; ``decision``: how a
    classifier's class follows from the last layer (see the module docstring); ``exact``: the library's
    result is reproducible (scikit-learn: float64 BLAS, bounded rounding), so the float method decides
    classes exactly by margin and replay; ``False`` (Keras' own kernels) states a bound instead."""

    task: Task
    input_shape: Shape
    layers: tuple[Any, ...]
    dtype: Dtype = "float64"
    decision: Decision = "argmax"
    exact: bool = True
    classes: npt.NDArray[np.generic] | None = None
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)
    # the int8 quantization (passes.quantize.NetworkQ) when converted with a calibration set, else None
    quant: Any = field(default=None, repr=False)
    shapes: tuple[Shape, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.task not in (Task.CLASSIFY, Task.REGRESS):
            raise ValueError("a Network classifies or regresses")
        if not self.layers:
            raise ValueError("a Network has at least one layer")
        if not self.input_shape or any(int(d) < 1 for d in self.input_shape):
            raise ValueError(f"bad input shape {self.input_shape}")
        shapes: list[Shape] = [tuple(int(d) for d in self.input_shape)]
        for i, layer in enumerate(self.layers):
            if type(layer) not in _LAYERS.values():
                raise ValueError(f"layer {i} ({type(layer).__name__}) is not a registered layer kind")
            try:
                shapes.append(tuple(int(d) for d in layer.out_shape(shapes[-1])))
            except ValueError as e:
                raise ValueError(f"layer {i} ({layer.describe()}): {e}") from e
        object.__setattr__(self, "shapes", tuple(shapes))
        if self.dtype not in ("float32", "float64"):
            raise ValueError("a Network computes in float32 or float64")
        n_out = int(np.prod(shapes[-1]))
        if self.task == Task.REGRESS:
            if self.decision != "none" or self.classes is not None:
                raise ValueError("a regressor has no decision rule and no classes")
        else:
            if self.decision == "threshold" and n_out != 1:
                raise ValueError("the threshold decision takes one output")
            if self.decision == "argmax" and n_out < 2:
                raise ValueError("the argmax decision takes at least two outputs")
            if self.decision == "none":
                raise ValueError("a classifier needs a decision rule")
            if self.classes is not None and len(self.classes) != self.n_outputs:
                raise ValueError("classes must have one label per class")

    # ------------------------------------------------------------------ shape
    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.shapes[0]))

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_values(self) -> int:
        """Values the last layer produces (1 for a binary classifier with one logistic output)."""
        return int(np.prod(self.shapes[-1]))

    @property
    def n_outputs(self) -> int:
        if self.task == Task.CLASSIFY and self.decision == "threshold":
            return 2
        return self.n_values

    @property
    def output_activation(self) -> str:
        return output_activation(self.layers[-1])

    @property
    def max_tensor(self) -> int:
        """The largest tensor (values): each of the two activation buffers holds this many."""
        return max(int(np.prod(s)) for s in self.shapes)

    @property
    def n_params(self) -> int:
        return sum(int(layer.n_params) for layer in self.layers)

    def summary(self) -> list[str]:
        name = self.source.split(".")[-1] or "network"
        shape = "x".join(str(d) for d in self.shapes[0])
        lines = [f"{name}: network of {len(self.layers)} layers, input {shape}, {self.n_params} parameters"]
        for i, layer in enumerate(self.layers):
            out = "x".join(str(d) for d in self.shapes[i + 1])
            lines.append(f"  layer {i}: {layer.describe()} -> {out}")
        if self.task == Task.CLASSIFY:
            labels = [str(c) for c in (self.classes if self.classes is not None else range(self.n_outputs))]
            shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
            more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
            lines.append(f"classes: {self.n_outputs} ({shown}{more})")
            rule = "first largest output" if self.decision == "argmax" else "output > 0.5"
            lines.append(f"decision: {rule}; probabilities: {self.output_activation}")
        else:
            lines.append(f"outputs: {self.n_values} value{'s' if self.n_values > 1 else ''} (regression)")
        lines.append(f"arithmetic of the library: {self.dtype}")
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ the library's arithmetic
    def _rows(self, X: npt.NDArray[Any]) -> npt.NDArray[Any]:
        X = np.asarray(X)
        if X.dtype != np.float32:
            raise TypeError("Network.forward takes float32 rows")
        return X.reshape((X.shape[0], *self.shapes[0]))

    def forward(self, X: npt.NDArray[np.float32], upto: int | None = None) -> list[npt.NDArray[Any]]:
        """Every tensor of the batch, input first, in the library's arithmetic (flattened per row)."""
        a: npt.NDArray[Any] = self._rows(X)
        if self.dtype == "float32":
            a = a.astype(np.float32)
        out = [a.reshape(a.shape[0], -1)]
        for layer in self.layers[: len(self.layers) if upto is None else upto]:
            a = layer.forward(a, self.dtype)
            out.append(a.reshape(a.shape[0], -1))
        return out

    def logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """The last layer's values before its output transform (softmax / logistic), (n, n_values)."""
        a = self.forward(X, upto=len(self.layers) - 1)[-1]
        last = self.layers[-1]
        x = a.reshape((a.shape[0], *self.shapes[-2]))
        if isinstance(last, Dense):
            z = last.pre_activation(x, self.dtype)
        elif isinstance(last, Activation):
            z = x
        else:
            z = last.forward(x, self.dtype)
        return np.asarray(z).reshape(z.shape[0], -1)

    def values(self, X: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """The library's outputs (probabilities of a classifier, values of a regressor), (n, n_values)."""
        return self.forward(X)[-1]

    # ------------------------------------------------------------------ bounds
    def error_bound(self, m_in: npt.NDArray[np.float64], u: float) -> npt.NDArray[np.float64]:
        """Per row (``m_in``: each row's largest |x|), a bound on the distance of every logit from its
        exact value when the network is evaluated in an arithmetic of unit roundoff ``u`` (weights rounded
        to it), up to the output transform."""
        out = np.empty(len(m_in))
        for r, m0 in enumerate(np.asarray(m_in, dtype=np.float64)):
            m, e = float(m0), 0.0
            for layer in self.layers[:-1]:
                m, e = layer.error_bound(m, e, u)
            last = self.layers[-1]
            if isinstance(last, Dense):
                m, e = last.linear_bound(m, e, u)
            elif not isinstance(last, Activation):
                m, e = last.error_bound(m, e, u)
            out[r] = e
        return out

    def library_error(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return self.error_bound(_row_max(X), U64 if self.dtype == "float64" else U32)

    def ambiguous(self, X: npt.NDArray[np.float32], z: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        """Rows whose decision is within rounding: the library's own logit margin is not above the
        library's error plus the float64 replay's (docs/networks.md, "Decisions")."""
        z64 = np.asarray(z, dtype=np.float64)
        E = self.library_error(X) + self.error_bound(_row_max(X), U64) + MARGIN_FLOOR[self.dtype]
        if not np.all(np.isfinite(E)):
            E = np.where(np.isfinite(E), E, np.inf)
        if self.decision == "threshold":
            out: npt.NDArray[np.bool_] = (np.abs(z64[:, 0]) <= E) | ~np.isfinite(z64[:, 0])
            return out
        part = np.sort(z64, axis=1)
        margin = part[:, -1] - part[:, -2]
        amb: npt.NDArray[np.bool_] = ~(margin > 2 * E)
        return amb

    def value_bound(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row: how far a float32 evaluation of a regressor may be from the library's values."""
        m = _row_max(X)
        return np.asarray(self.library_error(X) + self.error_bound(m, U32), dtype=np.float64)

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        X32 = X32.reshape(X32.shape[0], -1)
        raw = self.values(X32)
        vals = np.asarray(raw, dtype=np.float64)
        if self.task == Task.REGRESS:
            bound = self.value_bound(X32) if self.exact else None
            out = vals[:, 0] if self.n_values == 1 else vals
            return Reference(outputs=out, bound=bound)
        z = self.logits(X32)
        if self.decision == "threshold":
            idx = (vals[:, 0] > 0.5).astype(np.int64)  # scikit-learn's LabelBinarizer threshold
            p1 = raw[:, 0]
            proba = np.asarray(np.stack([1 - p1, p1], axis=1), dtype=np.float64)  # in the library's dtype
        else:
            idx = np.argmax(vals, axis=1).astype(np.int64)
            proba = vals
        scores = np.asarray(z, dtype=np.float64)
        return Reference(outputs=idx, proba=proba, scores=scores, ambiguous=self.ambiguous(X32, z))


def _row_max(X: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    A = np.abs(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    with np.errstate(invalid="ignore"):
        return np.asarray(A.max(axis=1), dtype=np.float64)
