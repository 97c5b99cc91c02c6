"""Network IR -> C, layer by layer through a per-layer-kind emitter registry (docs/networks.md).

A layer kind registers how it is written for each arithmetic::

    register_layer_c(Dense, "f32", emit_dense_f32)   # emit(layer, ctx: LayerCtx) -> LayerC

``"f32"``: float32 on ``const float *in`` -> ``float *out`` (and, when ``ctx.track``, updating the running
error bound ``ml_nn_bound *st``; a kind that cannot bound its error sets ``st->e = INFINITY``);
``"f64"``: the float64 replay, ``const double *in`` -> ``double *out``; ``"int8"``: ``const int8_t *in``
-> ``int8_t *out`` with the layer's quantization ``ctx.quant``. ``LayerC.inplace`` marks a layer that only
reinterprets its input (Flatten, Reshape): no call and no buffer swap. The network emitter chains the
calls between the two halves of an activation arena on the stack, each half sized for the largest tensor.

Methods: ``float`` (float32 forward with a running error bound; a classifier's class is the library's by
margin, else the float64 replay decides; a regressor's values within ``Network.value_bound``) and ``int8``
(networks quantized by ``passes.quantize`` with a calibration set: ``convert(est, method="int8",
calibration=X)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f32, f64, header
from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.ir.base import Task
from microlearn.ir.linear import U32, gamma
from microlearn.ir.network import ACTIVATION_CODES, Activation, Dense, Network

ARITHS = ("f32", "f64", "int8")
CTYPES = {"f32": "float", "f64": "double", "int8": "int8_t"}
SLACK = 1.0 + 2.0**-18


@dataclass(frozen=True)
class LayerCtx:
    """What a layer's emitter is told: ``prefix`` for its tables' names (``NAME_l<i>``), its index,
    tensor shapes, the arithmetic, whether the output transform is left to the API (the last layer of
    a classifier: the decision is taken on logits), whether to track the error bound, and (int8) the
    layer's quantization record from ``passes.quantize``."""

    prefix: str
    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    arith: str
    skip_output_activation: bool = False
    track: bool = False
    quant: Any = None
    dtype: str = (
        "float64"  # the library's arithmetic (the f64 replay of a float32 network uses float32 weights)
    )


@dataclass(frozen=True)
class LayerC:
    """A layer's C: ``decls`` (its const tables), ``call`` (statements reading ``in`` and writing ``out``),
    the runtime headers it needs and its const bytes."""

    decls: str
    call: str
    runtime_headers: tuple[str, ...] = ("ml_network.h",)
    const_bytes: int = 0
    inplace: bool = False


EmitLayer = Callable[[Any, LayerCtx], LayerC]
_LAYER_C: dict[tuple[type, str], EmitLayer] = {}


def register_layer_c(layer_type: type, arith: str, emit: EmitLayer) -> None:
    """Register how layers of ``layer_type`` are written in arithmetic ``arith`` ("f32", "f64", "int8")."""
    if arith not in ARITHS:
        raise ValueError(f"unknown arithmetic {arith!r}; known: {ARITHS}")
    _LAYER_C[(layer_type, arith)] = emit


def layer_c(layer: Any, ctx: LayerCtx) -> LayerC:
    fn = _LAYER_C.get((type(layer), ctx.arith))
    if fn is None:
        raise UnsupportedEstimatorError(
            f"layer {ctx.index} ({layer.describe()}) has no {ctx.arith} C emitter: "
            f"{'choose the float method' if ctx.arith == 'int8' else 'this layer kind is not supported in C'}"
        )
    return fn(layer, ctx)


def arr(ctype: str, name: str, items: list[str], per_line: int) -> str:
    return f"static const {ctype} {name}[{len(items)}] = {{\n" + array_lines(items, per_line) + "\n};\n"


def _up32(v: float) -> np.float32:
    x = np.float32(v)
    if float(x) < v:
        x = np.nextafter(x, np.float32(np.inf))
    return np.float32(x)


# ---------------------------------------------------------------------------------------------- Dense
def dense_err(layer: Dense) -> tuple[np.float32, np.float32, np.float32]:
    """k1, k2, k3 of ``e' = k1 e + k2 m + k3`` (m: max |computed input|), rounded up to float32: the
    float32 evaluation with float32-rounded weights (docs/networks.md, "The float method")."""
    c = layer.col_abs_max * (1 + 2.0**-50)
    g = gamma(layer.n_in + 3, U32)
    bmax = float(np.abs(layer.bias).max())
    tiny = (layer.n_in + 2) * 2.0**-149
    # a weight below the float32 range rounds to 0 or a subnormal: an absolute error up to 2^-150 each
    k2 = g * c + layer.n_in * 2.0**-149
    return _up32(c * (1 + g) * SLACK), _up32(k2 * SLACK), _up32((g * bmax + tiny) * SLACK + 2.0**-140)


def _act_name(layer: Any, ctx: LayerCtx) -> str:
    act = str(layer.activation)
    return "identity" if ctx.skip_output_activation else act


def emit_dense_f32(layer: Dense, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    n_in, n_out = layer.n_in, layer.n_out
    with np.errstate(under="ignore"):
        w = layer.weight.T.astype(np.float32).reshape(-1)
        b = layer.bias.astype(np.float32)
    decls = arr("float", f"{p}_w", [f32(v) for v in w], 6) + arr("float", f"{p}_b", [f32(v) for v in b], 6)
    nbytes = 4 * (w.size + b.size)
    act = _act_name(layer, ctx)
    call = ""
    if ctx.track:
        k1, k2, k3 = dense_err(layer)
        decls += f"static const ml_nn_dense_err {p}_err = {{{f32(k1)}, {f32(k2)}, {f32(k3)}}};\n"
        nbytes += 12
        call += f"st->m = ml_nn_absmax_f32(in, {n_in});\nml_nn_dense_bound(st, &{p}_err);\n"
    call += f"ml_nn_dense_f32(in, {n_in}, {p}_w, {p}_b, {n_out}, out);\n"
    if act != "identity":
        call += f"ml_nn_act_f32(out, {n_out}, {ACTIVATION_CODES[act]});\n"
        if ctx.track:
            call += f"ml_nn_act_bound(st, {ACTIVATION_CODES[act]});\n"
    return LayerC(decls, call, const_bytes=nbytes)


def emit_dense_f64(layer: Dense, ctx: LayerCtx) -> LayerC:
    p = ctx.prefix
    n_in, n_out = layer.n_in, layer.n_out
    act = _act_name(layer, ctx)
    if ctx.dtype == "float32":  # float32 weights: the f32 tables serve the replay too
        call = f"ml_nn_dense_f64_w32(in, {n_in}, {p}_w, {p}_b, {n_out}, out);\n"
        decls, nbytes = "", 0
    else:
        w = layer.weight.T.reshape(-1)
        decls = arr("double", f"{p}_w64", [f64(v) for v in w], 4) + arr(
            "double", f"{p}_b64", [f64(v) for v in layer.bias], 4
        )
        nbytes = 8 * (w.size + n_out)
        call = f"ml_nn_dense_f64(in, {n_in}, {p}_w64, {p}_b64, {n_out}, out);\n"
    if act != "identity":
        call += f"ml_nn_act_f64(out, {n_out}, {ACTIVATION_CODES[act]});\n"
    return LayerC(decls, call, const_bytes=nbytes)


def _n(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def emit_activation_f32(layer: Activation, ctx: LayerCtx) -> LayerC:
    n = _n(ctx.in_shape)
    act = _act_name(layer, ctx)
    call = f"memcpy(out, in, {n} * sizeof(float));\n"
    if act != "identity":
        call += f"ml_nn_act_f32(out, {n}, {ACTIVATION_CODES[act]});\n"
        if ctx.track:
            call += f"ml_nn_act_bound(st, {ACTIVATION_CODES[act]});\n"
    return LayerC("", call)


def emit_activation_f64(layer: Activation, ctx: LayerCtx) -> LayerC:
    n = _n(ctx.in_shape)
    act = _act_name(layer, ctx)
    call = f"memcpy(out, in, {n} * sizeof(double));\n"
    if act != "identity":
        call += f"ml_nn_act_f64(out, {n}, {ACTIVATION_CODES[act]});\n"
    return LayerC("", call)


register_layer_c(Dense, "f32", emit_dense_f32)
register_layer_c(Dense, "f64", emit_dense_f64)
register_layer_c(Activation, "f32", emit_activation_f32)
register_layer_c(Activation, "f64", emit_activation_f64)


# ---------------------------------------------------------------------------------------------- chains
@dataclass(frozen=True)
class Chain:
    decls: str
    fn: str
    headers: tuple[str, ...]
    const_bytes: int


def chain(
    ir: Any, name: str, arith: str, fn_name: str, *, track: bool, skip_last: bool, quant: Any = None
) -> Chain:
    """``static inline const T *NAME_<fn_name>(const T *x, T *arena[, ml_nn_bound *st])``: every layer in
    turn between the arena's halves; returns where the last tensor is."""
    t = CTYPES[arith]
    half = ir.max_tensor
    decls: list[str] = []
    steps: list[str] = []
    headers: list[str] = []
    nbytes = 0
    cur = "x"
    flip = 0
    for i, layer in enumerate(ir.layers):
        ctx = LayerCtx(
            prefix=f"{name}_l{i}",
            index=i,
            in_shape=ir.shapes[i],
            out_shape=ir.shapes[i + 1],
            arith=arith,
            skip_output_activation=skip_last and i == len(ir.layers) - 1,
            track=track,
            quant=None if quant is None else quant.layers[i],
            dtype=ir.dtype,
        )
        lc = layer_c(layer, ctx)
        if lc.decls:
            decls.append(lc.decls)
        headers += [h for h in lc.runtime_headers if h not in headers]
        nbytes += lc.const_bytes
        head = f"    /* layer {i}: {layer.describe()} */\n"
        if lc.inplace:
            steps.append(head + "".join(f"    {ln}\n" for ln in lc.call.splitlines()))
            continue
        dst = f"arena + {flip * half}" if flip else "arena"
        body = "".join(f"        {ln}\n" for ln in lc.call.splitlines())
        steps.append(
            f"{head}    {{\n        const {t} *in = {cur};\n        {t} *out = {dst};\n{body}    }}\n"
        )
        cur = dst
        flip ^= 1
    st_arg = ", ml_nn_bound *st" if track else ""
    init = "    st->e = 0.0f;\n" if track else ""
    fn = (
        f"static inline const {t} *{name}_{fn_name}(const {t} *x, {t} *arena{st_arg})\n{{\n{init}"
        + "".join(steps)
        + f"    return {cur};\n}}\n"
    )
    return Chain("\n".join(decls), fn, tuple(headers), nbytes)


def _api_float(ir: Network, name: str, replay: bool) -> tuple[str, list[CFunction]]:
    n_in, k, half = ir.n_inputs, ir.n_values, ir.max_tensor
    out_act = ACTIVATION_CODES[ir.output_activation]
    if ir.task == Task.REGRESS:
        if k == 1:
            fn = (
                "/* The regressor's value for input x (float32; within the bound of docs/networks.md). */\n"
                f"static inline float {name}_predict(const float *x)\n{{\n"
                f"    float arena[{2 * half}];\n"
                f"    return {name}_forward_f32(x, arena)[0];\n}}\n"
            )
            return fn, [CFunction("predict", "float")]
        fn = (
            f"/* The regressor's {k} values for input x into out. */\n"
            f"static inline void {name}_predict_values(const float *x, float *out)\n{{\n"
            f"    float arena[{2 * half}];\n"
            f"    memcpy(out, {name}_forward_f32(x, arena), {k} * sizeof(float));\n}}\n"
        )
        return fn, [CFunction("predict_values", "void", k)]
    k_out = ir.n_outputs
    if not replay:
        rule = "z[0] > 0.0f ? 1 : 0" if k == 1 else f"ml_nn_argmax_f32(z, {k})"
        pred = (
            "/* Class index of input x from float32 logits: the library's wherever the running error bound\n"
            " * separates the top logit (docs/networks.md); otherwise the float32 logits' first largest. */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    float arena[{2 * half}];\n    ml_nn_bound st;\n"
            f"    const float *z = {name}_forward_f32(x, arena, &st);\n"
            f"    const int32_t c = ml_nn_decide_f32(z, {k}, st.e);\n"
            f"    return c >= 0 ? c : {rule};\n}}\n"
        )
    else:
        pred = ""
    replay_fn = (
        "/* The float64 replay of the library's arithmetic (near ties, NaN or inf). */\n"
        f"static int32_t {name}_replay(const float *x)\n{{\n"
        f"    double arena[{2 * half}], xd[{n_in}];\n    int32_t i;\n"
        f"    for (i = 0; i < {n_in}; i++) {{\n        xd[i] = (double)x[i];\n    }}\n"
        f"    return ml_nn_decide_f64({name}_forward_f64(xd, arena), {k});\n}}\n\n"
    )
    pred = pred or (
        "/* Class index of input x: the library's (docs/networks.md): float32 logits with a running error\n"
        " * bound decide when the top one leads by more than twice the bound, else the float64 replay. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float arena[{2 * half}];\n    ml_nn_bound st;\n"
        f"    const float *z = {name}_forward_f32(x, arena, &st);\n"
        f"    const int32_t c = ml_nn_decide_f32(z, {k}, st.e);\n"
        f"    if (c >= 0) {{\n        return c;\n    }}\n"
        f"    return {name}_replay(x);\n}}\n"
    )
    replay_text = replay_fn if replay else ""
    if ir.decision == "threshold":
        proba_body = (
            f"    const float *z = {name}_forward_f32(x, arena, &st);\n"
            "    const float p = 1.0f / (1.0f + expf(-z[0]));\n"
            "    out[0] = 1.0f - p;\n    out[1] = p;\n"
        )
    else:
        proba_body = (
            f"    memcpy(out, {name}_forward_f32(x, arena, &st), {k} * sizeof(float));\n"
            f"    ml_nn_act_f32(out, {k}, {out_act});\n"
        )
    proba = (
        f"/* Class probabilities of input x into out[0..{k_out - 1}] (float32). */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    float arena[{2 * half}];\n    ml_nn_bound st;\n{proba_body}}}\n"
    )
    api = [CFunction("predict", "int32"), CFunction("predict_proba", "void", k_out)]
    return replay_text + pred + "\n" + proba, api


def emit_float(ir: Network, name: str, command: str = "", replay: bool = True) -> CSource:
    check_c_name(name)
    cls = ir.task == Task.CLASSIFY
    if cls and replay and not ir.exact:
        raise InvalidInputError("this network's classes cannot be replayed exactly; use the float32 method")
    f = chain(ir, name, "f32", "forward_f32", track=cls, skip_last=cls)
    parts = [f.decls, f.fn]
    headers = list(f.headers)
    nbytes = f.const_bytes
    if cls and replay:
        r = chain(ir, name, "f64", "forward_f64", track=False, skip_last=True)
        parts += [r.decls, r.fn]
        headers += [h for h in r.headers if h not in headers]
        nbytes += r.const_bytes
    api_text, api = _api_float(ir, name, replay)
    body = "\n".join(p for p in parts if p) + "\n" + api_text
    arena = 2 * ir.max_tensor
    first = (
        "Link with -lm. Classes equal the library's (docs/networks.md); values within its stated bound."
        if replay
        else "Link with -lm. float32 tables only: classes are the library's where the running bound decides."
    )
    notes = [
        first,
        f"Activation arena: {arena} floats on the stack ({4 * arena} bytes)"
        + (f"; the float64 replay {arena} doubles ({8 * arena} bytes)." if cls and replay else "."),
    ]
    return header(
        ir,
        name,
        "float" if replay else "float32",
        body,
        api=api,
        const_bytes=nbytes,
        runtime_headers=tuple(headers),
        command=command,
        notes=notes,
        extra_defines=[("ARENA_BYTES", 4 * arena), ("N_LAYERS", len(ir.layers))],
    )


def emit_float32(ir: Network, name: str, command: str = "") -> CSource:
    return emit_float(ir, name, command, replay=False)


register_method(
    Network,
    "float",
    "float32 layers with a running error bound, float64 replay of near ties (classes exact)",
    emit_float,
    default=True,
)
register_method(
    Network,
    "float32",
    "float32 tables only (4 bytes per parameter): classes exact where the running bound decides",
    emit_float32,
    exact=False,
)


# ---------------------------------------------------------------------------------------------- int8
def emit_dense_int8(layer: Dense, ctx: LayerCtx) -> LayerC:
    from microlearn.passes.quantize import DenseQ

    q = ctx.quant
    if not isinstance(q, DenseQ) or q.out is None:
        raise InvalidInputError(f"layer {ctx.index}: no int8 quantization for a hidden dense layer")
    p = ctx.prefix
    n_in, n_out = layer.n_in, layer.n_out
    decls = (
        arr("int8_t", f"{p}_wq", [str(int(v)) for v in q.w.reshape(-1)], 16)
        + arr("int32_t", f"{p}_bq", [str(int(v)) for v in q.b], 8)
        + arr("int32_t", f"{p}_mq", [str(int(v)) for v in q.m], 6)
        + arr("int8_t", f"{p}_sq", [str(int(v)) for v in q.sh], 16)
    )
    nbytes = q.w.size + 9 * n_out
    table = "NULL"
    if q.table is not None:
        decls += arr("int8_t", f"{p}_tq", [str(int(v)) for v in q.table], 16)
        table = f"{p}_tq"
        nbytes += 256
    call = (
        f"ml_nn_dense_q8(in, {n_in}, {p}_wq, {p}_bq, {p}_mq, {p}_sq, {n_out}, {q.out.zero}, {q.lo}, "
        f"{table}, out);\n"
    )
    return LayerC(decls, call, const_bytes=nbytes)


def emit_activation_int8(layer: Activation, ctx: LayerCtx) -> LayerC:
    q = ctx.quant
    p = ctx.prefix
    n = _n(ctx.in_shape)
    if q.table is not None:
        decls = arr("int8_t", f"{p}_tq", [str(int(v)) for v in q.table], 16)
        call = (
            f"{{\n    int32_t i;\n    for (i = 0; i < {n}; i++) {{\n"
            f"        out[i] = {p}_tq[in[i] + 128];\n    }}\n}}\n"
        )
        return LayerC(decls, call, const_bytes=256)
    call = (
        f"{{\n    int32_t i;\n    for (i = 0; i < {n}; i++) {{\n"
        f"        out[i] = in[i] < {q.lo} ? (int8_t){q.lo} : in[i];\n    }}\n}}\n"
    )
    return LayerC("", call)


register_layer_c(Dense, "int8", emit_dense_int8)
register_layer_c(Activation, "int8", emit_activation_int8)


def emit_int8(ir: Network, name: str, command: str = "") -> CSource:
    from microlearn.passes.quantize import DenseQ

    check_c_name(name)
    q = ir.quant
    if q is None:
        raise InvalidInputError(
            "the int8 method needs a calibration set: convert(est, method='int8', calibration=X_cal), or "
            "--calibration rows.npy on the command line (a few hundred typical input rows, e.g. from "
            "the training data)"
        )
    nq = len(q.layers)
    last = ir.layers[nq - 1]
    fq = q.layers[-1]
    if not isinstance(last, Dense) or not isinstance(fq, DenseQ) or fq.out is not None:
        raise UnsupportedEstimatorError("the int8 method needs a network ending in a Dense layer")
    sub = _Prefix(ir, nq - 1)
    parts: list[str] = []
    headers = ["ml_network.h"]
    nbytes = 0
    n_in = ir.n_inputs
    half = max(int(np.prod(s)) for s in ir.shapes[:nq])
    if nq > 1:
        ch = chain(sub, name, "int8", "forward_q8", track=False, skip_last=False, quant=q)
        parts += [ch.decls, ch.fn]
        headers += [h for h in ch.headers if h not in headers]
        nbytes += ch.const_bytes
    p = f"{name}_l{nq - 1}"
    k = last.n_out
    parts.append(
        arr("int8_t", f"{p}_wq", [str(int(v)) for v in fq.w.reshape(-1)], 16)
        + arr("int32_t", f"{p}_bq", [str(int(v)) for v in fq.b], 8)
    )
    nbytes += fq.w.size + 4 * k
    fwd = f"{name}_forward_q8(xq, arena)" if nq > 1 else "xq"
    api_c = (
        "/* The int32 accumulators of the last layer (logits / scale) for input x: the input quantized from\n"
        " * its float32 bits, int8 layers, int32 accumulation; no floating-point operation. */\n"
        f"static inline void {name}_logits_q(const float *x, int32_t *acc)\n{{\n"
        f"    int8_t xq[{n_in}], arena[{2 * half}];\n    const int8_t *h;\n    int32_t i;\n"
        f"    for (i = 0; i < {n_in}; i++) {{\n"
        f"        xq[i] = ml_nn_quantize_bits(x[i], {q.input_m}, {q.input_sh}, {q.input.zero});\n    }}\n"
        f"    h = {fwd};\n"
        f"    ml_nn_dense_acc_q8(h, {last.n_in}, {p}_wq, {p}_bq, {k}, acc);\n"
        + ("    (void)arena;\n" if nq == 1 else "")
        + "}\n\n"
    )
    scale = f32(np.float32(fq.acc_scale))
    if ir.task == Task.CLASSIFY:
        out_act = ACTIVATION_CODES[ir.output_activation if isinstance(ir.layers[-1], Dense) else
                                   ir.layers[-1].activation]  # fmt: skip
        api_c += (
            "/* Class index of input x by the int8 network (its agreement with the library: verify). */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    int32_t acc[{k}];\n    {name}_logits_q(x, acc);\n"
            f"    return ml_nn_argmax_i32(acc, {k});\n}}\n\n"
        )
        if ir.decision == "threshold":
            proba = (
                "    const float p = 1.0f / (1.0f + expf(-(float)acc[0] * "
                + scale
                + "));\n    out[0] = 1.0f - p;\n    out[1] = p;\n"
            )
        else:
            proba = (
                f"    for (i = 0; i < {k}; i++) {{\n        out[i] = (float)acc[i] * {scale};\n    }}\n"
                f"    ml_nn_act_f32(out, {k}, {out_act});\n"
            )
        api_c += (
            f"/* Class probabilities of input x (float32 from the int8 logits). */\n"
            f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
            f"    int32_t acc[{k}];\n    int32_t i;\n    {name}_logits_q(x, acc);\n    (void)i;\n{proba}}}\n"
        )
        api = [CFunction("predict", "int32"), CFunction("predict_proba", "void", ir.n_outputs)]
    elif k == 1:
        api_c += (
            "/* The regressor's value for input x (int8 network; one float multiplication at the end). */\n"
            f"static inline float {name}_predict(const float *x)\n{{\n"
            f"    int32_t acc[1];\n    {name}_logits_q(x, acc);\n    return (float)acc[0] * {scale};\n}}\n"
        )
        api = [CFunction("predict", "float")]
    else:
        api_c += (
            f"/* The regressor's {k} values for input x (int8 network). */\n"
            f"static inline void {name}_predict_values(const float *x, float *out)\n{{\n"
            f"    int32_t acc[{k}], i;\n    {name}_logits_q(x, acc);\n"
            f"    for (i = 0; i < {k}; i++) {{\n        out[i] = (float)acc[i] * {scale};\n    }}\n}}\n"
        )
        api = [CFunction("predict_values", "void", k)]
    body = "\n".join(x for x in parts if x) + "\n" + api_c
    notes = [
        f"int8 weights and activations (calibrated on {q.n_calibration} rows), int32 accumulation, integer",
        "requantization: predict needs no floating point. Agreement with the library: measured by verify.",
        f"Activation arena: {2 * half} bytes on the stack, plus {n_in} bytes of quantized input.",
    ]
    return header(
        ir,
        name,
        "int8",
        body,
        api=api,
        const_bytes=nbytes,
        runtime_headers=tuple(headers),
        command=command,
        notes=notes,
        extra_defines=[("ARENA_BYTES", 2 * half + n_in), ("N_LAYERS", len(ir.layers))],
    )


class _Prefix:
    """The first ``n`` layers of a network, for ``chain``."""

    def __init__(self, net: Network, n: int) -> None:
        self.layers = net.layers[:n]
        self.shapes = net.shapes[: n + 1]
        self.dtype = net.dtype
        self.max_tensor = max(int(np.prod(s)) for s in self.shapes)


register_method(
    Network,
    "int8",
    "int8 weights and activations from a calibration set, int32 accumulation, no floating point",
    emit_int8,
)
