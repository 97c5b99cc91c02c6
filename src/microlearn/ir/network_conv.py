"""Convolution, pooling, reshaping and per-channel scaling layers of a ``Network`` (channels last).

The layer kinds of small convolutional networks (Keras' Conv1D/Conv2D, DepthwiseConv2D, Max/Average
pooling, global average pooling, Flatten/Reshape, BatchNormalization/Normalization), each following the
layer contract of ``ir.network``. A sequence ``(L, C)`` is handled as an image of one row ``(1, L, C)``,
so one kernel serves 1-D and 2-D layers.

Error bounds (``error_bound``, docs/keras.md): a convolution output is a sum of ``k`` products plus a
bias, as a Dense output is, so with ``c`` the largest sum of one filter's absolute weights,
``e' = c e + gamma(k + 3) (c (m + e) + max |b|)``; max pooling moves no value, average pooling adds the
rounding of a sum of ``k`` values and one division, reshaping is exact, a per-channel ``x * a + b``
adds a few roundings of ``|x a|`` and of the constants it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from microlearn.ir import conv_math
from microlearn.ir.linear import gamma
from microlearn.ir.network import (
    ACTIVATIONS,
    F32_MAX,
    FN_ULPS,
    BatchNormFold,
    Dense,
    Dtype,
    Shape,
    activation_bound,
    apply_activation,
    fold_text,
    linear_layer_bound,
    register_layer,
    tiny_of,
)

PADDINGS = ("valid", "same", "causal")


def _check_params(name: str, *arrays: npt.NDArray[Any]) -> None:
    for a in arrays:
        if a.dtype != np.float64:
            raise ValueError(f"{name} parameters are float64 arrays (float32 values widened)")
        if not np.all(np.isfinite(a)) or np.any(np.abs(a) > F32_MAX):
            raise ValueError(f"{name} parameters must be finite and within the float32 range")


def as_image(in_shape: Shape, name: str) -> tuple[int, int, int]:
    """(H, W, C) of an image input, (1, L, C) of a sequence."""
    if len(in_shape) == 3:
        return int(in_shape[0]), int(in_shape[1]), int(in_shape[2])
    if len(in_shape) == 2:
        return 1, int(in_shape[0]), int(in_shape[1])
    raise ValueError(f"{name} takes a sequence (L, C) or an image (H, W, C), not shape {in_shape}")


def _image_batch(x: npt.NDArray[Any], in_shape: Shape) -> npt.NDArray[Any]:
    h, w, c = as_image(in_shape, "layer")
    return x.reshape(x.shape[0], h, w, c)


def _same_rank(in_shape: Shape, h: int, w: int, c: int) -> Shape:
    return (w, c) if len(in_shape) == 2 else (h, w, c)


@dataclass(frozen=True)
class Window:
    """A sliding window over (rows, columns): kernel size, strides, dilation and Keras padding."""

    size: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)
    padding: str = "valid"

    def __post_init__(self) -> None:
        if self.padding not in PADDINGS:
            raise ValueError(f"padding {self.padding!r} is not one of {PADDINGS}")
        if min(*self.size, *self.strides, *self.dilation) < 1:
            raise ValueError("window sizes, strides and dilations are at least 1")

    def out(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(OH, OW, pad_top, pad_left)."""
        oh, pt, _ = conv_math.out_size(h, self.size[0], self.strides[0], self.dilation[0], self.padding)
        ow, pl, _ = conv_math.out_size(w, self.size[1], self.strides[1], self.dilation[1], self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"a {self.size[0]}x{self.size[1]} window does not fit a {h}x{w} input")
        return oh, ow, pt, pl

    def text(self) -> str:
        s = f"{self.size[0]}x{self.size[1]}"
        if self.strides != (1, 1):
            s += f" stride {self.strides[0]}x{self.strides[1]}"
        if self.dilation != (1, 1):
            s += f" dilation {self.dilation[0]}x{self.dilation[1]}"
        return s + f" {self.padding}"


@register_layer
@dataclass(frozen=True, eq=False)
class Conv:
    """Conv1D / Conv2D: ``kernel`` (kh, kw, C, F) (kh = 1 for 1-D), ``bias`` (F,), fused activation."""

    kind: ClassVar[str] = "conv"
    code: ClassVar[int] = 16

    kernel: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    window: Window
    activation: str = "identity"
    fold: BatchNormFold | None = None  # a batch normalization folded into kernel and bias

    def __post_init__(self) -> None:
        _check_params("Conv", self.kernel, self.bias)
        if self.kernel.ndim != 4 or self.bias.shape != (self.kernel.shape[3],):
            raise ValueError("Conv.kernel is (kh, kw, C, F) and Conv.bias (F,)")
        if tuple(self.kernel.shape[:2]) != self.window.size:
            raise ValueError("the window size is the kernel's")
        if self.activation not in ACTIVATIONS or self.activation == "softmax":
            raise ValueError(f"a convolution's activation is one of {ACTIVATIONS[:4]}")

    @property
    def filters(self) -> int:
        return int(self.kernel.shape[3])

    def out_shape(self, in_shape: Shape) -> Shape:
        h, w, c = as_image(in_shape, "a convolution")
        if len(in_shape) == 2 and self.kernel.shape[0] != 1:
            raise ValueError("a 2-D kernel needs an image input (H, W, C)")
        if c != self.kernel.shape[2]:
            raise ValueError(f"the kernel takes {self.kernel.shape[2]} channels, the input has {c}")
        oh, ow, _, _ = self.window.out(h, w)
        return _same_rank(in_shape, oh, ow, self.filters)

    def forward_image(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        win = self.window
        xx = x.astype(np.float32 if dtype == "float32" else np.float64)
        return conv_math.conv2d(xx, self.kernel, self.bias, win.strides, win.dilation, win.padding)

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        in_shape = x.shape[1:]
        y = self.forward_image(_image_batch(x, in_shape), dtype)
        y = apply_activation(self.activation, y)
        return y.reshape((x.shape[0], *self.out_shape(in_shape)))

    @property
    def n_params(self) -> int:
        return int(self.kernel.size + self.bias.size)

    def describe(self) -> str:
        kh, _, c, f = self.kernel.shape
        dims = "1-D" if kh == 1 else "2-D"
        text = f"conv {dims} {self.window.text()}, {c} -> {f} channels, {self.activation}"
        return text + fold_text(self.fold)

    def linear_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        kh, kw, c, f = self.kernel.shape
        col = float(np.abs(self.kernel).reshape(-1, f).sum(axis=0).max())
        bmax = float(np.abs(self.bias).max())
        return linear_layer_bound(col, bmax, kh * kw * c, self.fold, m_in, e_in, u)

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        m, e = self.linear_bound(m_in, e_in, u)
        return activation_bound(self.activation, m, e, u)


@register_layer
@dataclass(frozen=True, eq=False)
class DepthwiseConv:
    """DepthwiseConv2D (and DepthwiseConv1D): ``kernel`` (kh, kw, C, M), output channel ``c M + m``."""

    kind: ClassVar[str] = "depthwise"
    code: ClassVar[int] = 17

    kernel: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]
    window: Window
    activation: str = "identity"
    fold: BatchNormFold | None = None  # a batch normalization folded into kernel and bias

    def __post_init__(self) -> None:
        _check_params("DepthwiseConv", self.kernel, self.bias)
        k = self.kernel
        if k.ndim != 4 or self.bias.shape != (k.shape[2] * k.shape[3],):
            raise ValueError("DepthwiseConv.kernel is (kh, kw, C, M) and its bias (C*M,)")
        if tuple(k.shape[:2]) != self.window.size:
            raise ValueError("the window size is the kernel's")
        if self.activation not in ACTIVATIONS or self.activation == "softmax":
            raise ValueError(f"a convolution's activation is one of {ACTIVATIONS[:4]}")

    def out_shape(self, in_shape: Shape) -> Shape:
        h, w, c = as_image(in_shape, "a depthwise convolution")
        if len(in_shape) == 2 and self.kernel.shape[0] != 1:
            raise ValueError("a 2-D kernel needs an image input (H, W, C)")
        if c != self.kernel.shape[2]:
            raise ValueError(f"the kernel takes {self.kernel.shape[2]} channels, the input has {c}")
        oh, ow, _, _ = self.window.out(h, w)
        return _same_rank(in_shape, oh, ow, c * int(self.kernel.shape[3]))

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        in_shape = x.shape[1:]
        win = self.window
        xx = _image_batch(x, in_shape).astype(np.float32 if dtype == "float32" else np.float64)
        y = conv_math.depthwise2d(xx, self.kernel, self.bias, win.strides, win.dilation, win.padding)
        y = apply_activation(self.activation, y)
        return y.reshape((x.shape[0], *self.out_shape(in_shape)))

    @property
    def n_params(self) -> int:
        return int(self.kernel.size + self.bias.size)

    def describe(self) -> str:
        kh, _, c, m = self.kernel.shape
        dims = "1-D" if kh == 1 else "2-D"
        text = f"depthwise conv {dims} {self.window.text()}, {c} channels x {m}, {self.activation}"
        return text + fold_text(self.fold)

    def linear_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        kh, kw = self.kernel.shape[:2]
        col = float(np.abs(self.kernel).sum(axis=(0, 1)).max())
        bmax = float(np.abs(self.bias).max())
        return linear_layer_bound(col, bmax, kh * kw, self.fold, m_in, e_in, u)

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        m, e = self.linear_bound(m_in, e_in, u)
        return activation_bound(self.activation, m, e, u)


@register_layer
@dataclass(frozen=True, eq=False)
class Pool:
    """MaxPooling1D/2D (``op`` "max") and AveragePooling1D/2D ("avg": over the real elements only)."""

    kind: ClassVar[str] = "pool"
    code: ClassVar[int] = 18

    op: str
    window: Window

    def __post_init__(self) -> None:
        if self.op not in ("max", "avg"):
            raise ValueError("a pooling layer's op is 'max' or 'avg'")
        if self.window.dilation != (1, 1) or self.window.padding == "causal":
            raise ValueError("pooling has no dilation and no causal padding")

    def out_shape(self, in_shape: Shape) -> Shape:
        h, w, c = as_image(in_shape, "pooling")
        if len(in_shape) == 2 and self.window.size[0] != 1:
            raise ValueError("a 2-D pooling window needs an image input (H, W, C)")
        oh, ow, _, _ = self.window.out(h, w)
        return _same_rank(in_shape, oh, ow, c)

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        in_shape = x.shape[1:]
        win = self.window
        xx = _image_batch(x, in_shape).astype(np.float32 if dtype == "float32" else np.float64)
        y = conv_math.pool2d(xx, win.size, win.strides, win.padding, self.op)
        return y.reshape((x.shape[0], *self.out_shape(in_shape)))

    @property
    def n_params(self) -> int:
        return 0

    def describe(self) -> str:
        return f"{self.op} pool {self.window.text()}"

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        if self.op == "max":
            return m_in, e_in
        k = self.window.size[0] * self.window.size[1]
        e = e_in + gamma(k + 2, u) * (m_in + e_in) + k * tiny_of(u)
        return m_in + e, e


@register_layer
@dataclass(frozen=True, eq=False)
class GlobalPool:
    """GlobalAveragePooling1D/2D ("avg") and GlobalMaxPooling1D/2D ("max"): (…, C) -> (C,)."""

    kind: ClassVar[str] = "global_pool"
    code: ClassVar[int] = 19

    op: str
    positions: int  # values averaged per channel (L, or H * W)

    def __post_init__(self) -> None:
        if self.op not in ("max", "avg"):
            raise ValueError("a global pooling layer's op is 'max' or 'avg'")
        if self.positions < 1:
            raise ValueError("global pooling covers at least one position")

    def out_shape(self, in_shape: Shape) -> Shape:
        h, w, _ = as_image(in_shape, "global pooling")
        if h * w != self.positions:
            raise ValueError(f"global pooling over {self.positions} positions takes no {in_shape} input")
        return (int(in_shape[-1]),)

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        xx = x.reshape(x.shape[0], -1, x.shape[-1]).astype(np.float32 if dtype == "float32" else np.float64)
        return np.asarray(xx.max(axis=1) if self.op == "max" else xx.mean(axis=1))

    @property
    def n_params(self) -> int:
        return 0

    def describe(self) -> str:
        return f"global {self.op} pool"

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        if self.op == "max":
            return m_in, e_in
        k = self.positions
        e = e_in + gamma(k + 2, u) * (m_in + e_in) + k * tiny_of(u)
        return m_in + e, e


@register_layer
@dataclass(frozen=True)
class Reshape:
    """Flatten / Reshape: the same values in the same (row-major) order, another shape."""

    kind: ClassVar[str] = "reshape"
    code: ClassVar[int] = 20

    shape: Shape

    def __post_init__(self) -> None:
        if not self.shape or any(int(d) < 1 for d in self.shape):
            raise ValueError(f"bad target shape {self.shape}")

    def out_shape(self, in_shape: Shape) -> Shape:
        if int(np.prod(in_shape)) != int(np.prod(self.shape)):
            raise ValueError(f"cannot reshape {in_shape} into {self.shape}")
        return tuple(int(d) for d in self.shape)

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        return x.reshape((x.shape[0], *self.shape))

    @property
    def n_params(self) -> int:
        return 0

    def describe(self) -> str:
        return "reshape to " + "x".join(str(d) for d in self.shape)

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        return m_in, e_in


@register_layer
@dataclass(frozen=True, eq=False)
class ChannelAffine:
    """``y = x * scale + offset`` per channel (last axis): BatchNormalization at inference and
    Normalization, with ``scale`` and ``offset`` computed from the library's parameters in float64.
    ``spread`` is the largest ``|mean * scale| + |beta|`` the library adds in its own order (its
    rounding enters the bound even where ``offset`` is small)."""

    kind: ClassVar[str] = "affine"
    code: ClassVar[int] = 21

    scale: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]
    spread: float = 0.0
    what: str = "batch normalization"

    def __post_init__(self) -> None:
        _check_params("ChannelAffine", self.scale, self.offset)
        if self.scale.ndim != 1 or self.offset.shape != self.scale.shape:
            raise ValueError("ChannelAffine.scale and .offset are (C,) arrays")
        if not (np.isfinite(self.spread) and self.spread >= 0):
            raise ValueError("ChannelAffine.spread is a finite non-negative number")

    def out_shape(self, in_shape: Shape) -> Shape:
        if int(in_shape[-1]) != self.scale.shape[0]:
            raise ValueError(f"{self.what} has {self.scale.shape[0]} channels, the input {in_shape[-1]}")
        return in_shape

    def forward(self, x: npt.NDArray[Any], dtype: Dtype) -> npt.NDArray[Any]:
        t = np.float32 if dtype == "float32" else np.float64
        y = x.astype(t) * self.scale.astype(t) + self.offset.astype(t)
        return np.asarray(y)

    @property
    def n_params(self) -> int:
        return int(2 * self.scale.size)

    def describe(self) -> str:
        return f"{self.what} (per-channel scale and offset), {self.scale.size} channels"

    def error_bound(self, m_in: float, e_in: float, u: float) -> tuple[float, float]:
        a = float(np.abs(self.scale).max()) * (1 + 4 * 2.0**-53)
        c = max(float(np.abs(self.offset).max()), self.spread)
        e = a * e_in + (gamma(6, u) + FN_ULPS * u) * (a * (m_in + e_in) + c) + 4 * tiny_of(u)
        return a * m_in + float(np.abs(self.offset).max()) + e, e


FOLDABLE = (Dense, Conv, DepthwiseConv)


def fold_batchnorm(layer: Any, norm: ChannelAffine) -> Any | None:
    """``layer`` (Dense, Conv or DepthwiseConv, identity activation) followed by the batch normalization
    ``norm`` as one layer: weights times the channel's scale ``a``, bias ``b a + t`` (``t`` the
    normalization's offset), computed in float64; the layer keeps a :class:`BatchNormFold` for the bound
    of the library's unfolded evaluation. None when the pair does not fold (another activation, a
    normalization of another kind, channels that do not match, folded values outside float32)."""
    if not isinstance(layer, FOLDABLE) or layer.activation != "identity" or layer.fold is not None:
        return None
    if norm.what != "batch normalization" or layer.bias.shape != norm.scale.shape:
        return None
    a, t = norm.scale, norm.offset
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(layer, Dense):
            w = layer.weight * a[np.newaxis, :]
        elif isinstance(layer, Conv):
            w = layer.kernel * a
        else:
            w = layer.kernel * a.reshape(layer.kernel.shape[2:])
        b = layer.bias * a + t
        scaled = float(np.abs(layer.bias * a).max())
    try:
        fold = BatchNormFold(scaled, float(norm.spread))
        if isinstance(layer, Dense):
            return Dense(w, b, "identity", fold)
        return type(layer)(w, b, layer.window, "identity", fold)
    except ValueError:  # a folded value outside float32: keep the two layers
        return None
