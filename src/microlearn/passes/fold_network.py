"""Fold a Keras network's batch normalizations and activation layers into the layer before them.

A ``ChannelAffine`` batch normalization right after a ``Dense``, ``Conv`` or ``DepthwiseConv`` without an
activation becomes part of that layer's weights and bias (``ir.network_conv.fold_batchnorm``; the layer
keeps a ``BatchNormFold`` so that its error bound still covers the library's unfolded evaluation,
docs/keras.md). An ``Activation`` layer (not softmax) right after such a layer becomes its activation:
the same operation on the same values, one pass over the tensor fewer. Normalizations after an
activation, ``Normalization`` layers and everything else stay as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from microlearn.ir.network import Activation
from microlearn.ir.network_conv import FOLDABLE, ChannelAffine, fold_batchnorm
from microlearn.ir.network_keras import KerasNetwork


def fold_layers(layers: tuple[Any, ...]) -> tuple[Any, ...]:
    """The layers with every foldable batch normalization and activation folded into the one before."""
    out: list[Any] = []
    for layer in layers:
        prev = out[-1] if out else None
        if isinstance(layer, ChannelAffine) and prev is not None:
            folded = fold_batchnorm(prev, layer)
            if folded is not None:
                out[-1] = folded
                continue
        if (
            isinstance(layer, Activation)
            and isinstance(prev, FOLDABLE)
            and prev.activation == "identity"
            and layer.activation not in ("softmax", "identity")
        ):
            out[-1] = dataclasses.replace(prev, activation=layer.activation)
            continue
        out.append(layer)
    return tuple(out)


def fold_network(ir: Any) -> Any:
    """A ``KerasNetwork`` with its layers folded (:func:`fold_layers`); any other IR unchanged."""
    if not isinstance(ir, KerasNetwork) or ir.quant is not None:
        return ir
    layers = fold_layers(ir.layers)
    return ir if len(layers) == len(ir.layers) else dataclasses.replace(ir, layers=layers)
