"""C of the convolution, pooling, reshaping and per-channel scaling layers (``ir.network_conv``).

Registered with the network emitter's per-layer registry (``backends.c.network.register_layer_c``): a
float32 kernel of ``runtime/c/ml_conv.h`` per layer kind, with the running error bound of the float
method (``e' = k1 e + k2 m + k3``, the constants of ``ir.network_conv``'s bounds rounded up), and int8
kernels where a quantization of the layer is given (``passes.quantize``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.backends.c.network import SLACK, LayerC, LayerCtx, _up32, arr, register_layer_c
from microlearn.backends.c.writer import f32
from microlearn.ir.linear import U32, gamma
from microlearn.ir.network import ACTIVATION_CODES, FN_ULPS
from microlearn.ir.network_conv import (
    ChannelAffine,
    Conv,
    DepthwiseConv,
    GlobalPool,
    Pool,
    Reshape,
    Window,
    as_image,
)

HEADERS = ("ml_network.h", "ml_conv.h")
TINY = 2.0**-149


def _n(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def geom(win: Window, in_shape: tuple[int, ...]) -> list[int]:
    """h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl of ``ml_conv_geom``."""
    h, w, c = as_image(in_shape, "layer")
    oh, ow, pt, pl = win.out(h, w)
    vals = [h, w, c, oh, ow, *win.size, *win.strides, *win.dilation, pt, pl]
    if max(vals) > 32767:
        raise ValueError("a tensor dimension above 32767 does not fit ml_conv_geom")
    return vals


def geom_decl(name: str, win: Window, in_shape: tuple[int, ...]) -> str:
    return f"static const ml_conv_geom {name} = {{{', '.join(str(v) for v in geom(win, in_shape))}}};\n"


def err_decl(name: str, k1: float, k2: float, k3: float) -> str:
    return (
        f"static const ml_nn_dense_err {name} = "
        f"{{{f32(_up32(k1 * SLACK))}, {f32(_up32(k2 * SLACK))}, {f32(_up32(k3 * SLACK + 2.0**-140))}}};\n"
    )


def linear_err(col: float, bmax: float, k: int) -> tuple[float, float, float]:
    """``e' = c (1 + g) e + g c m + g max|b|`` for a sum of ``k`` products (+ the bias, the weights'
    rounding to float32 and one spare): as ``ir.network_conv._linear_bound``."""
    c = col * (1 + 2.0**-50)
    g = gamma(k + 3, U32)
    return c * (1 + g), g * c, g * bmax + (k + 2) * TINY


def _track(ctx: LayerCtx, p: str, n_in: int, k: tuple[float, float, float]) -> tuple[str, str, int]:
    if not ctx.track:
        return "", "", 0
    return (
        err_decl(f"{p}_err", *k),
        f"st->m = ml_nn_absmax_f32(in, {n_in});\nml_nn_dense_bound(st, &{p}_err);\n",
        12,
    )


def _act(layer: Any, ctx: LayerCtx, n_out: int) -> str:
    act = "identity" if ctx.skip_output_activation else str(layer.activation)
    if act == "identity":
        return ""
    code = ACTIVATION_CODES[act]
    s = f"ml_nn_act_f32(out, {n_out}, {code});\n"
    if ctx.track:
        s += f"ml_nn_act_bound(st, {code});\n"
    return s


def emit_conv_f32(layer: Conv, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    kh, kw, c, f = layer.kernel.shape
    k = np.transpose(layer.kernel, (3, 0, 1, 2)).astype(np.float32).reshape(-1)  # f, kh, kw, c
    b = layer.bias.astype(np.float32)
    decls = arr("float", f"{p}_k", [f32(v) for v in k], 6) + arr("float", f"{p}_b", [f32(v) for v in b], 6)
    decls += geom_decl(f"{p}_g", layer.window, ctx.in_shape)
    col = float(np.abs(layer.kernel).reshape(-1, f).sum(axis=0).max())
    bmax = float(np.abs(layer.bias).max())
    ed, ec, eb = _track(ctx, p, _n(ctx.in_shape), linear_err(col, bmax, kh * kw * c))
    call = ec + f"ml_conv2d_f32(in, &{p}_g, {p}_k, {p}_b, {f}, out);\n"
    call += _act(layer, ctx, _n(ctx.out_shape))
    return LayerC(decls + ed, call, HEADERS, 4 * (k.size + b.size) + 26 + eb)


def emit_depthwise_f32(layer: DepthwiseConv, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    kh, kw, _, m = layer.kernel.shape
    k = layer.kernel.astype(np.float32).reshape(-1)  # kh, kw, c, m
    b = layer.bias.astype(np.float32)
    decls = arr("float", f"{p}_k", [f32(v) for v in k], 6) + arr("float", f"{p}_b", [f32(v) for v in b], 6)
    decls += geom_decl(f"{p}_g", layer.window, ctx.in_shape)
    col = float(np.abs(layer.kernel).sum(axis=(0, 1)).max())
    bmax = float(np.abs(layer.bias).max())
    ed, ec, eb = _track(ctx, p, _n(ctx.in_shape), linear_err(col, bmax, kh * kw))
    call = ec + f"ml_depthwise_f32(in, &{p}_g, {p}_k, {p}_b, {m}, out);\n"
    call += _act(layer, ctx, _n(ctx.out_shape))
    return LayerC(decls + ed, call, HEADERS, 4 * (k.size + b.size) + 26 + eb)


def emit_pool_f32(layer: Pool, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    decls = geom_decl(f"{p}_g", layer.window, ctx.in_shape)
    op = 0 if layer.op == "max" else 1
    ed, ec, eb = "", "", 0
    if layer.op == "avg":
        k = layer.window.size[0] * layer.window.size[1]
        g = gamma(k + 2, U32)
        ed, ec, eb = _track(ctx, p, _n(ctx.in_shape), (1 + g, g, k * TINY))
    return LayerC(decls + ed, ec + f"ml_pool_f32(in, &{p}_g, {op}, out);\n", HEADERS, 26 + eb)


def emit_global_pool_f32(layer: GlobalPool, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    c = int(ctx.in_shape[-1])
    op = 0 if layer.op == "max" else 1
    ed, ec, eb = "", "", 0
    if layer.op == "avg":
        k = layer.positions
        g = gamma(k + 2, U32)
        ed, ec, eb = _track(ctx, p, _n(ctx.in_shape), (1 + g, g, k * TINY))
    return LayerC(ed, ec + f"ml_global_pool_f32(in, {layer.positions}, {c}, {op}, out);\n", HEADERS, eb)


def emit_reshape(layer: Reshape, ctx: LayerCtx) -> LayerC:
    return LayerC("", "/* the same values in the same order */", HEADERS, 0, inplace=True)


def emit_affine_f32(layer: ChannelAffine, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    c = int(ctx.in_shape[-1])
    n = _n(ctx.in_shape) // c
    s = layer.scale.astype(np.float32)
    o = layer.offset.astype(np.float32)
    decls = arr("float", f"{p}_s", [f32(v) for v in s], 6) + arr("float", f"{p}_o", [f32(v) for v in o], 6)
    a = float(np.abs(layer.scale).max()) * (1 + 2.0**-50)
    cc = max(float(np.abs(layer.offset).max()), layer.spread)
    g = gamma(6, U32) + FN_ULPS * U32
    ed, ec, eb = _track(ctx, p, _n(ctx.in_shape), (a * (1 + g), g * a, g * cc + 4 * TINY))
    call = ec + f"ml_affine_f32(in, {n}, {c}, {p}_s, {p}_o, out);\n"
    return LayerC(decls + ed, call, HEADERS, 4 * (s.size + o.size) + eb)


register_layer_c(Conv, "f32", emit_conv_f32)
register_layer_c(DepthwiseConv, "f32", emit_depthwise_f32)
register_layer_c(Pool, "f32", emit_pool_f32)
register_layer_c(GlobalPool, "f32", emit_global_pool_f32)
register_layer_c(ChannelAffine, "f32", emit_affine_f32)
for _arith in ("f32", "f64", "int8"):
    register_layer_c(Reshape, _arith, emit_reshape)


# ---------------------------------------------------------------------------------------------- int8
def _q8_tables(p: str, q: Any) -> tuple[str, int, str]:
    decls = (
        arr("int32_t", f"{p}_bq", [str(int(v)) for v in q.b], 8)
        + arr("int32_t", f"{p}_mq", [str(int(v)) for v in q.m], 6)
        + arr("int8_t", f"{p}_sq", [str(int(v)) for v in q.sh], 16)
    )
    nbytes = 9 * len(q.b)
    table = "NULL"
    if getattr(q, "table", None) is not None:
        decls += arr("int8_t", f"{p}_tq", [str(int(v)) for v in q.table], 16)
        table = f"{p}_tq"
        nbytes += 256
    return decls, nbytes, table


def emit_conv_int8(layer: Conv | DepthwiseConv, ctx: LayerCtx) -> LayerC:
    from microlearn.passes.quantize_conv import ConvQ

    q = ctx.quant
    if not isinstance(q, ConvQ):
        raise ValueError(f"layer {ctx.index}: no int8 quantization for this convolution")
    p = ctx.prefix
    if q.depthwise:
        k = q.w.reshape(-1)  # kh, kw, c, m
        n_out = int(q.w.shape[3])
        fn = "ml_depthwise_q8"
    else:
        k = np.transpose(q.w, (3, 0, 1, 2)).reshape(-1)  # f, kh, kw, c
        n_out = int(q.w.shape[3])
        fn = "ml_conv2d_q8"
    decls = arr("int8_t", f"{p}_kq", [str(int(v)) for v in k], 16)
    tables, nbytes, table = _q8_tables(p, q)
    decls += tables + geom_decl(f"{p}_g", layer.window, ctx.in_shape)
    call = f"{fn}(in, &{p}_g, {p}_kq, {p}_bq, {p}_mq, {p}_sq, {n_out}, "
    call += f"{q.zx}, {q.out.zero}, {q.lo}, {table}, out);\n"
    return LayerC(decls, call, HEADERS, k.size + nbytes + 26)


def emit_pool_int8(layer: Pool, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    op = 0 if layer.op == "max" else 1
    return LayerC(geom_decl(f"{p}_g", layer.window, ctx.in_shape), f"ml_pool_q8(in, &{p}_g, {op}, out);\n",
                  HEADERS, 26)  # fmt: skip


def emit_global_pool_int8(layer: GlobalPool, ctx: LayerCtx) -> LayerC:
    c = int(ctx.in_shape[-1])
    op = 0 if layer.op == "max" else 1
    return LayerC("", f"ml_global_pool_q8(in, {layer.positions}, {c}, {op}, out);\n", HEADERS, 0)


def emit_affine_int8(layer: ChannelAffine, ctx: LayerCtx) -> LayerC:
    from microlearn.passes.quantize_conv import AffineQ

    q = ctx.quant
    if not isinstance(q, AffineQ):
        raise ValueError(f"layer {ctx.index}: no int8 quantization for this affine layer")
    p = ctx.prefix
    c = int(ctx.in_shape[-1])
    n = _n(ctx.in_shape) // c
    decls = arr("int8_t", f"{p}_wq", [str(int(v)) for v in q.w], 16)
    tables, nbytes, _ = _q8_tables(p, q)
    call = f"ml_affine_q8(in, {n}, {c}, {p}_wq, {p}_bq, {p}_mq, {p}_sq, {q.zx}, {q.out.zero}, out);\n"
    return LayerC(decls + tables, call, HEADERS, c + nbytes)


register_layer_c(Conv, "int8", emit_conv_int8)
register_layer_c(DepthwiseConv, "int8", emit_conv_int8)
register_layer_c(Pool, "int8", emit_pool_int8)
register_layer_c(GlobalPool, "int8", emit_global_pool_int8)
register_layer_c(ChannelAffine, "int8", emit_affine_int8)
