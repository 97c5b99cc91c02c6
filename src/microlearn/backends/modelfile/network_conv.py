"""Model-file records of the convolution, pooling, reshaping and per-channel layers (family 6).

Records (after the kind's code; strides and dilations packed as ``rows * 65536 + cols``; padding 0
valid, 1 same, 2 causal; op 0 max, 1 average):

* conv (16): ``filters, kh, kw, strides, dilation, padding, activation``; PRMS: the kernel in Keras'
  order (kh, kw, C, F), then F biases.
* depthwise (17): ``multiplier, kh, kw, strides, dilation, padding, activation``; PRMS: kernel
  (kh, kw, C, M), then C*M biases.
* conv, depthwise (and dense, code 1) with a batch normalization folded in: ``activation + 8``, and two
  more parameters after the biases, the fold's bias and spread (``ir.network.BatchNormFold``).
* pool (18): ``op, kh, kw, strides, padding``; no PRMS.
* global pool (19): ``op, positions``; no PRMS.
* reshape (20): ``rank, d0 .. d(rank-1)``; no PRMS.
* affine (21): ``what`` (0 batch normalization, 1 normalization); PRMS: C scales, C offsets, spread.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import fail
from microlearn.backends.modelfile.network import fold_code, read_fold, register_layer_codec
from microlearn.ir.network import ACTIVATIONS
from microlearn.ir.network_conv import (
    PADDINGS,
    ChannelAffine,
    Conv,
    DepthwiseConv,
    GlobalPool,
    Pool,
    Reshape,
    Window,
    as_image,
)

F64 = npt.NDArray[np.float64]
OPS = ("max", "avg")
WHAT = ("batch normalization", "normalization")
MAX_DIM = 32767


def _pack(p: tuple[int, int]) -> int:
    return int(p[0]) * 65536 + int(p[1])


def _unpack(v: int) -> tuple[int, int]:
    return v // 65536, v % 65536


def _window(kh: int, kw: int, strides: int, dilation: int, padding: int) -> Window:
    vals = [kh, kw, *_unpack(strides), *_unpack(dilation)]
    if min(vals) < 1 or max(vals) > MAX_DIM or not 0 <= padding < len(PADDINGS):
        raise fail("a window record holds a size, stride, dilation or padding out of range")
    return Window((kh, kw), _unpack(strides), _unpack(dilation), PADDINGS[padding])


def _act(code: int) -> str:
    if not 0 <= code < len(ACTIVATIONS):
        raise fail("a layer record holds an unknown activation")
    return ACTIVATIONS[code]


def _take(p: F64, n: int, what: str) -> F64:
    if p.size < n:
        raise fail(f"PRMS ends inside a {what} layer")
    return np.array(p[:n], dtype=np.float64)


def _enc_conv(layer: Conv) -> tuple[list[int], F64]:
    w = layer.window
    kh, kw, _, f = layer.kernel.shape
    ints = [f, kh, kw, _pack(w.strides), _pack(w.dilation), PADDINGS.index(w.padding)]
    act, extra = fold_code(layer)
    return [*ints, act], np.concatenate([layer.kernel.reshape(-1), layer.bias, extra])


def _dec_conv(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[Conv, int]:
    f, kh, kw, st, dl, pad, act = ints[:7]
    try:
        _, _, c = as_image(in_shape, "a convolution")
    except ValueError as e:
        raise fail(str(e)) from e
    if not 1 <= f <= 65535:
        raise fail("a convolution record holds a filter count out of range")
    win = _window(kh, kw, st, dl, pad)
    n = kh * kw * c * f
    k = _take(p, n + f, "convolution")
    act, fold, used = read_fold(act, p, n + f)
    try:
        layer = Conv(k[:n].reshape(kh, kw, c, f), k[n:], win, _act(act), fold)
    except ValueError as e:
        raise fail(f"a convolution record is inconsistent: {e}") from e
    return layer, used


def _enc_depthwise(layer: DepthwiseConv) -> tuple[list[int], F64]:
    w = layer.window
    kh, kw, _, m = layer.kernel.shape
    ints = [m, kh, kw, _pack(w.strides), _pack(w.dilation), PADDINGS.index(w.padding)]
    act, extra = fold_code(layer)
    return [*ints, act], np.concatenate([layer.kernel.reshape(-1), layer.bias, extra])


def _dec_depthwise(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[DepthwiseConv, int]:
    m, kh, kw, st, dl, pad, act = ints[:7]
    try:
        _, _, c = as_image(in_shape, "a depthwise convolution")
    except ValueError as e:
        raise fail(str(e)) from e
    if not 1 <= m <= 65535:
        raise fail("a depthwise record holds a multiplier out of range")
    win = _window(kh, kw, st, dl, pad)
    n = kh * kw * c * m
    k = _take(p, n + c * m, "depthwise convolution")
    act, fold, used = read_fold(act, p, n + c * m)
    try:
        layer = DepthwiseConv(k[:n].reshape(kh, kw, c, m), k[n:], win, _act(act), fold)
    except ValueError as e:
        raise fail(f"a depthwise record is inconsistent: {e}") from e
    return layer, used


def _enc_pool(layer: Pool) -> tuple[list[int], F64]:
    w = layer.window
    return [OPS.index(layer.op), *w.size, _pack(w.strides), PADDINGS.index(w.padding)], np.zeros(0)


def _dec_pool(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[Pool, int]:
    op, kh, kw, st, pad = ints[:5]
    if not 0 <= op < len(OPS) or pad > 1:
        raise fail("a pooling record holds an unknown op or padding")
    try:
        return Pool(OPS[op], _window(kh, kw, st, 65536 + 1, pad)), 0
    except ValueError as e:
        raise fail(f"a pooling record is inconsistent: {e}") from e


def _enc_global(layer: GlobalPool) -> tuple[list[int], F64]:
    return [OPS.index(layer.op), layer.positions], np.zeros(0)


def _dec_global(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[GlobalPool, int]:
    op, n = ints[:2]
    if not 0 <= op < len(OPS) or n < 1:
        raise fail("a global pooling record holds an unknown op or no positions")
    return GlobalPool(OPS[op], n), 0


def _enc_reshape(layer: Reshape) -> tuple[list[int], F64]:
    return [len(layer.shape), *layer.shape], np.zeros(0)


def _dec_reshape(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[Reshape, int]:
    rank = ints[0]
    if not 1 <= rank <= 3 or min(ints[1 : 1 + rank]) < 1:
        raise fail("a reshape record holds a shape that is not rank 1..3 with dimensions >= 1")
    return Reshape(tuple(ints[1 : 1 + rank])), 0


def _enc_affine(layer: ChannelAffine) -> tuple[list[int], F64]:
    return [WHAT.index(layer.what)], np.concatenate([layer.scale, layer.offset, [layer.spread]])


def _dec_affine(ints: list[int], p: F64, in_shape: tuple[int, ...]) -> tuple[ChannelAffine, int]:
    if not 0 <= ints[0] < len(WHAT):
        raise fail("an affine record holds an unknown kind")
    c = int(in_shape[-1])
    v = _take(p, 2 * c + 1, "per-channel affine")
    try:
        return ChannelAffine(v[:c], v[c : 2 * c], float(v[2 * c]), WHAT[ints[0]]), 2 * c + 1
    except ValueError as e:
        raise fail(f"an affine record is inconsistent: {e}") from e


register_layer_codec(Conv, _enc_conv, _dec_conv)
register_layer_codec(DepthwiseConv, _enc_depthwise, _dec_depthwise)
register_layer_codec(Pool, _enc_pool, _dec_pool)
register_layer_codec(GlobalPool, _enc_global, _dec_global)
register_layer_codec(Reshape, _enc_reshape, _dec_reshape)
register_layer_codec(ChannelAffine, _enc_affine, _dec_affine)
