"""Reading Keras 3 models without TensorFlow (and, for ``.keras`` files, without Keras).

A ``.keras`` file is a zip archive holding ``config.json`` (the model's layer configs) and
``model.weights.h5`` (every layer's variables under ``layers/<key>/vars/<i>``, the group carrying the
layer's name as an attribute). A live ``keras.Model`` gives the same config through ``get_config()`` and
its variables through ``layer.get_weights()``. Both become a :class:`KerasChain`: the input shape and the
layers in the order they run, each with its class name, config and float32 weights. Only chains are
accepted: a Sequential model, or a functional model in which every layer takes the previous one's
single output.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, UnsupportedEstimatorError

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class KerasLayer:
    """One layer as Keras saved it: ``kind`` is the class name ("Conv2D"), ``position`` its index
    in the chain (0 = the first layer after the input)."""

    kind: str
    name: str
    position: int
    config: Mapping[str, Any]
    weights: tuple[F32, ...]

    def where(self) -> str:
        return f"layer {self.position} ({self.kind} {self.name!r})"


@dataclass(frozen=True)
class KerasChain:
    """A Keras model as a chain of layers; ``input_shape`` has no batch axis."""

    name: str
    source: str
    input_shape: tuple[int, ...]
    layers: tuple[KerasLayer, ...]


def is_keras_model(obj: Any) -> bool:
    """A live Keras 3 model (checked by its class's module, so Keras is not imported here)."""
    for cls in type(obj).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if (mod == "keras" or mod.startswith("keras.")) and cls.__name__ in {
            "Model",
            "Sequential",
            "Functional",
        }:
            return True
    return False


def is_keras_file(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike)) and os.fspath(obj).lower().endswith(".keras")


def read(obj: Any) -> KerasChain:
    """The chain of a ``.keras`` file path or of a live Keras model."""
    if is_keras_file(obj):
        return read_file(os.fspath(obj))
    if is_keras_model(obj):
        return read_live(obj)
    raise InvalidInputError(f"expected a path to a .keras file or a keras.Model, got {type(obj).__name__}")


def read_file(path: str) -> KerasChain:
    """The chain of a Keras 3 ``.keras`` file (read with zipfile, json and h5py only)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names or "model.weights.h5" not in names:
                raise InvalidInputError(
                    f"{path} is not a Keras 3 .keras file (it needs config.json and model.weights.h5); "
                    "save the model with model.save('name.keras')"
                )
            config = json.loads(z.read("config.json"))
            h5bytes = z.read("model.weights.h5")
    except (OSError, zipfile.BadZipFile) as e:
        raise InvalidInputError(f"cannot read {path} as a .keras file: {e}") from e
    weights = _h5_weights(h5bytes, path)
    return _chain(config, weights)


def read_live(model: Any) -> KerasChain:
    """The chain of a live Keras model (its ``get_config()`` and each layer's ``get_weights()``)."""
    if not getattr(model, "built", True):
        raise InvalidInputError("the Keras model is not built: call it on data or give it an Input first")
    config = {
        "class_name": type(model).__name__,
        "module": type(model).__module__,
        "config": model.get_config(),
    }
    weights: dict[str, list[F32]] = {}
    for layer in model.layers:
        weights[layer.name] = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
    return _chain(config, weights)


def _h5_weights(data: bytes, path: str) -> dict[str, list[F32]]:
    """Each layer's variables in index order, keyed by the layer name stored with them (and, for
    files without it, by the group's own key)."""
    import h5py

    out: dict[str, list[F32]] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        layers = f.get("layers")
        if layers is None:
            return out
        for key in layers:
            grp = layers[key]
            vars_ = grp.get("vars")
            if vars_ is None:
                continue
            name = vars_.attrs.get("name", key)
            if isinstance(name, bytes):
                name = name.decode()
            arrays = []
            for i in range(len(vars_)):
                if str(i) not in vars_:
                    raise InvalidInputError(f"{path}: layer {name!r} has no variable {i} in model.weights.h5")
                arrays.append(np.asarray(vars_[str(i)][()], dtype=np.float32))
            if any(k not in vars_ for k in map(str, range(len(vars_)))):
                raise InvalidInputError(f"{path}: layer {name!r} has unnumbered variables")
            out[str(name)] = arrays
            if key != name:
                out.setdefault("\0key:" + str(key), arrays)
    return out


def _dims(shape: Any, what: str) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)) or len(shape) < 2:
        raise UnsupportedEstimatorError(f"{what}: input shape {shape!r} has no batch axis and features")
    dims = shape[1:]
    if any(not isinstance(d, int) or d <= 0 for d in dims):
        raise UnsupportedEstimatorError(
            f"{what}: input shape {tuple(shape)} has an unknown size; give keras.Input a fixed shape"
        )
    return tuple(int(d) for d in dims)


def _chain(config: Mapping[str, Any], weights: Mapping[str, list[F32]]) -> KerasChain:
    cls = str(config.get("class_name", ""))
    inner = config.get("config", {})
    name = str(inner.get("name", "model"))
    layers = inner.get("layers")
    if not isinstance(layers, list):
        raise UnsupportedEstimatorError(
            f"Keras model class {cls!r} is not a Sequential or functional model of layers"
        )
    if cls == "Sequential":
        source = "keras.Sequential"
        entries = list(layers)
        input_shape: tuple[int, ...] | None = None
        if entries and entries[0].get("class_name") == "InputLayer":
            c = entries.pop(0).get("config", {})
            input_shape = _dims(c.get("batch_shape", c.get("batch_input_shape")), "InputLayer")
        elif inner.get("build_input_shape") is not None:
            input_shape = _dims(inner["build_input_shape"], "Sequential")
        if input_shape is None:
            raise UnsupportedEstimatorError(
                "the Sequential model has no input shape: start it with keras.Input"
            )
    elif cls in {"Functional", "Model"}:
        source = "keras.Model"
        input_shape, entries = _functional_chain(inner)
    else:
        raise UnsupportedEstimatorError(
            f"Keras model class {cls!r} is not supported: use keras.Sequential or a functional keras.Model"
        )
    # keys the weights were saved under when the file carries no layer names: snake_case class + _i
    used: dict[str, int] = {}
    out: list[KerasLayer] = []
    for pos, e in enumerate(entries):
        kind = str(e.get("class_name", "?"))
        lc = e.get("config", {})
        lname = str(lc.get("name", e.get("name", kind)))
        snake = _snake(kind)
        k = used.get(snake, 0)
        used[snake] = k + 1
        key = snake if k == 0 else f"{snake}_{k}"
        if kind in {"Sequential", "Functional", "Model"}:
            raise UnsupportedEstimatorError(
                f"layer {pos} ({kind} {lname!r}) is a nested model: build one flat Sequential or functional "
                "model"
            )
        w = weights.get(lname)
        if w is None:
            w = weights.get("\0key:" + key, [])
        out.append(KerasLayer(kind, lname, pos, lc, tuple(w)))
    return KerasChain(name, source, input_shape, tuple(out))


def _snake(name: str) -> str:
    # as Keras names saved layers: Conv2D -> conv2d, ReLU -> re_lu, BatchNormalization -> batch_normalization
    s = re.sub(r"\W+", "", name)
    s = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", s)
    s = re.sub("([a-z])([A-Z])", r"\1_\2", s).lower()
    return s


def _tensors(arg: Any) -> list[str]:
    """The layer names of every Keras tensor in a node's (nested) arguments."""
    if isinstance(arg, Mapping):
        if arg.get("class_name") == "__keras_tensor__":
            hist = arg.get("config", {}).get("keras_history")
            return [str(hist[0])] if isinstance(hist, (list, tuple)) and hist else []
        return [t for v in arg.values() for t in _tensors(v)]
    if isinstance(arg, (list, tuple)):
        return [t for v in arg for t in _tensors(v)]
    return []


def _functional_chain(inner: Mapping[str, Any]) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
    layers = {str(e.get("name", e.get("config", {}).get("name"))): e for e in inner["layers"]}
    ins = inner.get("input_layers")
    outs = inner.get("output_layers")

    def single(ref: Any, what: str) -> str:
        # [name, node, tensor] or [[name, node, tensor]]
        seq = (list, tuple)
        if isinstance(ref, seq) and len(ref) == 1 and isinstance(ref[0], seq):
            ref = ref[0]
        if isinstance(ref, seq) and len(ref) == 3 and isinstance(ref[0], str):
            return ref[0]
        raise UnsupportedEstimatorError(f"the functional model has several {what}: only one is supported")

    first = single(ins, "inputs")
    last = single(outs, "outputs")
    inp = layers.get(first)
    if inp is None or inp.get("class_name") != "InputLayer":
        raise UnsupportedEstimatorError("the functional model's input is not a keras.Input")
    c = inp.get("config", {})
    shape = _dims(c.get("batch_shape", c.get("batch_input_shape")), "Input")
    chain: list[dict[str, Any]] = []
    cur = last
    seen: set[str] = set()
    while cur != first:
        if cur in seen or cur not in layers:
            raise UnsupportedEstimatorError(f"the functional model's graph is not a chain (at {cur!r})")
        seen.add(cur)
        e = layers[cur]
        nodes = e.get("inbound_nodes", [])
        if len(nodes) != 1:
            raise UnsupportedEstimatorError(
                f"layer {cur!r} ({e.get('class_name')}) is used {len(nodes)} times: only chains of layers "
                "each called once are supported"
            )
        srcs = _tensors(nodes[0].get("args", [])) + _tensors(nodes[0].get("kwargs", {}))
        if len(srcs) != 1:
            raise UnsupportedEstimatorError(
                f"layer {cur!r} ({e.get('class_name')}) takes {len(srcs)} inputs: only chains are supported "
                "(no Add, Concatenate or skip connections)"
            )
        chain.append(e)
        cur = srcs[0]
    chain.reverse()
    unused = set(layers) - seen - {first}
    if unused:
        raise UnsupportedEstimatorError(
            f"the functional model has layers outside its input-to-output chain: {sorted(unused)}"
        )
    return shape, chain
