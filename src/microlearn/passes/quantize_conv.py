"""int8 quantization of the convolution, pooling, reshaping and per-channel layers (``ir.network_conv``).

The scheme is ``passes.quantize``'s: activations int8 per tensor (``real = s (q - z)``), weights int8
symmetric per output channel, int32 accumulators requantized by an integer multiplier and shift, relu as
the lower clamp at the output's zero point, tanh and the logistic as 256-entry tables. A convolution
accumulates ``b + sum (q - z_in) w`` over the taps inside the input, so padding is the real value 0
whatever the zero point; pooling keeps its input's quantization (max of codes; the mean of the real
elements' codes rounded half away from zero); reshaping moves nothing. Each record's ``run`` is the
integer arithmetic of ``runtime/c/ml_conv.h`` in numpy, bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.ir import conv_math
from microlearn.ir.network import apply_activation
from microlearn.ir.network_conv import ChannelAffine, Conv, DepthwiseConv, GlobalPool, Pool, Reshape, as_image
from microlearn.passes.quantize import (
    I32,
    QuantCtx,
    TensorQ,
    act_table,
    multiplier,
    register_layer_quantizer,
    requant,
    tensor_q,
)

I64 = npt.NDArray[np.int64]
NEEDS_DENSE = "layer {}: the int8 method needs a network ending in a Dense layer"


def _div_round(s: I64, n: I64 | int) -> I64:
    n_arr = np.asarray(n, dtype=np.int64)
    mag = (np.abs(s) + n_arr // 2) // n_arr
    return np.asarray(np.where(s >= 0, mag, -mag), dtype=np.int64)


def _out(acc: I64, m: I64, sh: I64, zy: int, lo: int, table: npt.NDArray[np.int8] | None) -> I64:
    if np.any(acc < I32[0]) or np.any(acc > I32[1]):
        raise AssertionError("an int32 accumulator overflowed")  # excluded by the quantizer's check
    v = zy + requant(acc, m, sh)
    v = np.clip(v, lo, 127)
    if table is not None:
        v = table.astype(np.int64)[v + 128]
    return np.asarray(v, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ConvQ:
    """A quantized convolution (``depthwise``: per input channel). ``w`` int8 in the layer's kernel
    shape, ``b`` int32 per output channel (no zero point folded), ``m``/``sh`` per output channel,
    ``zx`` the input's zero point, ``out`` the output's quantization, ``lo`` and ``table`` as DenseQ."""

    layer: Any
    in_shape: tuple[int, ...]
    w: npt.NDArray[np.int8]
    b: npt.NDArray[np.int32]
    m: npt.NDArray[np.int32]
    sh: npt.NDArray[np.int8]
    zx: int
    out: TensorQ
    lo: int = -128
    table: npt.NDArray[np.int8] | None = None
    depthwise: bool = False

    def accumulate(self, xq: I64) -> I64:
        h, w, c = as_image(self.in_shape, "layer")
        win = self.layer.window
        x = (xq.reshape(len(xq), h, w, c) - self.zx).astype(np.int64)
        # outside positions are the real value 0: code zx, i.e. 0 after the shift
        taps = conv_math.windows(x, win.size, win.strides, win.dilation, win.padding, 0)
        n, oh, ow = taps.shape[:3]
        k = self.w.astype(np.int64)
        if self.depthwise:
            acc = np.einsum("nhwijc,ijcm->nhwcm", taps, k).reshape(n, oh, ow, -1)
        else:
            acc = (taps.reshape(n * oh * ow, -1) @ k.reshape(-1, k.shape[3])).reshape(n, oh, ow, -1)
        acc = acc + self.b.astype(np.int64)
        return np.asarray(acc.reshape(n, -1), dtype=np.int64)

    def run(self, xq: I64) -> I64:
        acc = self.accumulate(xq)
        f = len(self.b)
        m = np.tile(self.m.astype(np.int64), acc.shape[1] // f)[None, :]
        sh = np.tile(self.sh.astype(np.int64), acc.shape[1] // f)[None, :]
        return _out(acc, m, sh, self.out.zero, self.lo, self.table)


@dataclass(frozen=True, eq=False)
class PoolQ:
    """Pooling on int8 codes of one quantization (``layer``: Pool or GlobalPool)."""

    layer: Any
    in_shape: tuple[int, ...]

    def run(self, xq: I64) -> I64:
        h, w, c = as_image(self.in_shape, "layer")
        x = xq.reshape(len(xq), h, w, c).astype(np.int64)
        if isinstance(self.layer, GlobalPool):
            flat = x.reshape(len(x), h * w, c)
            if self.layer.op == "max":
                return np.asarray(flat.max(axis=1), dtype=np.int64)
            return _div_round(flat.sum(axis=1), h * w)
        win = self.layer.window
        if self.layer.op == "max":
            taps = conv_math.windows(x, win.size, win.strides, (1, 1), win.padding, -(2**40))
            return np.asarray(taps.max(axis=(3, 4)).reshape(len(x), -1), dtype=np.int64)
        taps = conv_math.windows(x, win.size, win.strides, (1, 1), win.padding, 0)
        cnt = conv_math.windows(
            np.ones((1, h, w, 1), np.int64), win.size, win.strides, (1, 1), win.padding, 0
        )
        n = cnt.sum(axis=(3, 4))
        return _div_round(taps.sum(axis=(3, 4)), n).reshape(len(x), -1)


@dataclass(frozen=True, eq=False)
class ReshapeQ:
    def run(self, xq: I64) -> I64:
        return xq


@dataclass(frozen=True, eq=False)
class AffineQ:
    """Per-channel ``y = x a + o`` in int8: ``w`` ±127 per channel, ``b`` int32, requantized per channel."""

    w: npt.NDArray[np.int8]
    b: npt.NDArray[np.int32]
    m: npt.NDArray[np.int32]
    sh: npt.NDArray[np.int8]
    zx: int
    out: TensorQ

    def run(self, xq: I64) -> I64:
        c = len(self.w)
        x = xq.reshape(len(xq), -1, c).astype(np.int64)
        acc = self.b.astype(np.int64) + (x - self.zx) * self.w.astype(np.int64)
        v = _out(acc, self.m.astype(np.int64), self.sh.astype(np.int64), self.out.zero, -128, None)
        return v.reshape(len(xq), -1)


def _check_acc(index: int, b: npt.NDArray[Any], wsum: npt.NDArray[Any]) -> None:
    if np.any(np.abs(b) + 255.0 * wsum >= 2.0**31):
        raise InvalidInputError(
            f"layer {index}: a bias is too large for int32 accumulators at this input scale; "
            "scale the inputs or use the float method"
        )


def _conv_q(layer: Conv | DepthwiseConv, ctx: QuantCtx) -> tuple[ConvQ, TensorQ]:
    if ctx.final:
        raise UnsupportedEstimatorError(NEEDS_DENSE.format(ctx.index))
    depthwise = isinstance(layer, DepthwiseConv)
    K, bias = layer.kernel, layer.bias
    s_in, z_in = ctx.in_q.scale, ctx.in_q.zero
    flat = K.reshape(-1, K.shape[2] * K.shape[3]) if depthwise else K.reshape(-1, K.shape[3])
    sw = np.maximum(np.abs(flat).max(axis=0) / 127.0, 2.0**-100)  # per output channel
    kq = np.clip(np.round(flat / sw[None, :]), -127, 127).astype(np.int64)
    bq = np.round(bias / (s_in * sw))
    _check_acc(ctx.index, bq, np.abs(kq).sum(axis=0))
    pre = dataclasses.replace(layer, activation="identity").forward(ctx.x, "float64")
    act = layer.activation
    table = None
    lo = -128
    if act in ("tanh", "logistic"):
        pre_q = tensor_q(float(pre.min()), float(pre.max()))
        table, out_q = act_table(act, pre_q)
        target = pre_q
    else:
        y = apply_activation(act, pre)
        out_q = tensor_q(float(y.min()), float(y.max()))
        target = out_q
        lo = out_q.zero if act == "relu" else -128
    ms = [multiplier(s_in * float(s) / target.scale) for s in sw]
    rec = ConvQ(
        layer,
        tuple(int(d) for d in ctx.x.shape[1:]),
        kq.reshape(K.shape).astype(np.int8),
        bq.astype(np.int32),
        np.array([m for m, _ in ms], dtype=np.int32),
        np.array([s for _, s in ms], dtype=np.int8),
        z_in,
        target,
        lo,
        table,
        depthwise,
    )
    return rec, out_q


def _pool_q(layer: Pool | GlobalPool, ctx: QuantCtx) -> tuple[PoolQ, TensorQ]:
    if ctx.final:
        raise UnsupportedEstimatorError(NEEDS_DENSE.format(ctx.index))
    return PoolQ(layer, tuple(int(d) for d in ctx.x.shape[1:])), ctx.in_q


def _reshape_q(layer: Reshape, ctx: QuantCtx) -> tuple[ReshapeQ, TensorQ]:
    return ReshapeQ(), ctx.in_q


def _affine_q(layer: ChannelAffine, ctx: QuantCtx) -> tuple[AffineQ, TensorQ]:
    if ctx.final:
        raise UnsupportedEstimatorError(NEEDS_DENSE.format(ctx.index))
    s_in, z_in = ctx.in_q.scale, ctx.in_q.zero
    a = layer.scale
    sw = np.maximum(np.abs(a) / 127.0, 2.0**-100)
    wq = np.clip(np.round(a / sw), -127, 127).astype(np.int64)
    bq = np.round(layer.offset / (s_in * sw))
    _check_acc(ctx.index, bq, np.abs(wq))
    y = layer.forward(ctx.x, "float64")
    out_q = tensor_q(float(y.min()), float(y.max()))
    ms = [multiplier(s_in * float(s) / out_q.scale) for s in sw]
    rec = AffineQ(
        wq.astype(np.int8),
        bq.astype(np.int32),
        np.array([m for m, _ in ms], dtype=np.int32),
        np.array([s for _, s in ms], dtype=np.int8),
        z_in,
        out_q,
    )
    return rec, out_q


register_layer_quantizer(Conv, _conv_q)
register_layer_quantizer(DepthwiseConv, _conv_q)
register_layer_quantizer(Pool, _pool_q)
register_layer_quantizer(GlobalPool, _pool_q)
register_layer_quantizer(Reshape, _reshape_q)
register_layer_quantizer(ChannelAffine, _affine_q)
