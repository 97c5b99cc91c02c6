"""Anomaly detection and mixtures on emulated Cortex-M4F and M0+: microlearn against emlearn 0.23.

emlearn converts EllipticEnvelope (``emlearn.distance``) and GaussianMixture / BayesianGaussianMixture
(``emlearn.mixture``, every covariance type turned into a full matrix); microlearn also converts MinCovDet,
OneClassSVM and LocalOutlierFactor, measured here alone. Run: ``python benchmarks/anomaly.py [--docs]``;
writes benchmarks/out/anomaly.md (``--docs`` also puts the tables into docs/benchmarks.md).

The rules of benchmarks/trees.py, for every contender:

* **Native input, outside the measured region**: float32 rows, written to the emulator as they are; the
  measured call is the contender's own decision function and, for emlearn's mixture (which has no
  class output), the argmax over the log-probabilities its ``predict_log_proba`` writes.
* **What is measured**: the inlier / outlier decision (``NAME_predict``; emlearn:
  ``eml_elliptic_envelope_predict``) for the outlier detectors, the component (``predict``) for the
  mixtures.
* **The same flash attribution** (:func:`microlearn.targets.mcu.measure`): code, const data and .data of
  everything but the harness, plus every library member (libgcc soft-float, libm) that only the measured
  image pulls in, minus an image whose entry function does nothing. RAM: static data plus the painted peak
  stack of one call. Instructions: exact counts per call in the emulator, the mean over the rows.
* **Agreement**: rows whose decision (component) equals scikit-learn's ``predict`` on the same float32
  rows (MinCovDet, which has no predict: its support rule, docs/anomaly.md). **Boundary rows**: the
  same on 40 rows built on the model's decision boundaries (``microlearn.verify.boundary_rows``: adjacent
  float32 rows either side of the threshold or of a tie between components), run on the Cortex-M4F,
  against the reference's decision; rows whose reference margin is inside its rounding bound are left
  out.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.covariance import EllipticEnvelope, MinCovDet
from sklearn.datasets import load_iris, load_wine
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

import microlearn
from microlearn.targets import mcu
from microlearn.verify import boundary_rows

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks/anomaly.py: begin -->", "<!-- benchmarks/anomaly.py: end -->"


@dataclass
class Case:
    label: str
    estimator: Any
    X: np.ndarray  # float32 test rows


@dataclass
class Row:
    case: str
    contender: str
    cpu: str
    flash: int | None
    ram: int | None
    instructions: float | None
    agreement: float | None
    note: str = ""
    boundary: float | None = None


def _split(X: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = train_test_split(X, test_size=n_test, random_state=0)
    rng = np.random.default_rng(1)
    b = b + rng.normal(size=b.shape) * X.std(axis=0) * 0.5  # some rows outside the training cloud
    return a, b.astype(np.float32)


def cases(n_rows: int) -> list[Case]:
    warnings.simplefilter("ignore")
    iris = load_iris().data
    wine = load_wine().data  # 13 features of very different scales, left unscaled
    out = []
    a, b = _split(iris, n_rows)
    out.append(Case("EllipticEnvelope, iris (4 features)", EllipticEnvelope(random_state=0).fit(a), b))
    a, b = _split(wine, min(n_rows, 80))
    out.append(Case("EllipticEnvelope, wine (13 features)", EllipticEnvelope(random_state=0).fit(a), b))
    a, b = _split(iris, n_rows)
    out.append(Case("GaussianMixture full, 3 x 4", GaussianMixture(n_components=3, random_state=0).fit(a), b))
    a, b = _split(wine, min(n_rows, 80))
    out.append(
        Case(
            "GaussianMixture diag, 4 x 13",
            GaussianMixture(n_components=4, covariance_type="diag", random_state=0).fit(a),
            b,
        )
    )
    a, b = _split(iris, n_rows)
    out.append(
        Case(
            "BayesianGaussianMixture tied, 3 x 4",
            BayesianGaussianMixture(n_components=3, covariance_type="tied", random_state=0).fit(a),
            b,
        )
    )
    return out


def solo_cases(n_rows: int) -> list[Case]:
    warnings.simplefilter("ignore")
    iris = StandardScaler().fit_transform(load_iris().data)
    a, b = _split(iris, n_rows)
    return [
        Case("MinCovDet, iris", MinCovDet(random_state=0).fit(a), b),
        Case("OneClassSVM rbf, iris", OneClassSVM(nu=0.1, gamma=0.3).fit(a), b),
        Case("LocalOutlierFactor k=10, iris", LocalOutlierFactor(n_neighbors=10, novelty=True).fit(a), b),
    ]


def _want(est: Any, X: np.ndarray) -> np.ndarray:
    if isinstance(est, MinCovDet):
        ref = microlearn.convert(est).ir.reference(X)
        assert ref.decision is not None
        return ref.decision
    return np.asarray(est.predict(X)).astype(np.int64)


def _measure(case: Case, label: str, cpu: str, sources: dict[str, str], glue: str, incs: list[str]) -> Row:
    try:
        run = mcu.measure(sources, glue, cpu, [r.tobytes() for r in case.X], 4, include_dirs=incs)
    except Exception as e:  # a contender that does not build is reported, not hidden
        return Row(case.label, label, cpu, None, None, None, None, f"error: {str(e)[:60]}")
    got = run.outputs.reshape(-1).view("<i4").astype(np.int64)
    agree = float(np.mean(got == _want(case.estimator, case.X)))
    edge = None
    if cpu == CPUS[0]:
        ir = microlearn.convert(case.estimator).ir
        with np.errstate(under="ignore"):  # emlearn's import makes numpy raise on underflow
            B = boundary_rows(ir, case.X, 40)
            ref = ir.reference(B)
        want = np.asarray(ref.decision if ref.decision is not None else ref.outputs, dtype=np.int64)
        firm = np.ones(len(B), bool) if ref.ambiguous is None else ~np.asarray(ref.ambiguous, bool)
        run_b = mcu.measure(sources, glue, cpu, [r.tobytes() for r in B], 4, include_dirs=incs)
        got_b = run_b.outputs.reshape(-1).view("<i4").astype(np.int64)
        edge = float(np.mean(got_b[firm] == want[firm])) if firm.any() else None
    return Row(case.label, label, cpu, run.flash_bytes, run.ram_bytes, run.instructions_mean, agree, "", edge)


def _glue(body: str, header: str = "model.h") -> str:
    return (
        f'#include <stdint.h>\n#include "ml_bench.h"\n#include "{header}"\n'
        f"void ml_bench_entry(const void *in, void *out)\n{{\n{body}}}\n"
    )


def run_microlearn(case: Case, cpu: str, method: str | None = None) -> Row:
    m = microlearn.convert(case.estimator, method)
    body = "    *(int32_t *)out = model_predict((const float *)in);\n"
    return _measure(case, f"microlearn {m.method}", cpu, {"model.h": m.to_c("model")}, _glue(body), [])


def run_emlearn(case: Case, cpu: str) -> Row | None:
    import emlearn
    from emlearn import distance, mixture

    est = case.estimator
    nf = case.X.shape[1]
    if isinstance(est, EllipticEnvelope):
        code = distance.generate_code(est.location_, est.get_precision(), est.offset_, name="model")
        # emlearn's decision: 1 = outlier, 0 = inlier; mapped to scikit-learn's 1 / -1 in the glue
        body = (
            "    *(int32_t *)out = eml_elliptic_envelope_predict(&model_classifier, (const float *)in, "
            f"{nf}, (float *)0) ? -1 : 1;\n"
        )
    elif isinstance(est, GaussianMixture | BayesianGaussianMixture):
        code = mixture.generate_code(mixture.Wrapper(est, "loadable"), name="model")
        k = est.n_components
        body = (
            f"    float lp[{k}];\n    int32_t c, best = 0;\n"
            f"    model_predict_log_proba((const float *)in, {nf}, lp);\n"
            f"    for (c = 1; c < {k}; c++) {{\n        if (lp[c] > lp[best]) {{\n            best = c;\n"
            "        }\n    }\n    *(int32_t *)out = best;\n"
        )
    else:
        return None
    return _measure(case, "emlearn 0.23", cpu, {"model.h": code}, _glue(body), [emlearn.includedir])


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    head = (
        "| model | contender | agreement | boundary rows agree (firm of 40) | "
        + " | ".join(f"{c} flash B | {c} RAM B | {c} instr" for c in CPUS)
        + " |\n|"
        + "---|" * (4 + 3 * len(CPUS))
    )
    out = [head]
    keys: list[tuple[str, str]] = []
    for r in rows:
        if (r.case, r.contender) not in keys:
            keys.append((r.case, r.contender))
    for case, who in keys:
        rs = {r.cpu: r for r in rows if r.case == case and r.contender == who}
        agree = min((r.agreement for r in rs.values() if r.agreement is not None), default=None)
        cells = []
        for c in CPUS:
            r = rs[c]
            cells += [_fmt(r.flash), _fmt(r.ram), _fmt(r.instructions)]
        note = next((r.note for r in rs.values() if r.note), "")
        r0 = rs[CPUS[0]]
        edge = (
            "-" if r0.flash is None else "all ambiguous" if r0.boundary is None else _fmt(r0.boundary, True)
        )
        out.append(
            f"| {case} | {who}{' (' + note + ')' if note else ''} | {_fmt(agree, True)} | {edge} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100, help="test rows run on each emulated CPU")
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/benchmarks.md")
    args = ap.parse_args()
    rows: list[Row] = []
    for case in cases(args.rows):
        for cpu in CPUS:
            for method in microlearn.methods_for(case.estimator):
                rows.append(run_microlearn(case, cpu, method))
            r = run_emlearn(case, cpu)
            if r is not None:
                rows.append(r)
        print(f"measured {case.label}", flush=True)
    solo: list[Row] = []
    for case in solo_cases(args.rows):
        for cpu in CPUS:
            for method in microlearn.methods_for(case.estimator):
                solo.append(run_microlearn(case, cpu, method))
        print(f"measured {case.label}", flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    text = (
        f"{datetime.date.today()}, {gcc}, -Os, up to {args.rows} test rows per model (training rows held "
        "out, plus noise so that outliers occur), instructions counted exactly in the emulator "
        "(`python benchmarks/anomaly.py`). The measured call is the decision (inlier/outlier, or the "
        "component); float32 input converted before it; flash attributed the same way for both "
        "(benchmarks/anomaly.py docstring). Agreement: rows whose decision equals scikit-learn's "
        "`predict`.\n\n"
        + table(rows)
        + "\nmicrolearn alone (emlearn has no converter for these):\n\n"
        + table(solo)
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "anomaly.md").write_text(text)
    print(text)
    if args.docs:
        doc = DOCS.read_text()
        if BEGIN not in doc:
            doc += f"\n## Anomaly detection and mixtures: microlearn and emlearn\n\n{BEGIN}\n{END}\n"
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + text + doc[b:])


if __name__ == "__main__":
    main()
