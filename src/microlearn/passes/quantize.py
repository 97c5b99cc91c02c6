"""Network -> int8 network: the quantization the ``int8`` C method runs (docs/networks.md, "int8").

``quantize(net, X_cal)`` runs the network's reference arithmetic on the calibration rows, takes each
tensor's range, and returns the same ``Network`` with ``quant`` set to a :class:`NetworkQ`:

* activations: int8 per tensor, ``real = s (q - z)``, the range [min, max] of the calibration values
  widened to hold 0 (``s = (max - min) / 255``, ``z = round(-128 - min / s)``);
* the input: quantized on the device from the float32 bits of x (``ml_nn_quantize_bits``, no floating
  point): ``q = z + round(x m / 2^(31 + sh))`` with ``m / 2^(31 + sh)`` the nearest to ``1 / s``;
* Dense weights int8, symmetric, per output channel (``s_w[j] = max_i |W_ij| / 127``); the last layer one
  scale for all outputs, so that its int32 accumulators compare as the logits do; biases int32 in units
  of ``s_in s_w[j]`` with the input's zero point folded in (``b_q - z_in sum_i w_q``);
* requantization: ``q_out = z_out + round(acc m / 2^(31 + sh))`` (int64 product, half away from zero),
  clamped to [-128, 127]; relu fused as the lower clamp at ``z_out``; tanh and the logistic as a 256-entry
  table from the int8 pre-activation to the int8 output (tanh: s = 1/128, z = 0; logistic: s = 1/256,
  z = -128);
* the last layer of a classifier gives int32 accumulators: ``argmax`` (first largest) or ``acc > 0``.

Layer kinds register how they quantize (``register_layer_quantizer``) and their quantized records
carry ``run(xq)``, the exact integer arithmetic in numpy, which the C kernels equal bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.ir.base import Task
from microlearn.ir.network import ACTIVATION_CODES, Activation, Dense, Network, apply_activation

I32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class TensorQ:
    """int8 quantization of a tensor: real = scale * (q - zero)."""

    scale: float
    zero: int


def tensor_q(lo: float, hi: float) -> TensorQ:
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidInputError("the calibration rows give a NaN or infinite activation: pass finite rows")
    if hi - lo <= 0:
        return TensorQ(1.0, 0)
    s = (hi - lo) / 255.0
    z = int(np.clip(round(-128 - lo / s), -128, 127))
    return TensorQ(s, z)


def multiplier(real: float) -> tuple[int, int]:
    """(m, sh) with m in [2^30, 2^31) and m / 2^(31 + sh) the nearest such value to ``real`` > 0, and
    -30 <= sh <= 31 (a shift of 1 to 62 bits); (0, 0) when ``real`` < 2^-32, where every int32 accumulator
    times ``real`` rounds to 0 anyway."""
    if not real >= 2.0**-32:
        return 0, 0
    f, k = np.frexp(real)  # real = f 2^k, f in [0.5, 1)
    m = round(float(f) * 2.0**31)
    if m == 2**31:
        m, k = 2**30, k + 1
    if -int(k) > 31:
        return 0, 0
    if -int(k) < -30:
        raise InvalidInputError(f"a requantization multiplier of {real:g} is out of range: scale the inputs")
    return m, -int(k)


def requant(
    acc: npt.NDArray[np.int64], m: npt.NDArray[np.int64], sh: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``ml_nn_requant``: round(acc m / 2^(31 + sh)) half away from zero, saturated to int32."""
    acc = np.asarray(acc, dtype=np.int64)
    p = acc * np.asarray(m, dtype=np.int64)
    s = 31 + np.asarray(sh, dtype=np.int64)
    half = np.left_shift(np.int64(1), s - 1)
    mag = np.right_shift(np.abs(p) + half, s)
    r = np.where(p >= 0, mag, -mag)
    return np.clip(r, *I32).astype(np.int64)


def quantize_bits(x: npt.NDArray[np.float32], m: int, sh: int, z: int) -> npt.NDArray[np.int64]:
    """``ml_nn_quantize_bits`` on float32 values: z + round(x m / 2^(31 + sh)), from the bits alone."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    ex = (u >> 23) & 0xFF
    mant = np.where(ex == 0, u & 0x7FFFFF, (u & 0x7FFFFF) | 0x800000)
    neg = (u >> 31) != 0
    out = np.empty(u.shape, dtype=np.int64)
    for idx in np.ndindex(u.shape):
        e, mt, ng = int(ex[idx]), int(mant[idx]), bool(neg[idx])
        if e == 0xFF:
            out[idx] = z if (int(u[idx]) & 0x7FFFFF) else (-128 if ng else 127)
            continue
        p = mt * m
        s = 181 + sh - (1 if e == 0 else e)
        if s <= 0:
            q = 1000
        elif s >= 63:
            q = 0
        else:
            q = min((p + (1 << (s - 1))) >> s, 1000)
        out[idx] = max(-128, min(127, z - q if ng else z + q))
    return out


# ---------------------------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class DenseQ:
    """A quantized dense layer. ``w`` (n_out, n_in) int8; ``b`` int32 (zero point folded); ``m``/``sh``
    per output; ``out``: the output tensor's quantization (None for a final layer giving accumulators);
    ``lo`` the lower clamp (relu: out.zero); ``table``: 256 int8 values for tanh / logistic, else None."""

    w: npt.NDArray[np.int8]
    b: npt.NDArray[np.int32]
    m: npt.NDArray[np.int32]
    sh: npt.NDArray[np.int8]
    out: TensorQ | None
    lo: int = -128
    table: npt.NDArray[np.int8] | None = None
    acc_scale: float = 1.0  # real value of one unit of the accumulator (final layer: s_in s_w)

    def accumulate(self, xq: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        acc = xq.astype(np.int64) @ self.w.T.astype(np.int64) + self.b.astype(np.int64)
        if np.any(acc < I32[0]) or np.any(acc > I32[1]):
            raise AssertionError("an int32 accumulator overflowed")  # excluded by the bias check
        return np.asarray(acc, dtype=np.int64)

    def run(self, xq: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        acc = self.accumulate(xq)
        if self.out is None:
            return acc
        v = self.out.zero + requant(acc, self.m.astype(np.int64)[None, :], self.sh.astype(np.int64)[None, :])
        v = np.clip(v, self.lo, 127)
        if self.table is not None:
            v = self.table.astype(np.int64)[v + 128]
        return np.asarray(v, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ActivationQ:
    """A quantized element-wise activation: a table (tanh, logistic), a clamp (relu: lo = zero), or
    nothing (identity). ``out`` is the output tensor's quantization."""

    out: TensorQ
    lo: int = -128
    table: npt.NDArray[np.int8] | None = None

    def run(self, xq: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        v = np.clip(xq, self.lo, 127)
        if self.table is not None:
            v = self.table.astype(np.int64)[v + 128]
        return np.asarray(v, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class NetworkQ:
    input: TensorQ
    input_m: int
    input_sh: int
    layers: tuple[Any, ...]
    n_calibration: int = 0

    def run(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """The int8 network's final int32 accumulators (classifier) or last tensor, per row."""
        q = quantize_bits(np.asarray(X, dtype=np.float32).reshape(len(X), -1), self.input_m, self.input_sh,
                          self.input.zero)  # fmt: skip
        for lq in self.layers:
            q = lq.run(q)
        return q

    @property
    def out_scale(self) -> float:
        last = self.layers[-1]
        return float(last.acc_scale) if isinstance(last, DenseQ) and last.out is None else 1.0


# ---------------------------------------------------------------------------------------------- tables
TANH_OUT = TensorQ(1.0 / 128, 0)
LOGISTIC_OUT = TensorQ(1.0 / 256, -128)


def act_table(act: str, pre: TensorQ) -> tuple[npt.NDArray[np.int8], TensorQ]:
    codes = np.arange(-128, 128, dtype=np.int64)
    real = pre.scale * (codes - pre.zero)
    y = apply_activation(act, real.astype(np.float64))
    out = TANH_OUT if act == "tanh" else LOGISTIC_OUT
    q = np.clip(np.round(y / out.scale) + out.zero, -128, 127).astype(np.int8)
    return q, out


# ---------------------------------------------------------------------------------------------- quantizers
@dataclass(frozen=True)
class QuantCtx:
    """What a layer's quantizer gets: the input's quantization, the calibration batch's float input and
    output of the layer (library arithmetic, flattened per row), whether it is the network's last layer
    of a classifier (accumulators out) and the network."""

    index: int
    in_q: TensorQ
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    final_logits: bool
    final: bool
    net: Network = field(repr=False)


Quantizer = Callable[[Any, QuantCtx], tuple[Any, TensorQ]]
_QUANTIZERS: dict[type, Quantizer] = {}


def register_layer_quantizer(layer_type: type, fn: Quantizer) -> None:
    """``fn(layer, ctx) -> (record with run(xq), output TensorQ)``."""
    _QUANTIZERS[layer_type] = fn


def _dense_q(layer: Dense, ctx: QuantCtx) -> tuple[DenseQ, TensorQ]:
    W, b = layer.weight, layer.bias
    s_in, z_in = ctx.in_q.scale, ctx.in_q.zero
    last = ctx.final
    if last:
        sw = np.full(layer.n_out, max(float(np.abs(W).max()) / 127.0, 2.0**-100))
    else:
        sw = np.maximum(np.abs(W).max(axis=0) / 127.0, 2.0**-100)
    wq = np.clip(np.round(W / sw[None, :]), -127, 127).astype(np.int64)  # (n_in, n_out)
    bq = np.round(b / (s_in * sw)).astype(np.float64) - z_in * wq.sum(axis=0)
    bound = np.abs(bq) + 128.0 * np.abs(wq).sum(axis=0)
    if np.any(bound >= 2.0**31):
        raise InvalidInputError(
            f"layer {ctx.index}: a bias is too large for int32 accumulators at this input scale; "
            "scale the inputs (e.g. StandardScaler) or use the float method"
        )
    pre = layer.pre_activation(ctx.x, "float64")
    act = layer.activation
    table = None
    lo = -128
    m = np.zeros(layer.n_out, np.int64)
    sh = np.zeros(layer.n_out, np.int64)
    if ctx.final_logits or (last and act == "identity"):
        rec = DenseQ(wq.T.astype(np.int8), bq.astype(np.int32), m.astype(np.int32), sh.astype(np.int8), None,
                     acc_scale=float(s_in * sw[0]))  # fmt: skip
        return rec, TensorQ(float(s_in * sw[0]), 0)
    if act in ("tanh", "logistic"):
        pre_q = tensor_q(pre.min(), pre.max())
        table, out_q = act_table(act, pre_q)
        target = pre_q
    elif act == "softmax":
        raise UnsupportedEstimatorError(f"layer {ctx.index}: softmax inside a network has no int8 form")
    else:
        y = apply_activation(act, pre)
        out_q = tensor_q(y.min(), y.max())
        target = out_q
        lo = out_q.zero if act == "relu" else -128
    for j in range(layer.n_out):
        m[j], sh[j] = multiplier(s_in * sw[j] / target.scale)
    rec = DenseQ(wq.T.astype(np.int8), bq.astype(np.int32), m.astype(np.int32), sh.astype(np.int8),
                 target, lo, table)  # fmt: skip
    return rec, out_q


def _act_q(layer: Activation, ctx: QuantCtx) -> tuple[ActivationQ, TensorQ]:
    act = layer.activation
    if act in ("tanh", "logistic"):
        table, out_q = act_table(act, ctx.in_q)
        return ActivationQ(out_q, -128, table), out_q
    if act == "relu":
        return ActivationQ(ctx.in_q, ctx.in_q.zero), ctx.in_q
    if act == "identity" or (act == "softmax" and ctx.final_logits):
        return ActivationQ(ctx.in_q), ctx.in_q
    raise UnsupportedEstimatorError(f"layer {ctx.index}: activation {act} has no int8 form here")


register_layer_quantizer(Dense, _dense_q)
register_layer_quantizer(Activation, _act_q)


def quantize(net: Network, X_cal: Any) -> Network:
    """``net`` with ``quant`` set from the calibration rows (at least one)."""
    import microlearn.passes.quantize_conv  # noqa: F401  (the quantizers of the convolution layer kinds)

    X = np.asarray(X_cal, dtype=np.float32).reshape(-1, net.n_inputs) if np.size(X_cal) else None
    if X is None or len(X) < 1:
        raise InvalidInputError(
            "the int8 method needs calibration rows: convert(est, method='int8', calibration=X)"
        )
    if not np.all(np.isfinite(X)):
        raise InvalidInputError("calibration rows must be finite")
    acts = net.forward(X)
    in_q = tensor_q(float(X.min()), float(X.max()))
    m, sh = multiplier(1.0 / in_q.scale)
    layers: list[Any] = []
    q = in_q
    n = len(net.layers)
    last_layer = net.layers[-1]
    if net.task == Task.CLASSIFY and isinstance(last_layer, Activation) and n > 1:
        n -= 1  # a separate output transform: the decision is taken on the layer before it
    for i, layer in enumerate(net.layers[:n]):
        fn = _QUANTIZERS.get(type(layer))
        if fn is None:
            raise UnsupportedEstimatorError(
                f"layer {i} ({layer.describe()}) has no int8 form: use the float method"
            )
        final = i == n - 1
        final_logits = final and net.task == Task.CLASSIFY
        ctx = QuantCtx(i, q, np.asarray(acts[i], np.float64).reshape((len(X), *net.shapes[i])),
                       np.asarray(acts[i + 1], np.float64), final_logits, final, net)  # fmt: skip
        rec, q = fn(layer, ctx)
        layers.append(rec)
    last = layers[-1]
    if not (isinstance(last, DenseQ) and last.out is None):
        raise UnsupportedEstimatorError("the int8 method needs a network ending in a Dense layer")
    return dataclasses.replace(net, quant=NetworkQ(in_q, m, sh, tuple(layers), len(X)))


def quantize_ir(ir: Any, X_cal: Any) -> Any:
    """``quantize`` for a network or a pipeline ending in one (the calibration rows go through its stages,
    as raw pipeline input); any other model refuses a calibration set."""
    from microlearn._validation import as_float32_rows
    from microlearn.ir.pipeline import Pipeline

    if isinstance(ir, Network):
        return quantize(ir, as_float32_rows(X_cal, ir.n_inputs, ir.feature_names))
    if isinstance(ir, Pipeline) and isinstance(ir.final, Network):
        X = as_float32_rows(X_cal, ir.n_inputs, ir.feature_names)
        for st in ir.stages:
            X = np.asarray(st.reference(X).outputs, dtype=np.float32)
        return dataclasses.replace(ir, final=quantize(ir.final, X))
    raise InvalidInputError(
        f"a calibration set quantizes neural networks for the int8 method; {type(ir).__name__} takes none"
    )


def predict_int8(net: Network, X: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    """The int8 method's outputs in numpy (class index, or float32 values), equal to the C's."""
    if net.quant is None:
        raise InvalidInputError("the network is not quantized: quantize(net, X_cal) first")
    acc: npt.NDArray[np.int64] = net.quant.run(X)
    out: npt.NDArray[Any]
    if net.task == Task.CLASSIFY:
        if net.decision == "threshold":
            out = (acc[:, 0] > 0).astype(np.int64)
        else:
            out = np.argmax(acc, axis=1).astype(np.int64)
        return out
    out = acc.astype(np.float32) * np.float32(net.quant.out_scale)
    return out[:, 0] if out.shape[1] == 1 else out


__all__ = ["ACTIVATION_CODES", "NetworkQ", "predict_int8", "quantize", "register_layer_quantizer"]
