"""The network codec (family 6): one record per layer, per-layer-kind codecs in a registry.

Sections (schema ``NETWORK``):

* ``SHAP`` i32, ``n_tensors*4``: every tensor's shape, input first: ``rank, d0, d1, d2`` (unused dims 1;
  rank 1..3, NHWC).
* ``LAYR`` i32, ``n_layers*8``: per layer ``code, p0 .. p6``: the layer kind's record code
  (``ir.network.layer_by_code``) and up to seven integers of its own.
* ``PRMS`` f64, ``n_params``: every layer's parameters in layer order, each layer's as its codec lays them
  out (Dense: ``n_out`` rows of ``n_in`` weights, then ``n_out`` biases).
* ``MODE`` u8, 3: the library's arithmetic (0 float64, 1 float32), the decision (0 none, 1 argmax,
  2 threshold), 1 if the library's result is replayable exactly.
* ``LABL``, ``FNAM``, ``SRCE`` as every family.

A layer kind registers ``register_layer_codec(LayerType, encode, decode)``: ``encode(layer) -> (ints,
params)`` (at most seven ints, a float64 array) and ``decode(ints, params_from, in_shape) -> (layer, used)``
where ``params_from`` is the float64 array from the layer's first parameter on and ``used`` how many it
took. The loader checks that the records chain: each layer's ``out_shape`` equals the next SHAP entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    DT_F64,
    DT_I8,
    DT_I32,
    DT_U8,
    TASK_CLASSIFY,
    TASK_REGRESS,
    fail,
    text_sections,
)
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import (
    Decoded,
    FamilySchema,
    Finite,
    OneOf,
    SectionSpec,
    text_specs,
)
from microlearn.errors import ModelFileError
from microlearn.ir.base import Task
from microlearn.ir.network import (
    ACTIVATION_CODES,
    ACTIVATIONS,
    Activation,
    BatchNormFold,
    Dense,
    Network,
    layer_by_code,
)

MAX_FEATURES = 1 << 20
MAX_OUTPUTS = 65535
MAX_LAYERS = 256
RECORD = 8
DTYPES = ("float64", "float32")
DECISIONS = ("none", "argmax", "threshold")
_CR = (TASK_CLASSIFY, TASK_REGRESS)
_C = (TASK_CLASSIFY,)

NETWORK = FamilySchema(
    code=6,
    name="neural network",
    outputs={TASK_CLASSIFY: (2, MAX_OUTPUTS), TASK_REGRESS: (1, MAX_OUTPUTS)},
    max_features=MAX_FEATURES,
    min_dims={"n_layers": 1, "n_tensors": 2},
    sections=(
        SectionSpec(b"SHAP", DT_I32, True, "n_tensors*4", _CR, True, (),
                    "each tensor's shape, input first: rank, d0, d1, d2 (NHWC, unused dims 1)"),
        SectionSpec(b"LAYR", DT_I32, True, "n_layers*8", _CR, True, (),
                    "per layer: record code of its kind, then up to seven integers of its own"),
        SectionSpec(b"PRMS", DT_F64, True, "n_params", _CR, True, (Finite(),),
                    "every layer's parameters in layer order"),
        SectionSpec(b"MODE", DT_U8, True, "3", _CR, True, (OneOf((0, 1, 2)),),
                    "arithmetic (0 f64, 1 f32), decision (0 none, 1 argmax, 2 threshold), exact (0/1)"),
        SectionSpec(b"QINP", DT_I32, False, "3", _CR, False, (),
                    "int8 method: the input's quantization multiplier, shift and zero point"),
        SectionSpec(b"QLYR", DT_I32, False, "n_qlayers*8", _CR, False, (),
                    "int8 method, per quantized layer: kind (1 dense, 2 activation, 3 conv, 4 depthwise, "
                    "5 pool, 6 reshape, 7 per-channel affine), n_out, output zero point, lower clamp, "
                    "table index or -1, 1 for a final layer giving accumulators, input zero point "
                    "(3, 4, 7), 0"),
        SectionSpec(b"QWGT", DT_I8, False, "n_qweights", _CR, False, (),
                    "int8 method: weights, per layer: dense n_out rows of n_in; conv and depthwise "
                    "kernels in Keras' order (kh, kw, C, F / M); affine one per channel"),
        SectionSpec(b"QBIA", DT_I32, False, "n_qchannels", _CR, False, (),
                    "int8 method: int32 biases per output channel (dense: input zero point folded in)"),
        SectionSpec(b"QMUL", DT_I32, False, "n_qchannels", _CR, False, (),
                    "int8 method: requantization multipliers in [2^30, 2^31) (0 for a final layer)"),
        SectionSpec(b"QSHF", DT_I8, False, "n_qchannels", _CR, False, (),
                    "int8 method: requantization shifts"),
        SectionSpec(b"QTAB", DT_I8, False, "n_qtables*256", _CR, False, (),
                    "int8 method: 256-entry activation tables (tanh, logistic)"),
        SectionSpec(b"QSCL", DT_F64, False, "2", _CR, False, (),
                    "int8 method: the value of one unit of the final accumulators; the calibration rows"),
        *text_specs(_CR, "the estimator, e.g. sklearn.neural_network.MLPClassifier", labels=_C),
    ),
)  # fmt: skip

Encode = Callable[[Any], tuple[list[int], npt.NDArray[np.float64]]]
Decode = Callable[[list[int], npt.NDArray[np.float64], tuple[int, ...]], tuple[Any, int]]


@dataclass(frozen=True)
class LayerCodec:
    encode: Encode
    decode: Decode


_CODECS: dict[type, LayerCodec] = {}


def register_layer_codec(layer_type: type, encode: Encode, decode: Decode) -> None:
    """Make layers of ``layer_type`` (registered in ir.network, with its ``code``) writable and readable."""
    _CODECS[layer_type] = LayerCodec(encode, decode)


# ---------------------------------------------------------------------------------------------- Dense
# A layer with a batch normalization folded in (ir.network.BatchNormFold) writes its activation code plus
# FOLDED and two more parameters after its biases: the fold's bias and spread (for the error bound only).
FOLDED = 8


def fold_code(layer: Any) -> tuple[int, npt.NDArray[np.float64]]:
    """The activation field of a Dense / Conv / DepthwiseConv record and the fold's parameters."""
    act = ACTIVATION_CODES[layer.activation]
    if layer.fold is None:
        return act, np.zeros(0)
    return act + FOLDED, np.array([layer.fold.bias, layer.fold.spread], dtype=np.float64)


def read_fold(act: int, p: npt.NDArray[np.float64], used: int) -> tuple[int, BatchNormFold | None, int]:
    """(activation code, fold or None, parameters used) of a record's activation field."""
    if act < FOLDED:
        return act, None, used
    if p.size < used + 2:
        raise fail("PRMS ends inside a folded batch normalization")
    try:
        fold = BatchNormFold(float(p[used]), float(p[used + 1]))
    except ValueError as e:
        raise fail(f"a folded batch normalization is inconsistent: {e}") from e
    return act - FOLDED, fold, used + 2


def _enc_dense(layer: Dense) -> tuple[list[int], npt.NDArray[np.float64]]:
    act, extra = fold_code(layer)
    p = np.concatenate([layer.weight.T.reshape(-1), layer.bias, extra])
    return [layer.n_out, act], p


def _dec_dense(ints: list[int], p: npt.NDArray[np.float64], in_shape: tuple[int, ...]) -> tuple[Dense, int]:
    n_out, act = ints[0], ints[1]
    n_in = in_shape[0] if len(in_shape) == 1 else 0
    used = n_in * n_out + n_out
    act, fold, total = read_fold(act, p, used)
    if len(in_shape) != 1 or not 1 <= n_out <= MAX_OUTPUTS * 16 or not 0 <= act < len(ACTIVATIONS):
        raise fail("a dense layer record does not fit its input")
    if p.size < used:
        raise fail("PRMS ends inside a dense layer")
    w = np.ascontiguousarray(p[: n_in * n_out].reshape(n_out, n_in).T)
    return Dense(w, np.array(p[n_in * n_out : used]), ACTIVATIONS[act], fold), total


def _enc_act(layer: Activation) -> tuple[list[int], npt.NDArray[np.float64]]:
    return [ACTIVATION_CODES[layer.activation]], np.zeros(0)


def _dec_act(
    ints: list[int], p: npt.NDArray[np.float64], in_shape: tuple[int, ...]
) -> tuple[Activation, int]:
    if not 0 <= ints[0] < len(ACTIVATIONS):
        raise fail("an activation record holds an unknown activation")
    return Activation(ACTIVATIONS[ints[0]]), 0


register_layer_codec(Dense, _enc_dense, _dec_dense)
register_layer_codec(Activation, _enc_act, _dec_act)


# ---------------------------------------------------------------------------------------------- codec
def _shape_row(s: tuple[int, ...]) -> list[int]:
    if not 1 <= len(s) <= 3:
        raise ModelFileError(f"a tensor of rank {len(s)}; model files hold ranks 1 to 3")
    return [len(s), *s, *([1] * (3 - len(s)))]


def dump(ir: Network) -> Encoded:
    if len(ir.layers) > MAX_LAYERS or ir.n_inputs > MAX_FEATURES or ir.n_outputs > MAX_OUTPUTS:
        raise ModelFileError(
            f"the network has {len(ir.layers)} layers, {ir.n_inputs} inputs and {ir.n_outputs} outputs; "
            f"a model file holds at most {MAX_LAYERS}, {MAX_FEATURES} and {MAX_OUTPUTS}"
        )
    recs: list[int] = []
    params: list[npt.NDArray[np.float64]] = []
    for i, layer in enumerate(ir.layers):
        codec = _CODECS.get(type(layer))
        if codec is None:
            raise ModelFileError(f"layer {i} ({layer.describe()}) has no model-file codec")
        ints, p = codec.encode(layer)
        if len(ints) > RECORD - 1:
            raise ModelFileError(f"layer {i}: a record holds at most {RECORD - 1} integers")
        recs += [int(layer.code), *ints, *([0] * (RECORD - 1 - len(ints)))]
        params.append(np.asarray(p, dtype=np.float64).reshape(-1))
    shap = [v for s in ir.shapes for v in _shape_row(s)]
    mode = [DTYPES.index(ir.dtype), DECISIONS.index(ir.decision), int(ir.exact)]
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"SHAP", np.array(shap, dtype=np.int32)),
        (b"LAYR", np.array(recs, dtype=np.int32)),
        (b"PRMS", np.concatenate(params) if params else np.zeros(0)),
        (b"MODE", np.array(mode, dtype=np.uint8)),
    ]
    out += _dump_quant(ir)
    out += text_sections(ir.classes, ir.feature_names, ir.source)
    task = TASK_CLASSIFY if ir.task == Task.CLASSIFY else TASK_REGRESS
    return Encoded(task, ir.n_inputs, ir.n_outputs, out)


def load(d: Decoded) -> Network:
    h = d.header
    a = d.arrays
    shap = a[b"SHAP"].astype(np.int64).reshape(-1, 4)
    recs = a[b"LAYR"].astype(np.int64).reshape(-1, RECORD)
    prms = a[b"PRMS"].astype(np.float64)
    mode = [int(v) for v in a[b"MODE"]]
    if len(shap) != len(recs) + 1 or len(recs) > MAX_LAYERS:
        raise fail("SHAP must hold one shape more than LAYR holds layers")
    shapes = []
    for row in shap:
        rank = int(row[0])
        if (
            not 1 <= rank <= 3
            or np.any(row[1:] < 1)
            or np.any(row[1:] > MAX_FEATURES)
            or np.any(row[1 + rank :] != 1)
        ):
            raise fail("SHAP holds a shape that is not rank 1..3 with dimensions >= 1")
        shapes.append(tuple(int(v) for v in row[1 : 1 + rank]))
    if int(np.prod(shapes[0])) != h.n_features:
        raise fail("the input shape does not hold n_features values")
    if mode[2] > 1 or mode[0] > 1:
        raise fail("MODE holds a code out of range")
    layers = []
    off = 0
    for i, rec in enumerate(recs):
        cls = layer_by_code(int(rec[0]))
        codec = None if cls is None else _CODECS.get(cls)
        if codec is None:
            raise ModelFileError(
                f"layer {i} has kind code {int(rec[0])}, which this microlearn does not know"
            )
        try:
            layer, used = codec.decode([int(v) for v in rec[1:]], prms[off:], shapes[i])
        except (ValueError, IndexError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise fail(f"layer {i} cannot be built from its record: {e}") from e
        try:
            got = tuple(layer.out_shape(shapes[i]))
        except ValueError as e:
            raise fail(f"layer {i} does not take its input: {e}") from e
        if got != shapes[i + 1]:
            raise fail(f"layer {i} gives shape {got}, SHAP says {shapes[i + 1]}")
        layers.append(layer)
        off += used
    if off != prms.size:
        raise fail("PRMS holds more values than the layers use")
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    task = Task.CLASSIFY if h.task == TASK_CLASSIFY else Task.REGRESS
    from microlearn.ir.network_keras import KerasNetwork

    cls = KerasNetwork if mode[0] == 1 and not mode[2] else Network  # a float32 library's network: Keras'
    try:
        ir = cls(
            task=task,
            input_shape=shapes[0],
            layers=tuple(layers),
            dtype=DTYPES[mode[0]],  # type: ignore[arg-type]
            decision=DECISIONS[mode[1]],  # type: ignore[arg-type]
            exact=bool(mode[2]),
            classes=(np.asarray(labels) if labels is not None else np.arange(h.n_outputs))
            if task == Task.CLASSIFY
            else None,
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent network: {e}") from e
    if ir.n_outputs != h.n_outputs:
        raise fail(f"the network has {ir.n_outputs} outputs; the header says {h.n_outputs}")
    if b"QLYR" in a:
        ir = dataclasses.replace(ir, quant=_load_quant(ir, a))
    return ir


# ---------------------------------------------------------------------------------------------- int8
def _dump_quant(ir: Network) -> list[tuple[bytes, npt.NDArray[Any]]]:
    """The int8 sections of a network quantized by passes.quantize / passes.quantize_conv.

    QLYR kinds: 1 dense, 2 activation, 3 convolution, 4 depthwise convolution, 5 pooling (local or
    global, as the network's layer), 6 reshape, 7 per-channel affine. Record ``kind, n_out, zero, lo,
    table, final, zx, 0``: ``zx`` is the input's zero point of kinds 3, 4 and 7 (their biases do not
    fold it: a padded tap is the real value 0). Weights in QWGT in the float layer's order (dense
    ``n_out`` rows of ``n_in``; convolution kernels (kh, kw, C, F) and (kh, kw, C, M); affine C)."""
    from microlearn.passes.quantize import ActivationQ, DenseQ
    from microlearn.passes.quantize_conv import AffineQ, ConvQ, PoolQ, ReshapeQ

    q = ir.quant
    if q is None:
        return []
    recs: list[int] = []
    w: list[npt.NDArray[Any]] = []
    b: list[npt.NDArray[Any]] = []
    m: list[npt.NDArray[Any]] = []
    sh: list[npt.NDArray[Any]] = []
    tabs: list[npt.NDArray[Any]] = []

    def weights(r: Any) -> None:
        w.append(np.asarray(r.w, np.int8).reshape(-1))
        b.append(np.asarray(r.b, np.int32))
        m.append(np.asarray(r.m, np.int32))
        sh.append(np.asarray(r.sh, np.int8))

    for r in q.layers:
        t = -1
        table = getattr(r, "table", None)
        if table is not None:
            t = len(tabs)
            tabs.append(np.asarray(table, np.int8))
        if isinstance(r, DenseQ):
            final = r.out is None
            zero = 0 if r.out is None else r.out.zero
            recs += [1, int(r.w.shape[0]), zero, r.lo, t, int(final), 0, 0]
            weights(r)
        elif isinstance(r, ActivationQ):
            recs += [2, 0, r.out.zero, r.lo, t, 0, 0, 0]
        elif isinstance(r, ConvQ):
            recs += [4 if r.depthwise else 3, len(r.b), r.out.zero, r.lo, t, 0, r.zx, 0]
            weights(r)
        elif isinstance(r, PoolQ):
            recs += [5, 0, 0, -128, -1, 0, 0, 0]
        elif isinstance(r, ReshapeQ):
            recs += [6, 0, 0, -128, -1, 0, 0, 0]
        elif isinstance(r, AffineQ):
            recs += [7, len(r.b), r.out.zero, -128, -1, 0, r.zx, 0]
            weights(r)
        else:
            raise ModelFileError(f"an int8 layer record {type(r).__name__} has no model-file form")
    last = q.layers[-1]
    return [
        (b"QINP", np.array([q.input_m, q.input_sh, q.input.zero], np.int32)),
        (b"QLYR", np.array(recs, np.int32)),
        (b"QWGT", np.concatenate(w)),
        (b"QBIA", np.concatenate(b)),
        (b"QMUL", np.concatenate(m)),
        (b"QSHF", np.concatenate(sh)),
        (b"QTAB", np.concatenate(tabs) if tabs else np.zeros(0, np.int8)),
        (b"QSCL", np.array([float(last.acc_scale), float(q.n_calibration)])),
    ]


def _load_quant(ir: Network, a: dict[bytes, npt.NDArray[Any]]) -> Any:
    from microlearn.ir.network_conv import ChannelAffine, Conv, DepthwiseConv, GlobalPool, Pool, Reshape
    from microlearn.passes.quantize import ActivationQ, DenseQ, NetworkQ, TensorQ
    from microlearn.passes.quantize_conv import AffineQ, ConvQ, PoolQ, ReshapeQ

    need = (b"QINP", b"QWGT", b"QBIA", b"QMUL", b"QSHF", b"QTAB", b"QSCL")
    if any(t not in a for t in need):
        raise fail("a network's int8 sections are incomplete")
    recs = a[b"QLYR"].astype(np.int64).reshape(-1, RECORD)
    w, bq, mq, sq = a[b"QWGT"], a[b"QBIA"], a[b"QMUL"], a[b"QSHF"]
    tabs = a[b"QTAB"].reshape(-1, 256)
    inp = [int(v) for v in a[b"QINP"]]
    scl = a[b"QSCL"]
    if len(recs) > len(ir.layers) or len(recs) < 1:
        raise fail("QLYR holds more int8 layers than the network has")
    layers: list[Any] = []
    ow = oc = 0

    def take(n_w: int, n_out: int, final: bool) -> tuple[Any, ...]:
        """(weights, biases, multipliers, shifts) of int8 layer i from QWGT / QBIA / QMUL / QSHF."""
        if ow + n_w > w.size or oc + n_out > bq.size:
            raise fail("QWGT or QBIA ends inside an int8 layer")
        mm = mq[oc : oc + n_out]
        ss = sq[oc : oc + n_out].astype(np.int64)
        if not final and np.any(((mm != 0) & (mm < 2**30)) | (ss < -30) | (ss > 31)):
            raise fail("QMUL / QSHF hold a multiplier or shift out of range")
        return (np.asarray(w[ow : ow + n_w], np.int8), np.asarray(bq[oc : oc + n_out], np.int32),
                np.asarray(mm, np.int32), np.asarray(ss, np.int8))  # fmt: skip

    for i, r in enumerate(recs):
        kind, n_out, zero, lo, t, final, zx = (int(v) for v in r[:7])
        layer = ir.layers[i]
        in_shape = tuple(int(d) for d in ir.shapes[i])
        table = None
        if t >= 0:
            if t >= len(tabs):
                raise fail("QLYR names a table QTAB does not hold")
            table = np.asarray(tabs[t], np.int8)
        if not (-128 <= zero <= 127 and -128 <= lo <= 127 and -128 <= zx <= 127):
            raise fail("QLYR holds a zero point or clamp outside int8")
        if final and (kind != 1 or i != len(recs) - 1):
            raise fail(f"int8 layer {i} gives accumulators but is not the last dense layer")
        if kind == 1:
            if not isinstance(layer, Dense) or n_out != layer.n_out:
                raise fail(f"int8 layer {i} does not match the network's layer")
            n_in = layer.n_in
            wq, bb, mm, ss = take(n_in * n_out, n_out, bool(final))
            out = None if final else TensorQ(1.0, zero)
            layers.append(DenseQ(wq.reshape(n_out, n_in), bb, mm, ss, out, lo, table,
                                 float(scl[0]) if final else 1.0))  # fmt: skip
        elif kind == 2:
            if not isinstance(layer, Activation):
                raise fail(f"int8 layer {i} does not match the network's layer")
            layers.append(ActivationQ(TensorQ(1.0, zero), lo, table))
        elif kind in (3, 4):
            depthwise = kind == 4
            if not isinstance(layer, DepthwiseConv if depthwise else Conv):
                raise fail(f"int8 layer {i} does not match the network's layer")
            k = layer.kernel
            if n_out != (k.shape[2] * k.shape[3] if depthwise else k.shape[3]):
                raise fail(f"int8 layer {i} does not match the network's layer")
            wq, bb, mm, ss = take(k.size, n_out, False)
            layers.append(ConvQ(layer, in_shape, wq.reshape(k.shape), bb, mm, ss, zx, TensorQ(1.0, zero),
                                lo, table, depthwise))  # fmt: skip
        elif kind == 5:
            if not isinstance(layer, Pool | GlobalPool):
                raise fail(f"int8 layer {i} does not match the network's layer")
            layers.append(PoolQ(layer, in_shape))
        elif kind == 6:
            if not isinstance(layer, Reshape):
                raise fail(f"int8 layer {i} does not match the network's layer")
            layers.append(ReshapeQ())
        elif kind == 7:
            if not isinstance(layer, ChannelAffine) or n_out != len(layer.scale) or table is not None:
                raise fail(f"int8 layer {i} does not match the network's layer")
            wq, bb, mm, ss = take(n_out, n_out, False)
            layers.append(AffineQ(wq, bb, mm, ss, zx, TensorQ(1.0, zero)))
        else:
            raise fail(f"QLYR holds an unknown int8 layer kind {kind}")
        if kind in (1, 3, 4, 7):
            ow += int(layers[-1].w.size)
            oc += n_out
    if ow != w.size or oc != bq.size:
        raise fail("QWGT or QBIA holds more values than the int8 layers use")
    last = layers[-1]
    if not (isinstance(last, DenseQ) and last.out is None):
        raise fail("the int8 layers do not end in a layer giving accumulators")
    if not (np.all(np.isfinite(scl)) and scl[0] > 0):
        raise fail("QSCL holds a scale that is not a finite value > 0")
    if not (2**30 <= inp[0] < 2**31 or inp[0] == 0) or not -128 <= inp[2] <= 127:
        raise fail("QINP holds an input multiplier or zero point out of range")
    return NetworkQ(TensorQ(1.0, inp[2]), inp[0], inp[1], tuple(layers), int(scl[1]))


register_family(code=NETWORK.code, ir_type=Network, dump=dump, load=load, schema=NETWORK)
