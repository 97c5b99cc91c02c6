"""The interface every family and target plugs into: IR protocol, frontend and C registries, the header
writer, the Pipeline IR with its C stages, the host Target, the shared passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.tree import DecisionTreeClassifier

from microlearn.backends.c import registry, writer
from microlearn.dsp.features import FeatureConfig, FeatureExtractor
from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register, supported_estimators, to_ir
from microlearn.ir.base import IR, Task
from microlearn.ir.features import FeatureStage
from microlearn.ir.pipeline import Pipeline
from microlearn.ir.trees import TreeEnsemble
from microlearn.passes import split, votes
from microlearn.targets.base import Artifacts, Target
from microlearn.targets.host import HostTarget

rng = np.random.default_rng(0)
X = rng.normal(size=(200, 5)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    return RandomForestClassifier(7, max_depth=6, random_state=0).fit(X, y)


def test_class_path_is_public() -> None:
    assert class_path(RandomForestClassifier) == "sklearn.ensemble.RandomForestClassifier"
    assert class_path(DecisionTreeClassifier) == "sklearn.tree.DecisionTreeClassifier"
    assert class_path(FeatureExtractor) == "microlearn.dsp.FeatureExtractor"
    assert class_path(SkPipeline) == "sklearn.pipeline.Pipeline"
    assert "sklearn.ensemble.RandomForestClassifier" in supported_estimators()


def test_register_rejects_private_and_duplicate_paths() -> None:
    with pytest.raises(ValueError, match="public class path"):
        register("sklearn.ensemble._forest.RandomForestClassifier")(lambda e: e)
    with pytest.raises(ValueError, match="registered twice"):
        register("sklearn.ensemble.RandomForestClassifier")(lambda e: e)


def test_trees_satisfy_the_ir_protocol(forest: RandomForestClassifier) -> None:
    ir = to_ir(forest)
    assert isinstance(ir, IR) and isinstance(ir, TreeEnsemble)
    assert (ir.task, ir.n_inputs, ir.n_outputs, ir.source) == (
        Task.CLASSIFY,
        5,
        3,
        "sklearn.ensemble.RandomForestClassifier",
    )
    ref = ir.reference(X)
    np.testing.assert_array_equal(forest.classes_[ref.outputs], forest.predict(X))
    np.testing.assert_array_equal(ref.proba, forest.predict_proba(X))
    reg = RandomForestRegressor(4, max_depth=4, random_state=0).fit(X, X[:, 0] * 3)
    rir = to_ir(reg)
    rref = rir.reference(X)
    assert rir.task is Task.REGRESS and rref.bound is not None and np.all(rref.bound > 0)
    np.testing.assert_array_equal(rref.outputs, reg.predict(X))


def test_pipeline_ir_checks_widths_and_chains_references(forest: RandomForestClassifier) -> None:
    cfg = FeatureConfig(window=8, n_axes=1, stats=("mean", "std", "min", "max", "rms"), magnitude=False)
    st = FeatureStage(cfg)
    assert isinstance(st, IR) and st.task is Task.TRANSFORM and (st.n_inputs, st.n_outputs) == (8, 5)
    p = Pipeline((st,), to_ir(forest))
    assert isinstance(p, IR) and p.task is Task.CLASSIFY and p.n_inputs == 8 and p.n_outputs == 3
    W = rng.normal(size=(30, 8)).astype(np.float32)
    from microlearn.dsp.features import compute

    np.testing.assert_array_equal(p.reference(W).outputs, forest.predict(compute(cfg, W)) - 0)
    with pytest.raises(InvalidInputError, match="makes 6 features but step 1"):
        Pipeline(
            (FeatureStage(FeatureConfig(window=8, n_axes=1, stats=("mean", "std", "min"))),), to_ir(forest)
        )
    with pytest.raises(InvalidInputError, match="not a transform"):
        Pipeline((to_ir(forest),), to_ir(forest))


def test_to_ir_unwraps_sklearn_pipelines() -> None:
    W = rng.normal(size=(120, 24)).astype(np.float32)
    lab = (W[:, 0] > 0).astype(int)
    pipe = SkPipeline(
        [("f", FeatureExtractor(window=8, n_axes=3)), ("c", DecisionTreeClassifier(max_depth=3))]
    ).fit(W, lab)
    ir = to_ir(pipe)
    assert isinstance(ir, Pipeline) and isinstance(ir.stages[0], FeatureStage)
    np.testing.assert_array_equal(pipe.classes_[ir.reference(W).outputs], pipe.predict(W))
    with pytest.raises(UnsupportedEstimatorError, match="not a transform"):
        to_ir(SkPipeline([("a", pipe[1]), ("b", pipe[1])]))


def test_methods_are_per_ir_type(forest: RandomForestClassifier) -> None:
    ir = to_ir(forest)
    assert registry.methods_for(ir) == ["table", "inline"] or set(registry.methods_for(ir)) >= {
        "table",
        "inline",
    }
    assert registry.default_method(ir) == "table"

    class Other:  # an IR type nobody registered
        pass

    assert registry.methods_for(Other()) == []  # type: ignore[arg-type]
    cfg = FeatureConfig(window=8, n_axes=1, stats=("mean", "std", "min", "max", "rms"), magnitude=False)
    # a pipeline hands its final model float32 values: only the methods exact on every float32 apply
    float_methods = [n for n, m in registry.methods(ir).items() if m.inputs == "float32"]
    assert {"table", "inline"} <= set(float_methods) and len(float_methods) < len(registry.methods_for(ir))
    assert registry.methods_for(Pipeline((FeatureStage(cfg),), ir)) == float_methods


@pytest.mark.parametrize(
    "text",
    [
        "a */ int x = 1; /*",
        "line\nbreak */ int y;",
        "caf\u00e9 \u2603 \U0001f600",
        "back\\",
        "tri??/",
        "*/*/",
    ],
)
def test_comment_text_cannot_leave_the_comment(text: str) -> None:
    c = writer.comment([text, f"x {text} y"])
    assert c.count("*/") == 1 and c.endswith(" */\n") and c.count("/*") == 1
    assert all(0x20 <= ord(ch) < 0x7F for ch in c.replace("\n", ""))
    assert "??" not in c


HOSTILE = st.sampled_from("*/?\\\n\r\t a\u00e9\u2603\U0001f600\x00")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=HOSTILE, max_size=12), min_size=1, max_size=4))
def test_comment_text_property(lines: list[str]) -> None:
    c = writer.comment(lines)
    inner = c[2:-3]  # between the opening "/*" and the closing "*/"
    assert "*/" not in inner and "/*" not in inner and "??" not in c
    assert all(0x20 <= ord(ch) < 0x7F for ch in c.replace("\n", ""))
    assert c.count("\n") == len(lines) + 2  # one line each: no user text adds a line


def test_check_c_name_fullmatch() -> None:
    for bad in ("model\n", "model ", "1x", "int", "ml_x", "a-b", ""):
        with pytest.raises(InvalidInputError):
            writer.check_c_name(bad)
    writer.check_c_name("gesture_2")


@pytest.mark.parametrize("family", ["trees", "linear"])
def test_header_with_hostile_labels_compiles_to_no_extra_code(tmp_path: Path, family: str) -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import LogisticRegression

    from microlearn.host import RUNTIME_C_DIR

    labels = np.array(["a */ int x = 1; /*", "b\n#define EVIL 1", "\u00e9t\u00e9"])
    names = ["c */ int z = 3; /*", "??/", "f\r\n#error injected", "\u2603", "e"]
    df = pd.DataFrame(X, columns=names)
    est = (
        DecisionTreeClassifier(max_depth=3, random_state=0)
        if family == "trees"
        else LogisticRegression(max_iter=500)
    ).fit(df, labels[y])
    ir = to_ir(est)
    assert ir.feature_names == tuple(names)
    for method in registry.methods_for(ir):
        hdr = registry.generate(ir, method, "m").header
        assert hdr.isascii() and hdr.split("*/")[0].count("/*") == 1
        (tmp_path / "m.h").write_text(hdr)
        # `typedef int x;` / `z` would clash with an injected `int x = 1;` / `int z = 3;`
        (tmp_path / "a.c").write_text(
            '#include "m.h"\ntypedef int x;\ntypedef int z;\n#ifdef EVIL\n#error injected\n#endif\n'
        )
        cmd = ["gcc", "-std=c99", "-Wall", "-Werror", "-c", "-I", str(RUNTIME_C_DIR), "-o", "a.o", "a.c"]
        res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert res.returncode == 0, (method, res.stderr)


def test_host_target_runs_any_task(forest: RandomForestClassifier) -> None:
    t = HostTarget()
    assert isinstance(t, Target) and t.available() is None
    ir = to_ir(forest)
    run = t.run(Artifacts(ir, "inline"), X)
    np.testing.assert_array_equal(run.outputs, ir.reference(X).outputs)
    assert run.proba is not None and run.proba.shape == (len(X), 3)


def test_pipeline_c_chains_stages_on_raw_input() -> None:
    W = rng.normal(size=(150, 24)).astype(np.float32)
    lab = (W[:, ::3].std(axis=1) > 1).astype(int)
    pipe = SkPipeline(
        [("f", FeatureExtractor(window=8, n_axes=3)), ("c", RandomForestClassifier(5, random_state=0))]
    ).fit(W, lab)
    ir = to_ir(pipe)
    assert isinstance(ir, Pipeline)
    F = ir.transform_stages(W)
    for method in registry.methods_for(ir):
        art = Artifacts(ir, method, name="pipe")
        src = art.c_source()
        assert "int32_t pipe_predict(const float *x)" in src.header
        assert "#define PIPE_N_FEATURES 24" in src.header
        run = HostTarget().run(art, W)
        # the chain gives what the final model alone gives on the stages' output ...
        alone = HostTarget().run(Artifacts(ir.final, method, name="fin"), F)
        np.testing.assert_array_equal(run.outputs, alone.outputs)
        assert run.proba is not None and alone.proba is not None
        np.testing.assert_array_equal(run.proba, alone.proba)
        # ... which is scikit-learn's: a pipeline offers only methods exact on every float32
        np.testing.assert_array_equal(pipe.classes_[run.outputs], pipe.predict(W))
    assert {"table", "inline"} <= set(registry.methods_for(ir))


def test_one_vote_scheme() -> None:
    for T in (1, 2, 7, 100, 511, 512, 4096, 1 << 20):
        s = votes.scale_bits(T)
        assert T * 2**s < 2**30 and (2**s << 8 | 255) < 2**30  # MicroPython small ints on 32-bit ports
    assert votes.margin(10) == 11
    q = votes.quantize(np.array([[0.5, 0.25, 0.25]]), 10)
    assert votes.exact(np.array([[0.5, 0.25, 0.25]]), 10) and int(q.sum()) == 2 ** votes.scale_bits(10)
    assert not votes.exact(np.array([[1 / 3, 2 / 3]]), 10)


def test_split_cuts_deep_trees() -> None:
    # a chain of 10 internal nodes: node 2k's left child 2k+1 is a leaf, its right child 2k+2 the next
    # internal node (node 20 is a leaf); cut every 4 levels
    n = 21
    feature = np.array([0 if i % 2 == 0 and i < 20 else -1 for i in range(n)], dtype=np.int32)
    left = np.where(feature >= 0, np.arange(n) + 1, -1).astype(np.int32)
    right = np.where(feature >= 0, np.arange(n) + 2, -1).astype(np.int32)
    cuts = split.cut_nodes(feature, left, right, np.array([0], dtype=np.int32), 4)
    assert cuts == frozenset({8, 16})


def test_feature_extractor_alone_is_a_transform_model() -> None:
    import microlearn

    W = rng.normal(size=(40, 24)).astype(np.float32)
    fx = FeatureExtractor(window=8, n_axes=3, sr=8.0, bands=[(1.0, 4.0)]).fit(W)
    model = microlearn.convert(fx)
    assert model.task is Task.TRANSFORM and model.methods == ["features"]
    np.testing.assert_array_equal(model.transform(W), fx.transform(W))  # bit-identical
    assert "int fx_transform(const float *x, float *out)" in model.to_c("fx")
    r = microlearn.verify(fx, W)["host"]
    assert r.agreement == 1.0 and r.max_abs_error == 0.0
    with pytest.raises(InvalidInputError, match="use transform"):
        model.predict(W)


def test_mlrt_uses_the_same_vote_scheme() -> None:
    """mlrt (pure MicroPython, no microlearn import) restates passes.votes; both must give the same S and
    margin for every tree count."""
    import importlib.util
    import sys

    from microlearn.micropython import RUNTIME_DIR

    sys.path.insert(0, str(RUNTIME_DIR))
    try:
        spec = importlib.util.spec_from_file_location("mlrt_trees_check", RUNTIME_DIR / "mlrt" / "trees.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(RUNTIME_DIR))
    for T in [*range(1, 1100), 4095, 4096, 65535, 65536, (1 << 21) - 1]:
        assert mod.scale_bits(T) == votes.scale_bits(T), T
        assert mod.margin(T) == votes.margin(T), T


def test_pipelines_offer_only_float32_methods() -> None:
    class Toy:  # an IR type of this test only
        task = Task.CLASSIFY

    def emit(ir: object, name: str, command: str = "") -> writer.CSource:
        raise AssertionError("not generated here")

    registry.register_method(Toy, "exact", "float32 input", emit, default=True)
    registry.register_method(Toy, "bytes", "uint8 input", emit, inputs="uint8")
    assert registry.methods_for(Toy()) == ["exact", "bytes"]  # type: ignore[arg-type]
    cfg = FeatureConfig(window=8, n_axes=1, stats=("mean",), magnitude=False)
    toy = Toy()
    toy.n_inputs = 1  # type: ignore[attr-defined]
    toy.source = "toy"  # type: ignore[attr-defined]
    p = Pipeline((FeatureStage(cfg),), toy)  # type: ignore[arg-type]
    assert registry.methods_for(p) == ["exact"]
