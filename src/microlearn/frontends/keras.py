"""Keras 3 models (``.keras`` files or live ``keras.Model`` objects) -> a ``Network`` IR.

Reading needs neither TensorFlow nor, for files, Keras itself (``frontends.keras_read``). Each layer of
the chain maps to layer kinds of ``ir.network`` / ``ir.network_conv``:

=============================================  ==============================================
Keras                                          Network layer
=============================================  ==============================================
Dense (on a vector; on a sequence or image:    Dense (Conv 1x1), activation fused
a 1x1 convolution)
Conv1D, Conv2D                                 Conv (valid / same / causal, strides, dilation)
DepthwiseConv1D, DepthwiseConv2D               DepthwiseConv
SeparableConv1D, SeparableConv2D               DepthwiseConv + Conv 1x1
MaxPooling1D/2D, AveragePooling1D/2D           Pool
GlobalAverage/MaxPooling1D/2D                  GlobalPool
Flatten, Reshape                               Reshape
BatchNormalization, Normalization              ChannelAffine (per last-axis channel)
Activation, ReLU, Softmax                      Activation (relu, sigmoid, tanh, softmax, linear)
Dropout, SpatialDropout*, GaussianNoise, ...   nothing (identity at inference)
=============================================  ==============================================

``microlearn.convert`` then folds batch normalizations and activation layers into the Dense or
convolution before them (``passes.fold_network``) unless ``fold=False``.

The task follows from the output: a softmax over two or more values classifies (class = first largest),
one sigmoid output classifies two classes (class 1 when it exceeds 0.5), anything else regresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import UnsupportedEstimatorError
from microlearn.frontends import keras_read
from microlearn.frontends.keras_read import KerasChain, KerasLayer
from microlearn.ir.base import Task
from microlearn.ir.network import Activation, Dense, Shape
from microlearn.ir.network_conv import (
    ChannelAffine,
    Conv,
    DepthwiseConv,
    GlobalPool,
    Pool,
    Reshape,
    Window,
)
from microlearn.ir.network_keras import KerasNetwork

ACTIVATION_NAMES = {
    "linear": "identity",
    "relu": "relu",
    "sigmoid": "logistic",
    "tanh": "tanh",
    "softmax": "softmax",
}
DROPPED = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
}
SUPPORTED_LAYERS = sorted(
    {
        "Dense",
        "Conv1D",
        "Conv2D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "MaxPooling1D",
        "MaxPooling2D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "Flatten",
        "Reshape",
        "BatchNormalization",
        "Normalization",
        "Activation",
        "ReLU",
        "Softmax",
        "InputLayer",
        *DROPPED,
    }
)
KERAS_EPSILON = 1e-7  # keras.config.epsilon(), Normalization's floor of the standard deviation


def convert(obj: Any) -> KerasNetwork:
    """The Network of a ``.keras`` file path or a live Keras model."""
    return chain_to_network(keras_read.read(obj))


def _unsupported(layer: KerasLayer, why: str) -> UnsupportedEstimatorError:
    return UnsupportedEstimatorError(f"Keras {layer.where()}: {why}")


def _activation(layer: KerasLayer, value: Any) -> str:
    name = value
    if isinstance(value, Mapping):  # a serialized function: {"class_name": "function", "config": "relu"}
        cfg = value.get("config")
        name = cfg if isinstance(cfg, str) else value.get("class_name")
    if name is None:
        name = "linear"
    act = ACTIVATION_NAMES.get(str(name))
    if act is None:
        raise _unsupported(
            layer, f"activation {name!r} is not supported (supported: {', '.join(sorted(ACTIVATION_NAMES))})"
        )
    return act


def _pair(v: Any, rank: int) -> tuple[int, int]:
    vals = [int(x) for x in (v if isinstance(v, (list, tuple)) else [v] * rank)]
    if rank == 1:
        return 1, vals[0]
    return vals[0], vals[1]


def _channels_last(layer: KerasLayer) -> None:
    fmt = layer.config.get("data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        raise _unsupported(layer, f"data_format {fmt!r}: only channels_last (NHWC) is supported")


def _weights(layer: KerasLayer, n: int) -> tuple[npt.NDArray[np.float32], ...]:
    if len(layer.weights) != n:
        raise _unsupported(layer, f"expected {n} weight arrays, the model holds {len(layer.weights)}")
    return layer.weights


def _f64(a: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _conv(layer: KerasLayer, rank: int, shape: Shape) -> list[Any]:
    cfg = layer.config
    _channels_last(layer)
    if int(cfg.get("groups", 1)) != 1:
        raise _unsupported(layer, "grouped convolutions (groups > 1) are not supported")
    if len(shape) != rank + 1:
        raise _unsupported(layer, f"takes a {rank}-D input with channels, got shape {shape}")
    use_bias = bool(cfg.get("use_bias", True))
    w = _weights(layer, 2 if use_bias else 1)
    kernel = _f64(w[0])
    if rank == 1:
        kernel = kernel[np.newaxis]
    bias = _f64(w[1]) if use_bias else np.zeros(kernel.shape[3])
    padding = str(cfg.get("padding", "valid")).lower()
    if padding == "causal" and rank != 1:
        raise _unsupported(layer, "causal padding is for 1-D convolutions")
    win = Window(
        (int(kernel.shape[0]), int(kernel.shape[1])),
        _pair(cfg.get("strides", 1), rank),
        _pair(cfg.get("dilation_rate", 1), rank),
        padding,
    )
    act = _activation(layer, cfg.get("activation"))
    if act == "softmax":
        raise _unsupported(layer, "softmax inside a convolution is not supported")
    return [Conv(kernel, bias, win, act)]


def _depthwise(layer: KerasLayer, rank: int, shape: Shape, separable: bool) -> list[Any]:
    cfg = layer.config
    _channels_last(layer)
    if len(shape) != rank + 1:
        raise _unsupported(layer, f"takes a {rank}-D input with channels, got shape {shape}")
    use_bias = bool(cfg.get("use_bias", True))
    n = (3 if separable else 2) if use_bias else (2 if separable else 1)
    w = _weights(layer, n)
    dk = _f64(w[0])
    if rank == 1:
        dk = dk[np.newaxis]
    padding = str(cfg.get("padding", "valid")).lower()
    if padding == "causal" and rank != 1:
        raise _unsupported(layer, "causal padding is for 1-D convolutions")
    win = Window(
        (int(dk.shape[0]), int(dk.shape[1])),
        _pair(cfg.get("strides", 1), rank),
        _pair(cfg.get("dilation_rate", 1), rank),
        padding,
    )
    act = _activation(layer, cfg.get("activation"))
    if act == "softmax":
        raise _unsupported(layer, "softmax inside a convolution is not supported")
    cm = int(dk.shape[2] * dk.shape[3])
    if not separable:
        bias = _f64(w[1]) if use_bias else np.zeros(cm)
        return [DepthwiseConv(dk, bias, win, act)]
    pk = _f64(w[1])
    if rank == 1:
        pk = pk[np.newaxis]
    bias = _f64(w[2]) if use_bias else np.zeros(pk.shape[3])
    one = Window((1, 1), (1, 1))
    return [DepthwiseConv(dk, np.zeros(cm), win, "identity"), Conv(pk, bias, one, act)]


def _pool(layer: KerasLayer, rank: int, op: str, shape: Shape) -> list[Any]:
    cfg = layer.config
    _channels_last(layer)
    if len(shape) != rank + 1:
        raise _unsupported(layer, f"takes a {rank}-D input with channels, got shape {shape}")
    size = _pair(cfg.get("pool_size", 2), rank)
    strides = cfg.get("strides")
    st = size if strides is None else _pair(strides, rank)
    padding = str(cfg.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise _unsupported(layer, f"padding {padding!r} is not supported")
    return [Pool(op, Window(size, st, (1, 1), padding))]


def _global(layer: KerasLayer, rank: int, op: str, shape: Shape) -> list[Any]:
    _channels_last(layer)
    if layer.config.get("keepdims", False):
        raise _unsupported(layer, "keepdims=True is not supported")
    if len(shape) != rank + 1:
        raise _unsupported(layer, f"takes a {rank}-D input with channels, got shape {shape}")
    return [GlobalPool(op, int(np.prod(shape[:-1])))]


def _axis_last(layer: KerasLayer, shape: Shape) -> None:
    axis = layer.config.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise _unsupported(layer, f"axis {axis}: only the last axis is supported")
        axis = axis[0]
    if int(axis) not in (-1, len(shape)):
        raise _unsupported(layer, f"axis {axis}: only the last (channel) axis is supported")


def _batchnorm(layer: KerasLayer, shape: Shape) -> list[Any]:
    cfg = layer.config
    _axis_last(layer, shape)
    center, scale = bool(cfg.get("center", True)), bool(cfg.get("scale", True))
    w = list(_weights(layer, 2 + int(center) + int(scale)))
    gamma = _f64(w.pop(0)) if scale else None
    beta = _f64(w.pop(0)) if center else None
    mean, var = _f64(w[0]), _f64(w[1])
    eps = float(cfg.get("epsilon", 1e-3))
    inv = 1.0 / np.sqrt(var + eps)
    if gamma is not None:
        inv = inv * gamma
    off = -mean * inv + (beta if beta is not None else 0.0)
    spread = float(np.max(np.abs(mean * inv) + (np.abs(beta) if beta is not None else 0.0)))
    return [ChannelAffine(inv, off, spread, "batch normalization")]


def _normalization(layer: KerasLayer, shape: Shape) -> list[Any]:
    cfg = layer.config
    _axis_last(layer, shape)
    if cfg.get("invert", False):
        raise _unsupported(layer, "invert=True is not supported")
    c = int(shape[-1])
    if cfg.get("mean") is not None:
        mean = np.asarray(cfg["mean"], dtype=np.float32)
        var = np.asarray(cfg["variance"], dtype=np.float32)
    else:
        if len(layer.weights) < 2:
            raise _unsupported(layer, "the layer is not adapted (no mean and variance)")
        mean, var = layer.weights[0], layer.weights[1]
    mean64 = np.broadcast_to(_f64(mean).reshape(-1), (c,)).copy() if mean.size in (1, c) else None
    var64 = np.broadcast_to(_f64(var).reshape(-1), (c,)).copy() if var.size in (1, c) else None
    if mean64 is None or var64 is None:
        raise _unsupported(layer, f"mean and variance of shape {mean.shape} do not match {c} channels")
    d = np.maximum(np.sqrt(var64), KERAS_EPSILON)
    inv = 1.0 / d
    return [ChannelAffine(inv, -mean64 * inv, float(np.max(np.abs(mean64 * inv))), "normalization")]


def _reshape(layer: KerasLayer, shape: Shape) -> list[Any]:
    target = [int(d) for d in layer.config.get("target_shape", [])]
    total = int(np.prod(shape))
    if target.count(-1) > 1 or not target:
        raise _unsupported(layer, f"target shape {target} is not supported")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = total // known if known else 0
    if int(np.prod(target)) != total:
        raise _unsupported(layer, f"cannot reshape {shape} into {tuple(target)}")
    return [Reshape(tuple(target))]


def _relu(layer: KerasLayer) -> list[Any]:
    cfg = layer.config
    if cfg.get("max_value") is not None or float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0:
        raise _unsupported(layer, "only a plain ReLU is supported (no max_value, no negative_slope)")
    if float(cfg.get("threshold", 0.0) or 0.0) != 0.0:
        raise _unsupported(layer, "only a plain ReLU is supported (threshold 0)")
    return [Activation("relu")]


def _dense(layer: KerasLayer, shape: Shape) -> list[Any]:
    cfg = layer.config
    use_bias = bool(cfg.get("use_bias", True))
    w = _weights(layer, 2 if use_bias else 1)
    kernel = _f64(w[0])
    bias = _f64(w[1]) if use_bias else np.zeros(kernel.shape[1])
    act = _activation(layer, cfg.get("activation"))
    if len(shape) == 1:
        return [Dense(kernel, bias, act)]
    if len(shape) in (2, 3):
        if act == "softmax":
            raise _unsupported(layer, "softmax on a Dense layer over a sequence or image is not supported")
        return [Conv(kernel[np.newaxis, np.newaxis], bias, Window((1, 1), (1, 1)), act)]
    raise _unsupported(layer, f"input shape {shape} is not supported")


def _layer(layer: KerasLayer, shape: Shape) -> list[Any]:
    k = layer.kind
    if k in DROPPED or k == "InputLayer":
        return []
    if k == "Dense":
        return _dense(layer, shape)
    if k in ("Conv1D", "Conv2D"):
        return _conv(layer, int(k[4]), shape)
    if k in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _depthwise(layer, int(k[13]), shape, separable=False)
    if k in ("SeparableConv1D", "SeparableConv2D"):
        return _depthwise(layer, int(k[13]), shape, separable=True)
    if k in ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"):
        return _pool(layer, int(k[-2]), "max" if k.startswith("Max") else "avg", shape)
    if k in ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D"):
        return _global(layer, int(k[-2]), "max" if "Max" in k else "avg", shape)
    if k == "Flatten":
        _channels_last(layer)
        return [Reshape((int(np.prod(shape)),))]
    if k == "Reshape":
        return _reshape(layer, shape)
    if k == "BatchNormalization":
        return _batchnorm(layer, shape)
    if k == "Normalization":
        return _normalization(layer, shape)
    if k == "Activation":
        return [Activation(_activation(layer, layer.config.get("activation")))]
    if k == "ReLU":
        return _relu(layer)
    if k == "Softmax":
        axis = layer.config.get("axis", -1)
        if axis not in (-1, [-1], len(shape)):
            raise _unsupported(layer, f"softmax over axis {axis}: only the last axis is supported")
        return [Activation("softmax")]
    raise _unsupported(layer, f"layer type {k} is not supported. Supported: {', '.join(SUPPORTED_LAYERS)}")


def chain_to_network(chain: KerasChain) -> KerasNetwork:
    """The Network of a chain of Keras layers (see the module docstring for the mapping and the task)."""
    shape: Shape = chain.input_shape
    layers: list[Any] = []
    for kl in chain.layers:
        new = _layer(kl, shape)
        for layer in new:
            try:
                shape = tuple(int(d) for d in layer.out_shape(shape))
            except ValueError as e:
                raise _unsupported(kl, str(e)) from e
        layers += new
    if not layers:
        raise UnsupportedEstimatorError("the Keras model has no layers that compute anything")
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, (Dense, Activation)) and layer.activation == "softmax":
            raise UnsupportedEstimatorError(
                f"Keras model: softmax is supported on the last layer only (network layer {i} has it)"
            )
    last_act = str(getattr(layers[-1], "activation", "identity"))
    n_out = int(np.prod(shape))
    if last_act == "softmax" and len(shape) != 1:
        raise UnsupportedEstimatorError(
            "Keras model: softmax over a tensor that is not a vector is not supported"
        )
    if last_act == "softmax" and n_out >= 2:
        task, decision = Task.CLASSIFY, "argmax"
    elif last_act == "logistic" and n_out == 1:
        task, decision = Task.CLASSIFY, "threshold"
    else:
        task, decision = Task.REGRESS, "none"
    return KerasNetwork(
        task=task,
        input_shape=chain.input_shape,
        layers=tuple(layers),
        dtype="float32",
        decision=decision,  # type: ignore[arg-type]
        exact=False,
        classes=None,
        source=chain.source,
    )
