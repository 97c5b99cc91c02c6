"""C methods of a Keras network (``ir.network_keras.KerasNetwork``).

``float``: the float32 forward pass of ``backends.c.network`` (every layer kind's ``f32`` kernel); the
class is the first largest logit (one logistic output: logit > 0). No replay: Keras' own float32 result
is not reproducible, and on every row outside the contract's bound (docs/keras.md) the float32 class is
the exact one, which is Keras'. ``int8``: the network quantized with a calibration set (see
``backends.c.network``'s int8 method).
"""

from __future__ import annotations

from microlearn.backends.c.network import _api_float, chain
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, header
from microlearn.ir.base import Task
from microlearn.ir.network import ACTIVATION_CODES
from microlearn.ir.network_keras import KerasNetwork


def _api_classify(ir: KerasNetwork, name: str) -> tuple[str, list[CFunction]]:
    k, half, k_out = ir.n_values, ir.max_tensor, ir.n_outputs
    if ir.decision == "threshold":
        decide = "    return z[0] > 0.0f ? 1 : 0;\n"
        proba_body = (
            f"    const float *z = {name}_forward_f32(x, arena);\n"
            "    const float p = 1.0f / (1.0f + expf(-z[0]));\n"
            "    out[0] = 1.0f - p;\n    out[1] = p;\n"
        )
    else:
        decide = (
            "    int32_t c, best = 0;\n"
            f"    for (c = 1; c < {k}; c++) {{\n"
            "        if (z[c] > z[best]) {\n            best = c;\n        }\n    }\n"
            "    return best;\n"
        )
        proba_body = (
            f"    memcpy(out, {name}_forward_f32(x, arena), {k} * sizeof(float));\n"
            f"    ml_nn_act_f32(out, {k}, {ACTIVATION_CODES[ir.output_activation]});\n"
        )
    pred = (
        "/* Class index of input x: the first largest float32 logit; Keras' class on every row whose exact\n"
        " * margin exceeds the bound of docs/keras.md. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float arena[{2 * half}];\n"
        f"    const float *z = {name}_forward_f32(x, arena);\n" + decide + "}\n"
    )
    proba = (
        f"/* Class probabilities of input x into out[0..{k_out - 1}] (float32). */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    float arena[{2 * half}];\n{proba_body}}}\n"
    )
    return pred + "\n" + proba, [CFunction("predict", "int32"), CFunction("predict_proba", "void", k_out)]


def emit_float(ir: KerasNetwork, name: str, command: str = "") -> CSource:
    check_c_name(name)
    cls = ir.task == Task.CLASSIFY
    f = chain(ir, name, "f32", "forward_f32", track=False, skip_last=cls)
    api_text, api = _api_classify(ir, name) if cls else _api_float(ir, name, False)
    body = f.decls + "\n" + f.fn + "\n" + api_text
    arena = 2 * ir.max_tensor
    notes = [
        "Link with -lm. Float32 arithmetic; classes equal Keras' outside the bound of docs/keras.md.",
        f"Activation arena: {arena} floats on the stack ({4 * arena} bytes).",
    ]
    return header(
        ir,
        name,
        "float",
        body,
        api=api,
        const_bytes=f.const_bytes,
        runtime_headers=f.headers,
        command=command,
        notes=notes,
        extra_defines=[("ARENA_BYTES", 4 * arena), ("N_LAYERS", len(ir.layers))],
    )


register_method(
    KerasNetwork,
    "float",
    "float32 layers (Keras' arithmetic); classes exact outside the stated float32 bound",
    emit_float,
    default=True,
)


def emit_int8(ir: KerasNetwork, name: str, command: str = "") -> CSource:
    from microlearn.backends.c.network import emit_int8 as emit_network_int8

    return emit_network_int8(ir, name, command)


register_method(
    KerasNetwork,
    "int8",
    "int8 weights and activations from a calibration set, int32 accumulation, no floating point",
    emit_int8,
)
