"""Calibrate and check microlearn's flash/RAM estimates (microlearn.estimate) on every MCU target.

For each CPU and each family/method, small and larger models are built and run on the emulated CPU
(the same measurement as ``microlearn verify --target cortex-m4f``); what is not const data is fitted as
fixed code + bytes per internal tree node (for a Keras network: per layer), and RAM (static + peak
stack) as a fixed figure + bytes per class (less a network's activation arena: the estimate takes it
from the generated C). Output links (a
boosted regressor's exp / sigmoid / softplus, a network's logistic / tanh units, probabilities) are
measured first as the code one link adds to the same model without it (``LINKS``),
and the calibration models' links are taken off before the fit, so a ``COSTS`` row holds none.
``--table`` prints the ``COSTS`` / ``GENERIC`` / ``LINKS`` rows recorded in src/microlearn/estimate.py;
without it the script prints, for check models not used in the fit, estimate vs measurement (and the
estimate without its links, what the table gave before links were counted).

    python benchmarks/estimates.py --table      # the rows of estimate.COSTS
    python benchmarks/estimates.py              # estimate vs measured on the check models
    python benchmarks/estimates.py --links      # the same on models with output links (and without)
    python benchmarks/estimates.py --keras      # the same on Keras networks (and the generic figure)
    python benchmarks/estimates.py --table --only KerasNetwork   # the rows of one IR type
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.covariance import EllipticEnvelope
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from tqdm import tqdm

import microlearn
from microlearn.backends.c.registry import generate
from microlearn.estimate import GENERIC, estimate, internal_nodes, link_cost, links, n_layers
from microlearn.ir.base import IR
from microlearn.targets.mcu import McuTarget

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")
TREE_METHODS = ("table", "inline", "packed", "fast")
KNN_METHODS = ("float", "float32", "int8", "int16")
BOOSTED_METHODS = ("table", "inline", "packed")
NETWORK_METHODS = ("float", "float32")
KERAS_METHODS = ("float", "int8")


def _data() -> dict[str, tuple[Any, Any]]:
    return {
        "digits": load_digits(return_X_y=True),
        "iris": load_iris(return_X_y=True),
        "diabetes": load_diabetes(return_X_y=True),
    }


def measure(model: microlearn.Model, X: Any, cpu: str, *, proba: bool = False) -> tuple[int, int, int, int]:
    """(flash, RAM, const bytes of the C, internal nodes) of ``model`` on ``cpu`` (``proba``: the
    program calls ``predict_proba`` too)."""
    return measure_ir(model.ir, model.method, X, cpu, proba=proba)


def measure_ir(ir: IR, method: str, X: Any, cpu: str, *, proba: bool = False) -> tuple[int, int, int, int]:
    src = generate(ir, method, "calib")
    rows = np.asarray(X[:3], dtype=np.float32).reshape(min(3, len(X)), -1)  # images flattened
    run = McuTarget(cpu, proba=proba).run_source(src, rows)
    assert run.flash_bytes is not None and run.ram_bytes is not None
    return run.flash_bytes, run.ram_bytes, src.const_bytes, internal_nodes(ir)


def convert(est: Any, method: str, X: Any, **kw: Any) -> microlearn.Model:
    """``microlearn.convert``; a Keras network's int8 method is calibrated on ``X``."""
    if method == "int8" and type(est).__module__.startswith("keras"):
        kw["calibration"] = X
    return microlearn.convert(est, method=method, **kw)


def _keras() -> tuple[Any, Any, Callable[[Any], Any]]:
    """(keras, a ``layers`` whose kernels start at zero: no random kernels to compile, seeded(model)
    giving every weight a seeded random value)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    class Layers:
        def __getattr__(self, name: str) -> Any:
            cls = getattr(keras.layers, name)

            def make(*args: Any, **kw: Any) -> Any:
                for p in ("kernel", "depthwise", "pointwise"):
                    if f"{p}_initializer" in cls.__init__.__code__.co_varnames:
                        kw.setdefault(f"{p}_initializer", "zeros")
                return cls(*args, **kw)

            return make

    def seeded(model: Any) -> Any:
        rng = np.random.default_rng(0)
        for layer in model.layers:
            if isinstance(layer, keras.layers.Normalization):
                continue
            ws = layer.get_weights()
            scale = [rng.uniform(0.5, 2.0, w.shape) for w in ws]  # batch-norm variances stay positive
            new = (
                scale
                if isinstance(layer, keras.layers.BatchNormalization)
                else [rng.normal(0, 0.5, w.shape) for w in ws]
            )
            layer.set_weights([np.asarray(w, np.float32) for w in new])
        return model

    return keras, Layers(), seeded


def keras_calibration() -> list[tuple[str, list[tuple[Any, Any]], tuple[str, ...]]]:
    """Keras networks of growing depth (relu and softmax only: no output link), per task; the first
    two of a task have as many outputs (no stack per class is fitted: a network's sums are in its
    arena)."""
    keras, L, seeded = _keras()
    rng = np.random.default_rng(0)
    X16, X2, X1 = (rng.normal(size=(24, *s)).astype(np.float32) for s in ((16,), (8, 8, 1), (20, 3)))

    def net(shape: tuple[int, ...], *layers: Any) -> Any:
        return seeded(keras.Sequential([keras.Input(shape), *layers]))

    classify = [
        (net((16,), L.Dense(5, activation="softmax")), X16),
        (net((16,), L.Dense(12, activation="relu"), L.Dense(8, activation="relu"), L.Dense(5)), X16),
        (
            net(
                (8, 8, 1),
                L.Conv2D(4, 3, padding="same", activation="relu"),
                L.BatchNormalization(),
                L.MaxPooling2D(2),
                L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
                L.AveragePooling2D(2, padding="same"),
                L.Conv2D(6, 2, padding="valid"),
                L.ReLU(),
                L.Flatten(),
                L.Dense(5, activation="softmax"),
            ),
            X2,
        ),
        (
            net(
                (20, 3),
                L.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu"),
                L.SeparableConv1D(4, 3, strides=2, padding="same", activation="relu"),
                L.MaxPooling1D(2, padding="same"),
                L.GlobalAveragePooling1D(),
                L.Dense(4, activation="softmax"),
            ),
            X1,
        ),
    ]
    regress = [
        (net((16,), L.Dense(8, activation="relu"), L.Dense(1)), X16),
        (net((16,), L.Dense(12, activation="relu"), L.Dense(8, activation="relu"), L.Dense(1)), X16),
        (
            net(
                (8, 8, 1),
                L.Conv2D(4, 3, activation="relu"),
                L.MaxPooling2D(2),
                L.Conv2D(4, 2, activation="relu"),
                L.Flatten(),
                L.Dense(1),
            ),
            X2,
        ),
        (
            net(
                (20, 3),
                L.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="relu"),
                L.SeparableConv1D(4, 3, strides=2, padding="same"),
                L.MaxPooling1D(2, padding="same"),
                L.Dense(3, activation="relu"),
                L.GlobalAveragePooling1D(),
                L.Dense(2),
            ),
            X1,
        ),
    ]
    return [("keras classify", classify, KERAS_METHODS), ("keras regress", regress, KERAS_METHODS)]


def _mlp(kind: type, act: str, X: Any, y: Any) -> Any:
    return kind(hidden_layer_sizes=(8,), activation=act, max_iter=60, random_state=0).fit(X, y)


def link_bases() -> list[tuple[str, str, Any, Any, Any, bool]]:
    """(link, method, IR without the link, IR with it, X, proba): the same model with and without one
    output link; with ``proba`` the IRs are the same and the program calls ``predict_proba`` too."""
    d = _data()
    Xd, yd = d["digits"]
    Xi, yi = d["iris"]
    Xr, yr = d["diabetes"]
    out: list[tuple[str, str, Any, Any, Any, bool]] = []
    gbr = GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0).fit(Xr, yr)
    for method in BOOSTED_METHODS:
        base: Any = microlearn.convert(gbr, method=method).ir
        for post in ("exp", "sigmoid", "softplus"):
            out.append((post, method, base, dataclasses.replace(base, post=post, post_params=()), Xr, False))
    for kind, X, y in ((MLPRegressor, Xr, yr), (MLPClassifier, Xd, yd)):
        relu = microlearn.convert(_mlp(kind, "relu", X, y)).ir
        for act, link in (("logistic", "sigmoid"), ("tanh", "tanh")):
            out.append((link, "float", relu, microlearn.convert(_mlp(kind, act, X, y)).ir, X, False))
    probas: list[tuple[Any, Any, tuple[str, ...]]] = [
        (LogisticRegression(max_iter=3000).fit(Xi, yi), Xi, ("float",)),
        (LogisticRegression(max_iter=3000).fit(Xd, yd), Xd, ("float",)),
        (LogisticRegression(max_iter=3000).fit(Xi, yi == 1), Xi, ("float",)),
        (LogisticRegression(max_iter=3000).fit(Xd, yd == 3), Xd, ("float",)),
        (
            GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(Xi, yi),
            Xi,
            BOOSTED_METHODS,
        ),
        (
            GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(Xi, yi == 1),
            Xi,
            BOOSTED_METHODS,
        ),
        (GaussianNB().fit(Xd, yd), Xd, ("float", "float32")),
    ]
    for est, X, methods in probas:
        for method in methods:
            ir = microlearn.convert(est, method=method).ir
            (link,) = links(ir, proba=True)
            out.append((link, method, ir, ir, X, True))
    return out + keras_link_bases()


def keras_link_bases() -> list[tuple[str, str, Any, Any, Any, bool]]:
    """Keras networks with relu hidden units and the same with logistic / tanh ones (float and int8)."""
    keras, L, seeded = _keras()
    X = np.random.default_rng(2).normal(size=(24, 16)).astype(np.float32)
    out: list[tuple[str, str, Any, Any, Any, bool]] = []
    for units, out_act in ((5, "softmax"), (1, None)):  # a classifier, a regressor
        relu, *others = (
            seeded(
                keras.Sequential(
                    [keras.Input((16,)), L.Dense(8, activation=act), L.Dense(units, activation=out_act)]
                )
            )
            for act in ("relu", "sigmoid", "tanh")
        )
        for other, link in zip(others, ("sigmoid", "tanh"), strict=True):
            for method in KERAS_METHODS:
                base, with_ = (convert(m, method, X).ir for m in (relu, other))
                out.append((link, method, base, with_, X, False))
    return out


def link_rows(cpus: tuple[str, ...], only: tuple[str, ...] = ()) -> dict[tuple[str, str, str, str, str], int]:
    """(cpu, IR type, task, method, link) -> the largest code increase one link gives over its bases
    (``only``: of these IR types)."""
    rows: dict[tuple[str, str, str, str, str], int] = {}
    bases = keras_link_bases() if only == ("KerasNetwork",) else link_bases()
    jobs = [(cpu, b) for cpu in cpus for b in bases if not only or type(b[2]).__name__ in only]
    for cpu, (link, method, without, with_, X, proba) in tqdm(jobs, desc="links", unit="pair"):
        f0, _, c0, _ = measure_ir(without, method, X, cpu)
        f1, _, c1, _ = measure_ir(with_, method, X, cpu, proba=proba)
        extra = (f1 - c1) - (f0 - c0)
        key = (cpu, type(without).__name__, without.task.value, method, link)
        rows[key] = max(rows.get(key, 0), extra)
    return rows


def calibration_models() -> list[tuple[str, list[tuple[Any, Any]], tuple[str, ...]]]:
    """(label, [(fitted estimator, X) ... of growing size], methods)."""
    d = _data()
    Xd, yd = d["digits"]
    Xi, yi = d["iris"]
    Xr, yr = d["diabetes"]

    def rf(n: int, depth: int, X: Any, y: Any) -> tuple[Any, Any]:
        return RandomForestClassifier(n_estimators=n, max_depth=depth, random_state=0).fit(X, y), X

    def rfr(n: int, depth: int) -> tuple[Any, Any]:
        return RandomForestRegressor(n_estimators=n, max_depth=depth, random_state=0).fit(Xr, yr), Xr

    out: list[tuple[str, list[tuple[Any, Any]], tuple[str, ...]]] = [
        ("classify trees", [rf(3, 4, Xi, yi), rf(3, 4, Xd, yd), rf(12, 8, Xd, yd)], TREE_METHODS),
        ("regress trees", [rfr(3, 4), rfr(12, 8)], TREE_METHODS),
        ("logistic", [(LogisticRegression(max_iter=3000).fit(Xd, yd), Xd)], ("float",)),
        ("ridge", [(Ridge().fit(Xr, yr), Xr)], ("float",)),
        ("gaussian nb", [(GaussianNB().fit(Xd, yd), Xd)], ("float", "float32")),
        ("elliptic envelope", [(EllipticEnvelope(random_state=0).fit(Xr), Xr)], ("float", "float32")),
        ("mixture", [(GaussianMixture(3, random_state=0).fit(Xr), Xr)], ("float", "float32")),
        (
            "knn classify",
            [(KNeighborsClassifier(3).fit(Xd[:200], yd[:200]), Xd)],
            (*KNN_METHODS, "float32_noreplay"),
        ),
        ("knn regress", [(KNeighborsRegressor(3).fit(Xd[:200], yd[:200]), Xd)], KNN_METHODS),
        ("k-means", [(KMeans(4, n_init=1, random_state=0).fit(Xd), Xd)], ("float",)),
        ("mlp classify", [(_mlp(MLPClassifier, "relu", Xd, yd), Xd)], NETWORK_METHODS),
        ("mlp regress", [(_mlp(MLPRegressor, "relu", Xr, yr), Xr)], NETWORK_METHODS),
        ("scaler", [(StandardScaler().fit(Xd), Xd)], ("exact",)),
        ("imputer", [(SimpleImputer().fit(Xd), Xd)], ("exact",)),
        ("normalizer", [(Normalizer().fit(Xd), Xd)], ("exact",)),
        ("pca", [(PCA(8).fit(Xd), Xd)], ("exact",)),
        (
            "classify boosted",
            [
                (GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(Xi, yi), Xi),
                (HistGradientBoostingClassifier(max_iter=3, max_depth=3, random_state=0).fit(Xd, yd), Xd),
                (GradientBoostingClassifier(n_estimators=6, max_depth=4, random_state=0).fit(Xd, yd), Xd),
            ],
            BOOSTED_METHODS,
        ),
        (
            "regress boosted",
            [
                (GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0).fit(Xr, yr), Xr),
                (GradientBoostingRegressor(n_estimators=12, max_depth=4, random_state=0).fit(Xr, yr), Xr),
            ],
            BOOSTED_METHODS,
        ),
        (
            "isolation forest",
            [
                (IsolationForest(n_estimators=3, max_samples=32, random_state=0).fit(Xr), Xr),
                (IsolationForest(n_estimators=12, max_samples=128, random_state=0).fit(Xr), Xr),
            ],
            BOOSTED_METHODS,
        ),
    ]
    return out


Row = tuple[int, float, int, int, str]  # fixed code, per size unit, stack, stack per output, unit


def fit_rows(
    cpus: tuple[str, ...],
    link_table: dict[tuple[str, str, str, str, str], int],
    only: tuple[str, ...] = (),
) -> dict[tuple[str, str, str, str], Row]:
    """The COSTS rows (``only``: of these IR types); the code of the calibration models' own links
    (``link_table``) is taken off. The size feature is a tree model's internal nodes, a network's
    layers."""
    rows: dict[tuple[str, str, str, str], Row] = {}
    families = calibration_models() + keras_calibration()
    jobs = [(c, label, models, m) for c in cpus for label, models, ms in families for m in ms]
    for cpu, _label, models, method in tqdm(jobs, desc="calibrating", unit="fit"):
        ir = convert(models[0][0], method, models[0][1]).ir
        key = (cpu, type(ir).__name__, ir.task.value, method)
        if only and key[1] not in only:
            continue
        unit = "layer" if n_layers(ir) else "node"
        pts = []
        for est, X in models:
            model = convert(est, method, X)
            flash, ram, const, nodes = measure(model, X, cpu)
            own = link_cost(cpu, model.ir, method, links(model.ir), link_table)
            arena = model.c_source("calib").arena_bytes or 0  # counted apart by the estimate
            size = n_layers(model.ir) if unit == "layer" else nodes
            pts.append((flash - const - own, size, ram - arena, model.ir.n_outputs))
        code = np.array([p[0] for p in pts], dtype=np.float64)
        nodes_a = np.array([p[1] for p in pts], dtype=np.float64)
        if len(pts) > 1 and nodes_a.max() > nodes_a.min():
            slope, _ = np.polyfit(nodes_a, code, 1)
            per_node = max(float(slope), 0.0)
            fixed = max(0, round(float(max(code - per_node * nodes_a))))  # never below a measured point
        else:
            per_node, fixed = 0.0, int(code.max())
        rams = [(p[2], p[3]) for p in pts]
        per_out = 0
        if len(rams) > 1 and rams[1][1] != rams[0][1]:  # same size, more classes: stack per class
            per_out = max(0, int(np.ceil((rams[1][0] - rams[0][0]) / (rams[1][1] - rams[0][1]))))
        stack = max(r - per_out * max(o - 2, 0) for r, o in rams)
        rows[key] = (fixed, round(per_node, 2), int(stack), per_out, unit)
    return rows


def print_table(
    rows: dict[tuple[str, str, str, str], Row],
    link_table: dict[tuple[str, str, str, str, str], int],
    *,
    generic: bool = True,
) -> None:
    print("COSTS = {")
    for (cpu, fam, task, method), (fixed, per_unit, stack, per_out, unit) in sorted(rows.items()):
        node = f", per_{unit}={per_unit}" if per_unit else ""
        out = f", stack_per_output={per_out}" if per_out else ""
        print(f'    ("{cpu}", "{fam}", "{task}", "{method}"): Cost(code={fixed}{node}, stack={stack}{out}),')
    if generic:  # (not from some rows only)
        print("}\nGENERIC = {")
        for cpu in sorted({k[0] for k in rows}):
            fixed = max(v[0] for k, v in rows.items() if k[0] == cpu)
            stack = max(v[2] for k, v in rows.items() if k[0] == cpu)
            print(f'    "{cpu}": Cost(code={fixed}, stack={stack}),')
    print("}\nLINKS = {")
    for (cpu, fam, task, method, link), extra in sorted(link_table.items()):
        print(f'    ("{cpu}", "{fam}", "{task}", "{method}", "{link}"): {extra},')
    print("}")


def readme_model() -> tuple[RandomForestClassifier, Any]:
    """The README demo forest (10 trees, depth 10, digits training split) and its test rows."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    forest = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X_train, y_train)
    return forest, X_test


def check_models() -> list[tuple[str, Callable[[], tuple[Any, Any]]]]:
    """Models not used in the fit: the estimate is checked against them."""
    d = _data()
    Xd, yd = d["digits"]
    Xr, yr = d["diabetes"]
    return [
        ("RF 10x10 digits (README model)", readme_model),
        (
            "ExtraTrees 20x6 digits",
            lambda: (ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0).fit(Xd, yd), Xd),
        ),
        (
            "RF regressor 30x6 diabetes",
            lambda: (RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0).fit(Xr, yr), Xr),
        ),
        (
            "scaler + logistic digits (stages kept)",
            lambda: (make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(Xd, yd), Xd),
        ),
        (
            "GradientBoosting 30 x depth 3 digits",
            lambda: (
                GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(Xd, yd),
                Xd,
            ),
        ),
    ]


def check(cpus: tuple[str, ...]) -> None:
    print("| model | method | CPU | estimated flash B | measured | error | estimated RAM B | measured |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for label, make in check_models():
        est, X = make()
        for method in microlearn.methods_for(est):
            if method not in (*TREE_METHODS, "float"):
                continue
            model = microlearn.convert(est, method=method, fold=False)
            for cpu in cpus:
                e = estimate(model.ir, method, cpu)
                flash, ram, _, _ = measure(model, X, cpu)
                err = 100.0 * (e.flash_bytes - flash) / flash
                print(
                    f"| {label} | {method} | {cpu} | {e.flash_bytes:,} | {flash:,} | {err:+.1f}% "
                    f"| {e.ram_bytes:,} | {ram:,} |",
                    flush=True,
                )


def _example_cnn(keras: Any) -> Any:
    """The CNN of examples/keras_digits_cnn.py (its ``build``)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "keras_digits_cnn.py"
    spec = importlib.util.spec_from_file_location("keras_digits_cnn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(keras)


def keras_check_models() -> list[tuple[str, Any, Any]]:
    """Keras networks not used in the fit: (label, model, X)."""
    keras, L, seeded = _keras()
    rng = np.random.default_rng(1)
    X12, X2, X1 = (rng.normal(size=(24, *s)).astype(np.float32) for s in ((12,), (8, 8, 1), (32, 2)))

    def net(shape: tuple[int, ...], *layers: Any) -> Any:
        return seeded(keras.Sequential([keras.Input(shape), *layers]))

    return [
        (
            "dense (12-16-3)",
            net((12,), L.Dense(16, activation="relu"), L.Dense(3, activation="softmax")),
            X12,
        ),
        (
            "dense tanh (12-16-3)",
            net((12,), L.Dense(16, activation="tanh"), L.Dense(3, activation="softmax")),
            X12,
        ),
        ("digits CNN of examples/keras_digits_cnn.py (untrained)", seeded(_example_cnn(keras)), X2),
        (
            "small CNN (conv, pool, dense)",
            net(
                (8, 8, 1),
                L.Conv2D(4, 3, padding="same", activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(5, activation="softmax"),
            ),
            X2,
        ),
        (
            "1-D conv classifier",
            net(
                (32, 2),
                L.Conv1D(6, 5, strides=2, activation="relu"),
                L.MaxPooling1D(2),
                L.Conv1D(8, 3, activation="relu"),
                L.GlobalMaxPooling1D(),
                L.Dense(3, activation="softmax"),
            ),
            X1,
        ),
        (
            "1-D conv regressor",
            net((32, 2), L.Conv1D(4, 3, activation="relu"), L.GlobalAveragePooling1D(), L.Dense(1)),
            X1,
        ),
    ]


def check_keras(cpus: tuple[str, ...]) -> None:
    """Estimate vs measured on Keras networks; "generic" is the CPU's generic figure, what networks
    without a measured row were estimated at."""
    print(
        "| model | method | CPU | layers | links | estimated flash B | generic | measured | error "
        "| error generic | estimated RAM B | measured |"
    )
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, net, X in keras_check_models():
        for method in KERAS_METHODS:
            model = convert(net, method, X)
            for cpu in cpus:
                e = estimate(model.ir, method, cpu)
                flash, ram, _, _ = measure(model, X, cpu)
                generic = e.const_bytes + GENERIC[cpu].code  # Keras links were not counted then
                err, err0 = (100.0 * (v - flash) / flash for v in (e.flash_bytes, generic))
                print(
                    f"| {label} | {method} | {cpu} | {n_layers(model.ir)} | {'/'.join(e.links) or '-'} "
                    f"| {e.flash_bytes:,} | {generic:,} "
                    f"| {flash:,} | {err:+.1f}% | {err0:+.1f}% | {e.ram_bytes:,} | {ram:,} |",
                    flush=True,
                )


def link_check_models() -> list[tuple[str, Callable[[], tuple[Any, Any]], bool]]:
    """Models with and without output links, not used in the fit: (label, make, proba)."""
    import lightgbm as lgb
    import xgboost as xgb

    d = _data()
    Xd, yd = d["digits"]
    Xi, yi = d["iris"]
    Xr, yr = d["diabetes"]
    y01 = (yr - yr.min()) / (yr.max() - yr.min())  # targets in [0, 1] for the logistic objectives
    Xw, yw = load_wine(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)

    def mlp(kind: type, act: str, X: Any, y: Any) -> Any:
        layers = (16,) if kind is MLPClassifier else (16, 8)
        est = kind(hidden_layer_sizes=layers, activation=act, max_iter=80, random_state=1)
        return make_pipeline(StandardScaler(), est).fit(X, y)

    def xgbr(objective: str, y: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: (xgb.XGBRegressor(n_estimators=20, max_depth=3, objective=objective).fit(Xr, y), Xr)

    def lgbr(objective: str, y: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: (
            lgb.LGBMRegressor(n_estimators=20, num_leaves=8, objective=objective, verbose=-1).fit(Xr, y),
            Xr,
        )

    return [
        ("XGBoost reg:squarederror 20x3", xgbr("reg:squarederror", yr), False),
        ("XGBoost reg:logistic 20x3", xgbr("reg:logistic", y01), False),
        ("XGBoost count:poisson 20x3", xgbr("count:poisson", yr), False),
        ("LightGBM regression 20x8 leaves", lgbr("regression", yr), False),
        ("LightGBM cross_entropy_lambda 20x8 leaves", lgbr("cross_entropy_lambda", y01), False),
        ("LightGBM poisson 20x8 leaves", lgbr("poisson", yr), False),
        (
            "GradientBoosting 10x3 iris, predict_proba (softmax)",
            lambda: (
                GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(Xi, yi),
                Xi,
            ),
            True,
        ),
        (
            "LightGBM binary 20x8 leaves, predict_proba (sigmoid)",
            lambda: (lgb.LGBMClassifier(n_estimators=20, num_leaves=8, verbose=-1).fit(Xd, yd == 3), Xd),
            True,
        ),
        (
            "logistic regression wine, predict_proba (softmax)",
            lambda: (make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(Xw, yw), Xw),
            True,
        ),
        (
            "logistic regression breast cancer, predict_proba (sigmoid)",
            lambda: (make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(Xb, yb), Xb),
            True,
        ),
        ("GaussianNB iris, predict_proba", lambda: (GaussianNB().fit(Xi, yi), Xi), True),
        ("MLP (16,) relu wine", lambda: (mlp(MLPClassifier, "relu", Xw, yw), Xw), False),
        ("MLP (16,) logistic wine", lambda: (mlp(MLPClassifier, "logistic", Xw, yw), Xw), False),
        ("MLP (16,) tanh wine", lambda: (mlp(MLPClassifier, "tanh", Xw, yw), Xw), False),
        ("MLP (16, 8) tanh regressor diabetes", lambda: (mlp(MLPRegressor, "tanh", Xr, yr), Xr), False),
    ]


def check_links(cpus: tuple[str, ...]) -> None:
    print(
        "| model | method | CPU | links | estimated flash B | without links | measured "
        "| error | error without links |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for label, make, proba in link_check_models():
        est, X = make()
        first = microlearn.convert(est)
        boosted = type(first.ir).__name__ == "BoostedTrees"
        for method in BOOSTED_METHODS if boosted else (first.method,):
            model = microlearn.convert(est, method=method)
            for cpu in cpus:
                e = estimate(model.ir, method, cpu, proba=proba)
                flash, _, _, _ = measure(model, X, cpu, proba=proba)
                before = e.flash_bytes - e.link_bytes
                err, err0 = (100.0 * (v - flash) / flash for v in (e.flash_bytes, before))
                print(
                    f"| {label} | {method} | {cpu} | {'/'.join(e.links) or '-'} | {e.flash_bytes:,} "
                    f"| {before:,} | {flash:,} | {err:+.1f}% | {err0:+.1f}% |",
                    flush=True,
                )


def example() -> None:
    """The command-line example of docs/targets.md: the README forest against a 48 kB flash budget."""
    import contextlib
    import io
    import tempfile
    from pathlib import Path

    import joblib

    from microlearn.cli import main as cli

    forest, X_test = readme_model()
    print(microlearn.convert(forest, method="inline").estimate("cortex-m0plus"))
    with tempfile.TemporaryDirectory() as tmp:
        joblib.dump(forest, Path(tmp) / "forest.joblib")
        np.save(Path(tmp) / "X_test.npy", X_test)
        args = ["verify", str(Path(tmp) / "forest.joblib"), "--data", str(Path(tmp) / "X_test.npy")]
        args += ["--target", "cortex-m4f", "cortex-m0plus", "--flash-budget", "48k"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli(args)
    shown = ["microlearn", "verify", "forest.joblib", "--data", "X_test.npy", *args[4:]]
    print("$ " + " ".join(shown))
    print("\n".join(ln for ln in err.getvalue().splitlines() if not ln.startswith("warning: loading")))
    print(out.getvalue().rstrip())
    print(f"(exit status {rc})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", nargs="+", default=list(CPUS))
    ap.add_argument("--table", action="store_true", help="measure and print the COSTS rows")
    ap.add_argument("--example", action="store_true", help="print the command-line example of the docs")
    ap.add_argument("--links", action="store_true", help="estimate vs measured on models with output links")
    ap.add_argument("--keras", action="store_true", help="estimate vs measured on Keras networks")
    ap.add_argument("--only", nargs="+", default=[], help="with --table: the rows of these IR types only")
    args = ap.parse_args()
    cpus = tuple(args.cpus)
    if args.example:
        example()
    elif args.links:
        check_links(cpus)
    elif args.keras:
        check_keras(cpus)
    elif args.table and args.only:  # the links of these types and the recorded ones are taken off
        from microlearn.estimate import LINKS

        link_table = link_rows(cpus, tuple(args.only))
        print_table(fit_rows(cpus, {**LINKS, **link_table}, tuple(args.only)), link_table, generic=False)
    elif args.table:
        link_table = link_rows(cpus)
        print_table(fit_rows(cpus, link_table), link_table)
    else:
        check(cpus)


if __name__ == "__main__":
    main()
