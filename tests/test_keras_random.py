"""Random convolutional networks (no Keras needed): the C kernels of ml_conv.h against the IR.

hypothesis draws the geometry (input size, kernel, strides, dilation, padding, channels, multiplier,
pooling, a batch normalization folded into the convolution) and the weights of a small KerasNetwork;
the host C float method must stay within the network's stated bound of the exact reference on every
row, and the int8 method must equal its numpy integer records bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microlearn.ir.base import Task
from microlearn.ir.network import Activation, Dense
from microlearn.ir.network_conv import (
    ChannelAffine,
    Conv,
    DepthwiseConv,
    GlobalPool,
    Pool,
    Reshape,
    Window,
    fold_batchnorm,
)
from microlearn.ir.network_keras import KerasNetwork
from microlearn.model import Model
from microlearn.passes.quantize import predict_int8, quantize, quantize_bits


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0, 0.5, shape).astype(np.float32).astype(np.float64)


@st.composite
def networks(draw: Any) -> tuple[KerasNetwork, np.ndarray]:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    one_d = draw(st.booleans())
    h = 1 if one_d else draw(st.integers(3, 7))
    w = draw(st.integers(3, 9))
    c = draw(st.integers(1, 3))
    kh = 1 if one_d else draw(st.integers(1, min(3, h)))
    kw = draw(st.integers(1, 3))
    pad = draw(st.sampled_from(["valid", "same", "causal"] if one_d else ["valid", "same"]))
    dil = 1 if kw == 1 else draw(st.integers(1, 2))
    stride = 1 if dil > 1 else draw(st.integers(1, 2))
    if pad == "valid" and (kw - 1) * dil + 1 > w:
        dil = 1
    f = draw(st.integers(1, 4))
    act = draw(st.sampled_from(["identity", "relu", "tanh"]))
    layers: list[Any] = [
        ChannelAffine(_w(rng, c), _w(rng, c), 0.5),
        Conv(_w(rng, kh, kw, c, f), _w(rng, f), Window((kh, kw), (1, stride), (1, dil), pad), act),
    ]
    if act == "identity" and draw(st.booleans()):  # a batch normalization folded into the convolution
        norm = ChannelAffine(rng.uniform(0.2, 3, f), _w(rng, f), 1.0)
        layers[1] = fold_batchnorm(layers[1], norm)
        assert layers[1] is not None and layers[1].fold is not None
    shape: tuple[int, ...] = (w, c) if one_d else (h, w, c)
    cur = layers[1].out_shape(layers[0].out_shape(shape))
    if draw(st.booleans()):
        m = draw(st.integers(1, 2))
        dkh = 1 if one_d else min(2, cur[0])
        layers.append(
            DepthwiseConv(_w(rng, dkh, 2, f, m), _w(rng, f * m), Window((dkh, 2), (1, 1), (1, 1), "same"))
        )
        cur = layers[-1].out_shape(cur)
    op = draw(st.sampled_from(["max", "avg"]))
    if draw(st.booleans()):
        ph, pw = 1 if one_d else min(2, cur[0]), min(2, cur[-2])  # the convolution may leave one column
        layers.append(Pool(op, Window((ph, pw), (ph, pw), (1, 1), draw(st.sampled_from(["valid", "same"])))))
        cur = layers[-1].out_shape(cur)
    if draw(st.booleans()):
        n_pos = int(np.prod(cur[:-1]))
        layers.append(GlobalPool(op, n_pos))
    else:
        layers.append(Reshape((int(np.prod(cur)),)))
    cur = layers[-1].out_shape(cur)
    k = draw(st.integers(2, 4))
    layers += [Dense(_w(rng, cur[0], k), _w(rng, k)), Activation("softmax")]
    net = KerasNetwork(Task.CLASSIFY, shape, tuple(layers), dtype="float32", decision="argmax", exact=False)
    X = rng.normal(0, 1.5, (12, int(np.prod(shape)))).astype(np.float32)
    return net, X


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_conv_networks_float_and_int8_on_host(case: tuple[KerasNetwork, np.ndarray]) -> None:
    net, X = case
    ref = net.reference(X)
    got = np.asarray(Model(net, "float").predict(X))
    firm = ~np.asarray(ref.ambiguous)
    np.testing.assert_array_equal(got[firm], np.asarray(ref.outputs)[firm])
    z = np.asarray(ref.scores)
    proba = np.asarray(Model(net, "float").predict_proba(X), np.float64)
    assert np.all(np.abs(proba - np.asarray(ref.proba)) <= 1e-4 + 1e-3 * np.abs(z).max())
    q = quantize(net, X)
    np.testing.assert_array_equal(np.asarray(Model(q, "int8").predict(X)), predict_int8(q, X))


def test_int8_keeps_padding_at_real_zero() -> None:
    """A 'same' convolution whose input zero point is far from 0: the padded taps add nothing."""
    k = np.ones((3, 3, 1, 1))
    net = KerasNetwork(
        Task.CLASSIFY,
        (4, 4, 1),
        (
            Conv(k, np.zeros(1), Window((3, 3), (1, 1), (1, 1), "same")),
            Reshape((16,)),
            Dense(np.eye(16, 2), np.zeros(2)),
            Activation("softmax"),
        ),
        dtype="float32",
        decision="argmax",
        exact=False,
    )
    X = np.full((3, 16), 5.0, np.float32)  # every input positive: zero point -128, padding is code -128
    q = quantize(net, X)
    qq = q.quant
    xq = quantize_bits(X, qq.input_m, qq.input_sh, qq.input.zero)
    assert qq.input.zero == -128 and np.all(xq == 127)  # inputs at the top of the range, zero at the bottom
    acc = qq.layers[0].accumulate(xq)
    corner, centre = acc[0, 0], acc[0, 5]
    assert corner * 9 == centre * 4  # 4 real taps at the corner, 9 in the middle
