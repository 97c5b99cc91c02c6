"""Run the same rows through the IR's reference (the library's result) and through each target; report
agreement and cost. Nothing here is family-specific: the comparator is chosen by ``ir.task``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import progress
from microlearn._validation import as_float32_rows
from microlearn.errors import InvalidInputError, MicrolearnError, ModelTooLargeError, ToolchainError
from microlearn.estimate import Budget, BudgetCheck, Estimate, estimate, is_mcu
from microlearn.ir.base import IR, Reference, Task
from microlearn.targets.base import TARGETS, Artifacts, Target, TargetRun

# Modules whose targets register themselves (microlearn.targets.base.register_target) when imported,
# or through a register_targets(table) function (the older form: name -> fn(model, X32) -> TargetRun).
TARGET_MODULES = (
    "microlearn.targets.host",
    "microlearn.targets.mcu",
    "microlearn.targets.cortexm",
    "microlearn.micropython",
)

__all__ = [
    "TARGETS",
    "Report",
    "TargetResult",
    "available_targets",
    "boundary_rows",
    "format_table",
    "verify",
    "verify_model_file",
]


@dataclass
class FunctionTarget:
    """Adapter for a target given as ``fn(model, X32) -> TargetRun`` (a ``microlearn.Model``)."""

    name: str
    fn: Callable[[Any, npt.NDArray[np.float32]], TargetRun]

    def available(self) -> str | None:
        return None

    def run(self, art: Artifacts, X: npt.NDArray[np.float32]) -> TargetRun:
        from microlearn.model import Model

        return self.fn(Model(art.ir, art.method), X)


def _register_optional_targets() -> None:
    """Import the target modules present in this install; each registers its targets."""
    for modname in TARGET_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        reg = getattr(mod, "register_targets", None)
        if reg is None:
            continue
        legacy: dict[str, Any] = {}
        reg(legacy)
        for name, fn in legacy.items():
            if name not in TARGETS:
                TARGETS[name] = fn if isinstance(fn, Target) else FunctionTarget(name, fn)


register_targets = _register_optional_targets


@dataclass
class TargetResult:
    target: str
    n_rows: int
    agreement: float  # fraction of the decidable rows equal to the reference (values: within the bound)
    max_abs_error: float | None  # classifier: of probabilities; others: of values
    flash_bytes: int | None = None
    ram_bytes: int | None = None  # static RAM + peak stack (MCU targets); mlrt: what the model retains
    stack_bytes: int | None = None
    arena_bytes: int | None = None  # the C's activation arena (NAME_ARENA_BYTES; networks), within the stack
    instructions_mean: float | None = None
    instructions_min: int | None = None
    instructions_max: int | None = None
    n_ambiguous: int = 0  # rows whose reference margin is inside float64 rounding (not in agreement)
    n_ambiguous_differ: int = 0  # of those, rows where the target chose another class
    extra: dict[str, Any] = field(default_factory=dict)
    estimate: Estimate | None = None  # flash/RAM estimated before the build (MCU targets)
    budget: BudgetCheck | None = None  # measured flash/RAM against verify's budget (MCU targets)

    @property
    def fits(self) -> bool:
        """True unless a budget was given and this target's flash or RAM is over it."""
        return self.budget is None or self.budget.fits


@dataclass
class Report(Mapping[str, TargetResult]):
    estimator: str
    method: str
    n_rows: int
    results: dict[str, TargetResult]

    def __getitem__(self, key: str) -> TargetResult:
        return self.results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def fits(self) -> bool:
        """True unless a budget was given and some target is over it."""
        return all(r.fits for r in self.results.values())

    @property
    def ok(self) -> bool:
        """Every target agrees on every decidable row and fits the budget."""
        return self.fits and all(r.agreement == 1.0 for r in self.results.values())

    def __str__(self) -> str:
        head = f"{self.estimator}, method {self.method!r}, {self.n_rows} rows"
        amb = any(r.n_ambiguous for r in self.results.values())
        cols = [
            "target",
            "agreement",
            "max abs err",
            "flash B",
            "RAM B",
            "stack B",
            "instr mean",
            "instr max",
        ]
        arena = any(r.arena_bytes is not None for r in self.results.values())
        if arena:
            cols.insert(cols.index("stack B") + 1, "arena B")
        est = any(r.estimate is not None for r in self.results.values())
        if est:
            cols.insert(4, "est. flash B")
        if amb:
            cols.append("ambiguous (differ)")
        rows = []
        for r in self.results.values():
            row = [
                r.target,
                f"{100 * r.agreement:.2f}%",
                "-" if r.max_abs_error is None else f"{r.max_abs_error:.2e}",
                _fmt(r.flash_bytes),
                _fmt(r.ram_bytes),
                _fmt(r.stack_bytes),
                *([_fmt(r.arena_bytes)] if arena else []),
                "-" if r.instructions_mean is None else f"{r.instructions_mean:,.0f}",
                _fmt(r.instructions_max),
            ]
            if est:
                row.insert(4, "-" if r.estimate is None else f"{r.estimate.flash_bytes:,}")
            if amb:
                row.append(f"{r.n_ambiguous} ({r.n_ambiguous_differ})")
            rows.append(row)
        text = head + "\n" + format_table(cols, rows)
        checks = [r.budget for r in self.results.values() if r.budget is not None]
        if checks:
            text += "\n\nbudget:\n" + "\n".join(f"  {c}" for c in checks)
        return text


def _fmt(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def format_table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append(
            "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- comparators
@dataclass
class Comparison:
    agreement: float
    max_abs_error: float | None
    n_ambiguous: int = 0
    n_ambiguous_differ: int = 0


def _row_diff(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    d = np.where(
        np.isnan(d),
        np.where(np.isnan(np.asarray(a, np.float64)) == np.isnan(np.asarray(b, np.float64)), 0.0, np.inf),
        d,
    )
    return d.reshape(d.shape[0], -1).max(axis=1) if d.ndim > 1 else d


def compare_index(ref: Reference, run: TargetRun) -> Comparison:
    """CLASSIFY / CLUSTER: the same index on every row; rows the reference itself cannot decide
    (``ref.ambiguous``) are counted apart."""
    out = np.asarray(run.outputs).astype(np.int64).reshape(-1)
    want = np.asarray(ref.outputs).astype(np.int64).reshape(-1)
    amb = np.zeros(want.shape, dtype=bool) if ref.ambiguous is None else np.asarray(ref.ambiguous, dtype=bool)
    same = out == want
    firm = ~amb
    agreement = float(np.mean(same[firm])) if firm.any() else 1.0
    err = None
    if run.proba is not None and ref.proba is not None:
        err = float(np.max(_row_diff(run.proba, ref.proba), initial=0.0))
    return Comparison(agreement, err, int(amb.sum()), int((~same & amb).sum()))


def compare_values(ref: Reference, run: TargetRun) -> Comparison:
    """REGRESS / SCORE / TRANSFORM: every row within ``ref.bound`` (exact equality without a bound)."""
    diff = _row_diff(run.outputs, ref.outputs)
    bound = np.zeros(diff.shape) if ref.bound is None else np.asarray(ref.bound, dtype=np.float64)
    agreement = float(np.mean(diff <= bound)) if len(diff) else 1.0
    return Comparison(agreement, float(np.max(diff, initial=0.0)))


def compare_score(ref: Reference, run: TargetRun) -> Comparison:
    """SCORE: every score within ``ref.bound`` and, where the reference has its inlier/outlier
    ``decision`` and the target reports its own (``run.extra["predict"]``), the same decision on every
    row outside ``ref.ambiguous`` (rows inside are counted apart)."""
    c = compare_values(ref, run)
    got = run.extra.get("predict")
    if ref.decision is None or got is None:
        return c
    diff = _row_diff(run.outputs, ref.outputs)
    bound = np.zeros(diff.shape) if ref.bound is None else np.asarray(ref.bound, dtype=np.float64)
    want = np.asarray(ref.decision, dtype=np.int64).reshape(-1)
    same = np.asarray(got, dtype=np.int64).reshape(-1) == want
    amb = np.zeros(want.shape, dtype=bool) if ref.ambiguous is None else np.asarray(ref.ambiguous, dtype=bool)
    ok = (diff <= bound) & (same | amb)
    agreement = float(np.mean(ok)) if len(ok) else 1.0
    return Comparison(agreement, c.max_abs_error, int(amb.sum()), int((~same & amb).sum()))


COMPARATORS: dict[Task, Callable[[Reference, TargetRun], Comparison]] = {
    Task.CLASSIFY: compare_index,
    Task.CLUSTER: compare_index,
    Task.REGRESS: compare_values,
    Task.SCORE: compare_score,
    Task.TRANSFORM: compare_values,
}


def _cross_check(ir: IR, ref: Reference, estimator: Any, X32: npt.NDArray[np.float32]) -> None:
    """The IR's reference must be the library's own result; raise if the two disagree."""
    from microlearn.frontends.registry import library_view

    estimator = library_view(estimator)
    task = ir.task
    own = getattr(ir, "library_disagreements", None)  # an IR that knows how to ask its library
    if own is not None:
        bad = int(own(estimator, X32, ref))
    elif task is Task.CLASSIFY and hasattr(estimator, "predict"):
        classes = ir.classes if ir.classes is not None else np.arange(ir.n_outputs)
        got = np.asarray(estimator.predict(X32))
        want = np.asarray(classes)[np.asarray(ref.outputs, dtype=np.int64)]
        firm = np.ones(len(got), bool) if ref.ambiguous is None else ~np.asarray(ref.ambiguous, bool)
        bad = int(np.sum((got != want) & firm))
    elif task is Task.CLUSTER and hasattr(estimator, "predict"):
        centers = getattr(estimator, "cluster_centers_", None)
        # scikit-learn's k-means predicts only rows of its centres' dtype (the values are the same)
        rows = X32 if centers is None else np.asarray(X32, dtype=np.asarray(centers).dtype)
        got = np.asarray(estimator.predict(rows))
        want = np.asarray(ref.outputs, dtype=np.int64)
        firm = np.ones(len(got), bool) if ref.ambiguous is None else ~np.asarray(ref.ambiguous, bool)
        bad = int(np.sum((got != want) & firm))
    elif task is Task.REGRESS and hasattr(estimator, "predict"):
        got64 = np.asarray(estimator.predict(X32), dtype=np.float64).reshape(len(X32), -1)
        want64 = np.asarray(ref.outputs, dtype=np.float64).reshape(len(X32), -1)
        tol = np.zeros(len(X32)) if ref.bound is None else np.asarray(ref.bound, np.float64)
        bad = int(np.sum(np.abs(got64 - want64).max(axis=1) > tol))
    elif task is Task.TRANSFORM and hasattr(estimator, "transform"):
        got64 = np.asarray(estimator.transform(X32), dtype=np.float64).reshape(len(X32), -1)
        want64 = np.asarray(ref.outputs, dtype=np.float64).reshape(len(X32), -1)
        tol = np.zeros(len(X32)) if ref.bound is None else np.asarray(ref.bound, np.float64)
        bad = int(np.sum(np.abs(got64 - want64).max(axis=1) > tol))
    else:
        return
    if bad:
        raise MicrolearnError(
            f"microlearn's reference of this {type(estimator).__name__} disagrees with the estimator itself "
            f"on {bad} of {len(X32)} rows: the conversion is wrong for this model; please report it"
        )


def boundary_rows(ir: IR, X: Any, n: int = 40) -> npt.NDArray[np.float32]:
    """Rows on the decision boundaries of ``ir``'s reference, to test a method on near ties: for rows of
    ``X`` that the reference decides differently (class, component, or inlier/outlier), bisection on the
    segment between two of them down to adjacent float32 rows, both kept (up to ``n`` rows). A method
    exact only outside float32 rounding may decide them differently; ``verify(est, boundary_rows(...),
    method=...)`` measures how often it does."""
    if ir.task not in (Task.CLASSIFY, Task.CLUSTER, Task.SCORE):
        raise InvalidInputError(f"a {ir.task.value} model has no decision boundary; give rows to verify")

    def decide(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        with np.errstate(under="ignore"):  # harmless in a reference (exp of a far component)
            ref = ir.reference(rows)
        lab = ref.decision if ref.decision is not None else ref.outputs
        return np.asarray(lab, dtype=np.int64).reshape(len(rows), -1)[:, 0]

    X32 = as_float32_rows(X, ir.n_inputs, ir.feature_names)
    lab = decide(X32)
    out: list[npt.NDArray[np.float32]] = []
    for i in range(len(X32)):
        other = np.flatnonzero(lab != lab[i])
        if len(other) == 0:
            continue
        a, b = X32[i].astype(np.float64), X32[int(other[i % len(other)])].astype(np.float64)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if decide((a + mid * (b - a)).astype(np.float32)[None, :])[0] == lab[i]:
                lo = mid
            else:
                hi = mid
        out += [(a + lo * (b - a)).astype(np.float32), (a + hi * (b - a)).astype(np.float32)]
        if len(out) >= n:
            break
    if not out:
        raise InvalidInputError("every row of X gets the same decision: give rows of at least two classes")
    return np.asarray(out, dtype=np.float32).reshape(-1, X32.shape[1])


def regression_bound(ir: IR, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Per row, the largest difference allowed between a target's values and the reference
    (``ir.reference(X).bound``; zero where the IR states none)."""
    b = ir.reference(X).bound
    return np.zeros(len(X)) if b is None else np.asarray(b, dtype=np.float64)


def verify(
    estimator: Any,
    X: Any,
    *,
    targets: Sequence[str] = ("host",),
    method: str | None = None,
    budget: Budget | Mapping[str, Any] | None = None,
    **options: Any,
) -> Report:
    """Run ``X`` (for a pipeline: its raw input, e.g. windows) through the converted model on every
    target and compare each with the IR's reference (checked once against ``estimator`` itself).

    On microcontroller targets the flash and RAM are estimated before anything is compiled
    (``TargetResult.estimate``). ``budget={"flash": 64 * 1024, "ram": "8k"}`` then says per target
    whether the measured model fits and by how much (``TargetResult.budget``, ``Report.fits``); an
    estimate far over the budget (:data:`FAR_OVER` times it) raises :class:`ModelTooLargeError` before
    the long build, naming the methods that would fit."""
    from microlearn.model import Model, convert

    if isinstance(estimator, Model):
        raise InvalidInputError("verify needs the original fitted estimator, to compare against it")
    names = _check_targets(targets)
    model = convert(estimator, method, **options)
    ir = model.ir
    X32 = as_float32_rows(X, ir.n_inputs, ir.feature_names)
    ref = ir.reference(X32)
    _cross_check(ir, ref, estimator, X32)
    results = _run_targets(ir, model.method, X32, ref, names, budget)
    what = os.path.basename(os.fspath(estimator)) if isinstance(estimator, (str, os.PathLike)) else None
    return Report(what or type(estimator).__name__, model.method, X32.shape[0], results)


def verify_model_file(
    path: str | Path,
    X: Any,
    *,
    targets: Sequence[str] = ("host",),
    method: str | None = None,
    budget: Budget | Mapping[str, Any] | None = None,
) -> Report:
    """Verify a saved model file (``.mlm``) without its estimator: the file is checked completely
    (format, CRC, every section), its IR rebuilt, and every target compared with that IR's reference.
    (With the estimator, :func:`verify` also checks the conversion itself against the library.)"""
    from microlearn.backends import modelfile
    from microlearn.model import Model

    p = Path(path)
    loads: Any = modelfile.loads
    ir = loads(p.read_bytes())
    names = _check_targets(targets)
    model = Model(ir, method or "")
    X32 = as_float32_rows(X, ir.n_inputs, ir.feature_names)
    ref = ir.reference(X32)
    results = _run_targets(ir, model.method, X32, ref, names, budget)
    return Report(f"model file {p.name}", model.method, X32.shape[0], results)


def available_targets() -> list[str]:
    """Names of the targets that can run on this machine (``verify(..., targets=...)``), without aliases."""
    from microlearn.targets.mcu.arch import ALIASES

    _register_optional_targets()
    out = []
    for name, t in TARGETS.items():
        if name not in ALIASES and name not in out and t.available() is None:
            out.append(name)
    return out


def _check_targets(targets: Sequence[str] | str) -> list[str]:
    _register_optional_targets()
    names = [targets] if isinstance(targets, str) else list(targets)
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        raise InvalidInputError(f"unknown target(s) {unknown}; available: {sorted(TARGETS)}")
    return names


def _run_targets(
    ir: IR,
    method: str,
    X32: npt.NDArray[np.float32],
    ref: Reference,
    targets: Sequence[str],
    budget: Budget | Mapping[str, Any] | None,
) -> dict[str, TargetResult]:
    compare = COMPARATORS[ir.task]
    art = Artifacts(ir, method)
    limits = Budget.of(budget)
    estimates = {t: _estimate_first(art, t, limits) for t in targets if is_mcu(t)}
    results: dict[str, TargetResult] = {}
    for t in targets:
        target = TARGETS[t]
        why = target.available()
        if why is not None:
            raise ToolchainError(f"target {t!r} cannot run here: {why}")
        run = target.run(art, X32)
        c = compare(ref, run)
        results[t] = TargetResult(
            target=t,
            n_rows=X32.shape[0],
            agreement=c.agreement,
            max_abs_error=c.max_abs_error,
            flash_bytes=run.flash_bytes,
            ram_bytes=run.ram_bytes,
            stack_bytes=run.stack_bytes,
            arena_bytes=run.arena_bytes,
            instructions_mean=run.instructions_mean,
            instructions_min=run.instructions_min,
            instructions_max=run.instructions_max,
            n_ambiguous=c.n_ambiguous,
            n_ambiguous_differ=c.n_ambiguous_differ,
            extra=dict(run.extra),
            estimate=estimates.get(t),
            budget=None
            if limits is None or t not in estimates
            else BudgetCheck(t, run.flash_bytes, run.ram_bytes, limits),
        )
    return results


# An estimate this many times over a budget (or over the target's memory) is refused before compiling:
# estimates are within a few percent on the measured families (benchmarks/estimates.py), so such a
# model cannot fit, and a build of it can take minutes.
FAR_OVER = 1.5


def _estimate_first(art: Artifacts, target: str, limits: Budget | None) -> Estimate:
    """The estimate of ``art`` on ``target``, shown before the build; refuses a model far too large."""
    from microlearn.targets.mcu.arch import get_arch

    src = art.c_source()
    est = estimate(art.ir, art.method, target, const_bytes=src.const_bytes, arena_bytes=src.arena_bytes)
    progress.note(f"estimate before building: {est}")
    arch = get_arch(target)
    caps = {"flash": arch.flash[1], "RAM": arch.ram[1]}
    what = f"{target}'s {arch.flash[1] // 1024:,} KiB image"
    if limits is not None and limits.flash is not None and limits.flash < caps["flash"]:
        caps["flash"], what = limits.flash, f"the flash budget of {limits.flash:,} B"
    if limits is not None and limits.ram is not None:
        caps["RAM"] = min(caps["RAM"], limits.ram)
    for kind, used in (("flash", est.flash_bytes), ("RAM", est.ram_bytes)):
        cap = caps[kind]
        if used > FAR_OVER * cap:
            if kind == "RAM":
                what = f"the RAM budget of {cap:,} B"
            raise ModelTooLargeError(
                f"{art.method} on {target} needs about {used:,} B of {kind}, {used / cap:.1f}x {what}: "
                + _advice(art, target, kind, cap)
            )
    return est


def _advice(art: Artifacts, target: str, kind: str, cap: int) -> str:
    from microlearn.backends.c.registry import methods

    fits = []
    for name, m in methods(art.ir).items():
        if name == art.method or m.inputs != "float32":
            continue
        e = estimate(art.ir, name, target)
        used = e.flash_bytes if kind == "flash" else e.ram_bytes
        if used <= cap:
            fits.append(f"{name} (about {used:,} B{'' if m.exact else '; float32 only, not exact'})")
    if fits:
        return f"use method {' or '.join(fits)}, a smaller model or a target with more memory"
    return "use a smaller model (fewer or shallower trees, fewer features) or a target with more memory"
