"""Run the same rows through the reference library and through each target; report agreement and cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn._validation import as_float32_rows
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble
from microlearn.model import Model, convert
from microlearn.targets.base import TargetRun

EPS32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff of float32, 2**-24

TargetFn = Callable[[Model, npt.NDArray[np.float32]], TargetRun]


def _run_host(model: Model, X: npt.NDArray[np.float32]) -> TargetRun:
    if model.ir.is_classifier:
        return TargetRun(outputs=model.predict_index(X), proba=model.predict_proba(X))
    return TargetRun(outputs=model.predict(X))


# Target name -> function running a converted model over float32 rows. Other modules add their targets.
TARGETS: dict[str, TargetFn] = {"host": _run_host}


def _register_optional_targets() -> None:
    """Targets whose modules may be absent in a partial install register themselves here."""
    for modname in ("microlearn.targets.cortexm", "microlearn.micropython"):
        try:
            mod = __import__(modname, fromlist=["register_targets"])
        except ImportError:
            continue
        reg = getattr(mod, "register_targets", None)
        if reg is not None:
            reg(TARGETS)


@dataclass
class TargetResult:
    target: str
    n_rows: int
    agreement: float  # fraction of rows equal to the reference (regression: within the bound)
    max_abs_error: float | None  # classifier: of probabilities; regressor: of values
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    stack_bytes: int | None = None
    instructions_mean: float | None = None
    instructions_min: int | None = None
    instructions_max: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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

    def __str__(self) -> str:
        head = f"{self.estimator}, method {self.method!r}, {self.n_rows} rows"
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
        rows = []
        for r in self.results.values():
            rows.append(
                [
                    r.target,
                    f"{100 * r.agreement:.2f}%",
                    "-" if r.max_abs_error is None else f"{r.max_abs_error:.2e}",
                    _fmt(r.flash_bytes),
                    _fmt(r.ram_bytes),
                    _fmt(r.stack_bytes),
                    "-" if r.instructions_mean is None else f"{r.instructions_mean:,.0f}",
                    _fmt(r.instructions_max),
                ]
            )
        return head + "\n" + format_table(cols, rows)


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


def regression_bound(ir: TreeEnsemble, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per row, the largest difference allowed between the C (float32) and scikit-learn (float64) output.

    The C sums T float32-rounded leaf values in float32 and divides by T: every one of the T roundings of
    a leaf value, T-1 additions and one division errs by at most 2**-24 of a magnitude no larger than
    sum|v|, so |C - sklearn| <= (2T + 1) * 2**-24 * sum_t |v_t| / T (plus float64's own error, far smaller,
    covered by using 2T + 2)."""
    leaves = ir.leaf[ir.apply(X)]
    absv = np.abs(ir.leaf_value[leaves, 0]).sum(axis=1)
    T = ir.n_trees
    bound: npt.NDArray[np.float64] = (2 * T + 2) * EPS32 * absv / T
    return bound


def verify(
    estimator: Any,
    X: Any,
    *,
    targets: Sequence[str] = ("host",),
    method: str | None = None,
    **options: Any,
) -> Report:
    """Predict ``X`` with ``estimator`` and with the converted model on every target; compare."""
    _register_optional_targets()
    if isinstance(targets, str):
        targets = (targets,)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise InvalidInputError(f"unknown target(s) {unknown}; available: {sorted(TARGETS)}")
    model = estimator if isinstance(estimator, Model) else convert(estimator, method, **options)
    if isinstance(estimator, Model):
        raise InvalidInputError("verify needs the original fitted estimator, to compare against it")
    X32 = as_float32_rows(X, model.n_features)
    ir = model.ir
    if ir.is_classifier:
        ref_idx = np.searchsorted(np.asarray(model.classes_), estimator.predict(X32))
        ref_proba = np.asarray(estimator.predict_proba(X32), dtype=np.float64)
    else:
        ref_val = np.asarray(estimator.predict(X32), dtype=np.float64)
        bound = regression_bound(ir, X32)
    results: dict[str, TargetResult] = {}
    for t in targets:
        run = TARGETS[t](model, X32)
        if ir.is_classifier:
            out = np.asarray(run.outputs).astype(np.int64)
            agreement = float(np.mean(out == ref_idx)) if len(out) else 1.0
            err = None if run.proba is None else float(np.max(np.abs(run.proba - ref_proba), initial=0.0))
        else:
            diff = np.abs(np.asarray(run.outputs, dtype=np.float64) - ref_val)
            agreement = float(np.mean(diff <= bound)) if len(diff) else 1.0
            err = float(np.max(diff, initial=0.0))
        results[t] = TargetResult(
            target=t,
            n_rows=X32.shape[0],
            agreement=agreement,
            max_abs_error=err,
            flash_bytes=run.flash_bytes,
            ram_bytes=run.ram_bytes,
            stack_bytes=run.stack_bytes,
            instructions_mean=run.instructions_mean,
            instructions_min=run.instructions_min,
            instructions_max=run.instructions_max,
            extra=dict(run.extra),
        )
    return Report(type(estimator).__name__, model.method, X32.shape[0], results)
