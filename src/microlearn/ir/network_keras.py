"""A Keras network: a ``Network`` whose library computes in float32 in an order of its own.

Keras (any backend) evaluates its layers in float32 with kernels whose summation order is not specified,
so no device can reproduce its outputs bit for bit. The contract instead (docs/keras.md):

* The reference is the **exact** network: every layer evaluated in float64 on the model's float32
  parameters (within ``E64``, the float64 bound, of the exact values).
* ``E32`` bounds, per row, how far any float32 evaluation (Keras', the C float32 method's, in any order,
  with or without FMA) can be from the exact logits (``Network.error_bound`` with ``u = 2^-24``).
* A classifier's row is **ambiguous** when its exact top-two logit margin is not above
  ``2 (E32 + E64) + 2^-18`` (threshold decision: ``|z|``). On every other row, Keras' class, the C float
  method's class and mlrt's class all equal the reference class: agreement there must be 100%.
* A regressor's values are within ``E32 + E64`` of the reference (``Reference.bound``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task
from microlearn.ir.linear import U32, U64
from microlearn.ir.network import MARGIN_FLOOR, Network, _row_max, apply_activation


@dataclass(frozen=True, eq=False)
class KerasNetwork(Network):
    """A float32 Keras network (``dtype`` "float32", ``exact`` False) with the contract above."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dtype != "float32" or self.exact:
            raise ValueError("a KerasNetwork computes in float32 and is not exactly reproducible")

    def exact_tensors(self, X: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float64]]:
        """Every tensor of the batch (flattened per row) in float64 on the float32 parameters."""
        a: npt.NDArray[Any] = np.asarray(X, dtype=np.float32).reshape((len(X), *self.shapes[0]))
        a = a.astype(np.float64)
        out = [a.reshape(len(X), -1)]
        for layer in self.layers:
            a = layer.forward(a, "float64")
            out.append(a.reshape(len(X), -1))
        return out

    def exact_logits(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The last layer's exact values before its output activation, (n, n_values)."""
        a: npt.NDArray[Any] = np.asarray(X, dtype=np.float32).reshape((len(X), *self.shapes[0]))
        a = a.astype(np.float64)
        for layer in self.layers[:-1]:
            a = layer.forward(a, "float64")
        last = self.layers[-1]
        if str(getattr(last, "activation", "identity")) != "identity":
            last = dataclasses.replace(last, activation="identity")
        z = last.forward(a, "float64")
        return np.asarray(z, dtype=np.float64).reshape(len(X), -1)

    def value_error(self, X: npt.NDArray[np.float32], u: float) -> npt.NDArray[np.float64]:
        """Per row, the bound on every output value (after the output activation) in arithmetic ``u``."""
        out = np.empty(len(X))
        for r, m0 in enumerate(_row_max(np.asarray(X).reshape(len(X), -1))):
            m, e = float(m0), 0.0
            for layer in self.layers:
                m, e = layer.error_bound(m, e, u)
            out[r] = e
        return out

    def contract_bound(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """``E32 + E64`` per row on the logits (see the module docstring)."""
        m = _row_max(np.asarray(X).reshape(len(X), -1))
        return np.asarray(self.error_bound(m, U32) + self.error_bound(m, U64), dtype=np.float64)

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        if self.task == Task.REGRESS:
            vals = self.exact_tensors(X32)[-1]
            bound = self.value_error(X32, U32) + self.value_error(X32, U64)
            bound = np.where(np.isfinite(bound), bound, np.inf)
            return Reference(outputs=vals[:, 0] if self.n_values == 1 else vals, bound=bound)
        z = self.exact_logits(X32)
        E = self.contract_bound(X32)
        E = np.where(np.isfinite(E), E, np.inf)
        if self.decision == "threshold":
            idx = (z[:, 0] > 0).astype(np.int64)
            p1 = apply_activation("logistic", z[:, 0])
            proba = np.stack([1 - p1, p1], axis=1)
            amb: npt.NDArray[np.bool_] = ~(np.abs(z[:, 0]) > 2 * E + MARGIN_FLOOR["float32"])
        else:
            idx = np.argmax(z, axis=1).astype(np.int64)
            proba = apply_activation(self.output_activation, z)
            part = np.sort(z, axis=1)
            amb = ~(part[:, -1] - part[:, -2] > 2 * E + MARGIN_FLOOR["float32"])
        return Reference(outputs=idx, proba=np.asarray(proba, np.float64), scores=z, ambiguous=amb)

    def library_disagreements(self, model: Any, X32: npt.NDArray[np.float32], ref: Reference) -> int:
        """Rows where Keras itself breaks the contract against ``ref`` (``verify``'s cross-check): a class
        other than the reference's on a row outside the bound, or a value farther than the bound. A
        ``.keras`` path is loaded with Keras when Keras can be imported; otherwise nothing is checked."""
        from microlearn.frontends import keras_read

        if keras_read.is_keras_file(model):
            try:
                import keras

                model = keras.saving.load_model(str(model), compile=False)
            except Exception:  # Keras (or its backend) is not available here: the file was read without it
                return 0
        if not keras_read.is_keras_model(model):
            return 0
        X = np.asarray(X32, dtype=np.float32).reshape((len(X32), *self.shapes[0]))
        got = np.asarray(model.predict(X, verbose=0), dtype=np.float64).reshape(len(X32), -1)
        if self.task == Task.REGRESS:
            want = np.asarray(ref.outputs, dtype=np.float64).reshape(len(X32), -1)
            tol = np.asarray(ref.bound, dtype=np.float64)
            return int(np.sum(np.abs(got - want).max(axis=1) > tol))
        cls = (got[:, 0] > 0.5).astype(np.int64) if self.decision == "threshold" else np.argmax(got, axis=1)
        firm = ~np.asarray(ref.ambiguous, dtype=bool)
        return int(np.sum((cls != np.asarray(ref.outputs)) & firm))
