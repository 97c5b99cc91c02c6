"""C methods keyed by IR type, pipeline stages keyed by IR type, and ``generate`` that dispatches.

A family module registers its methods (``register_method(Linear, "float", summary, emit)``); a
transform stage registers how it is written as a pipeline stage (``register_stage(FeatureStage,
emit_stage)``). A ``Pipeline`` IR takes its final model's methods: :func:`generate` writes every
stage, the final model (with that method) and the task's API on the pipeline's raw input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from microlearn.backends.c.writer import CFunction, CSource, check_c_name, header
from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.ir.base import IR, Task
from microlearn.ir.pipeline import Pipeline


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    emit: Callable[..., CSource]  # emit(ir, name, command) -> CSource
    default: bool = False
    # the values the method decides exactly on: "float32" (every float32), or an integer C type whose
    # values only (e.g. "uint8_t"); a pipeline's stages hand the final model float32 values, so a pipeline
    # offers only "float32" methods
    inputs: str = "float32"
    # False for a method whose decisions may differ from the library's beyond its reference's rounding
    # (float32 arithmetic without a replay); verify measures its agreement, advice says so
    exact: bool = True


@dataclass(frozen=True)
class StageC:
    """A stage's C: ``text`` defines ``static inline int PREFIX_transform(const float *in, float *out)``
    (0, or a non-zero error code and no output); it may define other ``PREFIX_``-prefixed names."""

    text: str
    runtime_headers: tuple[str, ...] = ()
    const_bytes: int = 0


EmitStage = Callable[..., StageC]  # emit_stage(stage_ir, prefix) -> StageC

_METHODS: dict[type, dict[str, Method]] = {}
_STAGES: dict[type, EmitStage] = {}


def register_method(
    ir_type: type,
    name: str,
    summary: str,
    emit: Callable[..., CSource],
    default: bool = False,
    inputs: str = "float32",
    exact: bool = True,
) -> None:
    """Register C method ``name`` for IRs of ``ir_type`` (``emit(ir, name, command) -> CSource``);
    ``inputs`` names the input values it is exact for, ``exact`` whether it is exact at all (see
    :class:`Method`)."""
    table = _METHODS.setdefault(ir_type, {})
    if name in table and table[name].emit is not emit:
        raise ValueError(f"C method {name!r} is registered twice for {ir_type.__name__}")
    if default and any(m.default for n, m in table.items() if n != name):
        raise ValueError(f"{ir_type.__name__} already has a default C method")
    table[name] = Method(name, summary, emit, default, inputs, exact)


def register_stage(ir_type: type, emit_stage: EmitStage) -> None:
    """Register how IRs of ``ir_type`` are written as a pipeline stage."""
    _STAGES[ir_type] = emit_stage


def _load() -> None:
    import microlearn.backends.c  # noqa: F401  (imports every method module)


def _final(ir: IR) -> IR:
    return ir.final if isinstance(ir, Pipeline) else ir


def methods(ir: IR) -> dict[str, Method]:
    """The methods for ``ir``: the default first, then in order of registration."""
    _load()
    ms = _METHODS.get(type(_final(ir)), {})
    if isinstance(ir, Pipeline):
        ms = {n: m for n, m in ms.items() if m.inputs == "float32"}
    return dict(sorted(ms.items(), key=lambda kv: not kv[1].default))


def all_methods() -> dict[str, list[Method]]:
    """Every registered method, by IR type name."""
    _load()
    return {t.__name__: sorted(ms.values(), key=lambda m: not m.default) for t, ms in _METHODS.items()}


def methods_for(ir: IR) -> list[str]:
    """Names of the C methods that can encode this IR (a pipeline: its final model's)."""
    return list(methods(ir))


def default_method(ir: IR) -> str:
    ms = methods(ir)
    if not ms:
        raise UnsupportedEstimatorError(f"no C method is registered for {type(_final(ir)).__name__}")
    return next((m.name for m in ms.values() if m.default), next(iter(ms)))


def generate(ir: IR, method: str, name: str, command: str = "") -> CSource:
    """The C header of ``ir`` by ``method``; a pipeline chains its stages before the final model."""
    check_c_name(name)
    ms = methods(ir)
    if method not in ms:
        raise InvalidInputError(
            f"unknown method {method!r}; methods for this model: {', '.join(ms) or 'none'}"
        )
    if isinstance(ir, Pipeline):
        return _pipeline(ir, ms[method], name, command)
    return ms[method].emit(ir, name, command)


# ---------------------------------------------------------------------------------------------- pipelines
def _stage(st: IR, prefix: str) -> StageC:
    _load()
    fn = _STAGES.get(type(st))
    if fn is None:
        raise UnsupportedEstimatorError(f"{st.source} has no C pipeline stage yet")
    out: StageC = fn(st, prefix)
    return out


def _pipeline(ir: Pipeline, method: Method, name: str, command: str) -> CSource:
    final = method.emit(ir.final, f"{name}_final", command)
    parts, headers, nbytes = [], [], final.const_bytes
    for i, st in enumerate(ir.stages):
        sc = _stage(st, f"{name}_s{i}")
        parts.append(
            f"/* stage {i}: {type(st).__name__}, {st.n_inputs} -> {st.n_outputs} values */\n{sc.text}"
        )
        headers += [h for h in sc.runtime_headers if h not in headers]
        nbytes += sc.const_bytes
    headers += [h for h in final.runtime_headers if h not in headers]
    nf = ir.final.n_inputs
    # every stage in turn, buffers on the stack sized by the IR; the last one fills the final's input
    k = len(ir.stages)
    bufs = "".join(f"    float b{i}[{st.n_outputs}];\n" for i, st in enumerate(ir.stages[:-1]))
    calls = []
    for i in range(k):
        src = "x" if i == 0 else f"b{i - 1}"
        dst = "out" if i == k - 1 else f"b{i}"
        calls.append(f"    rc = {name}_s{i}_transform({src}, {dst});\n")
        calls.append("    if (rc != 0) {\n        return rc;\n    }\n" if i < k - 1 else "    return rc;\n")
    stages_fn = (
        f"/* The final model's {nf} inputs from the pipeline's raw input x: 0, or the error code of the\n"
        f" * stage that rejects x. */\n"
        f"static inline int {name}_stages(const float *x, float *out)\n{{\n{bufs}    int rc;\n"
        + "".join(calls)
        + "}\n"
    )
    api: list[CFunction] = [CFunction("stages", "status", nf)]
    wrappers = []
    check = f"    int rc = {name}_stages(x, f);\n    if (rc != 0) {{\n        return rc;\n    }}\n"
    for f in final.api:
        call_args = "f, out" if f.has_out else "f"
        inner = f"{name}_final_{f.name}({call_args})"
        if f.returns == "int32":
            bad = "0" if ir.task is Task.SCORE else "-1"
            body = f"    return {name}_stages(x, f) != 0 ? {bad} : {inner};\n"
            w = CFunction(f.name, "int32")
        elif f.returns == "float":
            body = f"    return {name}_stages(x, f) != 0 ? NAN : {inner};\n"
            w = CFunction(f.name, "float")
        elif f.returns == "void":
            body = f"{check}    {inner};\n    return 0;\n"
            w = CFunction(f.name, "status", f.width)
        else:
            body = f"{check}    return {inner};\n"
            w = CFunction(f.name, "status", f.width)
        wrappers.append(f"static inline {w.signature(name)}\n{{\n    float f[{nf}];\n{body}}}\n")
        api.append(w)
    body = (
        "\n".join(parts)
        + f"\n/* The final model ({ir.final.source}) on the stages' output. */\n"
        + final.defines
        + "\n"
        + final.body
        + "\n"
        + stages_fn
        + "\n"
        + "\n".join(wrappers)
    )
    notes = [
        "An input a stage rejects gives -1 (class index), 0 (inlier/outlier), NaN (value), or a non-zero",
        "return code (functions writing to out); out is then not written.",
    ]
    return header(
        ir,
        name,
        method.name,
        body,
        api=api,
        const_bytes=nbytes,
        runtime_headers=headers,
        command=command,
        notes=notes,
    )
