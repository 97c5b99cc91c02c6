"""The command line, run as a user would run it."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microlearn", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    X, y = load_iris(return_X_y=True)
    joblib.dump(RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y), d / "model.joblib")
    np.save(d / "X.npy", X)
    np.savetxt(d / "X.csv", X, delimiter=",")
    np.savetxt(d / "Xh.csv", X, delimiter=",", header="a,b,c,d", comments="")
    return d


def test_help(files: Path) -> None:
    res = run("--help", cwd=files)
    assert res.returncode == 0
    for cmd in ("convert", "verify", "methods"):
        assert cmd in res.stdout


def test_convert(files: Path) -> None:
    res = run(
        "convert", "model.joblib", "-o", "out/model.h", "--method", "table", "--name", "gesture", cwd=files
    )
    assert res.returncode == 0, res.stderr
    assert "runs code stored in it" in res.stderr  # unpickling warning
    header = (files / "out" / "model.h").read_text()
    assert "gesture_predict" in header
    assert "made by: microlearn convert model.joblib -o model.h --method table --name gesture" in header
    assert (files / "out" / "ml_trees.h").exists()


@pytest.mark.parametrize("data", ["X.npy", "X.csv", "Xh.csv"])
def test_verify(files: Path, data: str) -> None:
    res = run("verify", "model.joblib", "--data", data, cwd=files)
    assert res.returncode == 0, res.stderr
    assert "host" in res.stdout and "100.00%" in res.stdout


def test_errors_are_messages_not_tracebacks(files: Path) -> None:
    res = run("convert", "missing.joblib", "-o", "m.h", cwd=files)
    assert res.returncode == 2
    assert "error: model file missing.joblib does not exist" in res.stderr
    assert "Traceback" not in res.stderr
    res = run("convert", "model.joblib", "-o", "m.h", "--name", "9lives", cwd=files)
    assert res.returncode == 2 and "not a valid C identifier" in res.stderr


def test_methods(files: Path) -> None:
    res = run("methods", cwd=files)
    assert res.returncode == 0 and "table" in res.stdout and "inline" in res.stdout


def test_convert_and_verify_a_folded_pipeline(files: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=4, random_state=0)).fit(X, y)
    joblib.dump(pipe, files / "pipe.joblib")
    for fold in (False, True):
        flags = [] if fold else ["--no-fold"]
        res = run("convert", "pipe.joblib", "-o", f"p{int(fold)}/pipe.h", *flags, cwd=files)
        assert res.returncode == 0, res.stderr
        header = (files / f"p{int(fold)}" / "pipe.h").read_text()
        assert "pipe_predict(const float *x)" in header
        assert ("ml_transform.h" in header) is not fold  # folded: the scaler is in the thresholds
        assert (files / f"p{int(fold)}" / "ml_transform.h").exists() is not fold
    res = run("verify", "pipe.joblib", "--data", "X.npy", "--no-fold", cwd=files)
    assert res.returncode == 0, res.stderr
    assert "100.00%" in res.stdout


# ------------------------------------------------------------------------------------------ newcomer's CLI
def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process (the same main() as `python -m microlearn`)."""
    from microlearn.cli import main

    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_line_error(rc: int, err: str, *fragments: str) -> None:
    info = ("warning: loading", "estimate before building")
    lines = [ln for ln in err.splitlines() if not ln.startswith(info)]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, err)


def test_convert_writes_a_model_file_by_suffix(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from microlearn.backends.modelfile import MAGIC, loads

    monkeypatch.chdir(files)
    rc, out, err = cli(capsys, "convert", "model.joblib", "-o", "m/iris.mlm")
    assert rc == 0, err
    data = (files / "m" / "iris.mlm").read_bytes()
    assert data.startswith(MAGIC) and loads(data).n_inputs == 4
    assert "model file of" in out and not (files / "m" / "ml_trees.h").exists()
    rc, _, err = cli(capsys, "convert", "model.joblib", "-o", "iris.c")
    one_line_error(rc, err, ".h for a C header or .mlm for a model file")
    with pytest.raises(SystemExit):
        cli(capsys, "convert", "--help")
    assert ".mlm" in capsys.readouterr().out


def test_convert_a_model_file_to_c(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model file made without a joblib (the studio's k-NN: a standardising stage and stored rows)
    becomes C that predicts what the file's own reference does."""
    from microlearn import host
    from microlearn.backends.modelfile import loads

    monkeypatch.chdir(files)
    sys.path.insert(0, str(Path(__file__).parents[1] / "src/microlearn/runtime/micropython"))
    import mlrt
    from mlrt import train

    X, y = load_iris(return_X_y=True)
    m = train.fit("knn", [list(map(float, r)) for r in X[::2]], y[::2].tolist(), 3, {"k": 3})
    (files / "knn.mlm").write_bytes(m.to_file(["setosa", "versicolor", "virginica"]))
    rc, out, err = cli(capsys, "convert", "knn.mlm", "-o", "c/knn.h")
    assert rc == 0, err
    assert "wrote c/knn.h" in out and "runs code" not in err  # no unpickling
    header = (files / "c" / "knn.h").read_text()
    assert "knn_predict" in header and "made by: microlearn convert knn.mlm -o knn.h" in header
    wrap = '#include "knn.h"\nint32_t w(const float *x);\n'
    wrap += "int32_t w(const float *x) { return knn_predict(x); }\n"
    lib = host.build({"w.c": wrap}, include_dirs=[files / "c"])
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    lib.w.restype = ctypes.c_int32
    got = [lib.w(ctypes.c_void_p(X32[i].ctypes.data)) for i in range(len(X32))]
    ir = loads((files / "knn.mlm").read_bytes())
    via_mlrt = mlrt.load((files / "knn.mlm").read_bytes())
    assert got == ir.reference(X32).outputs.tolist() == [via_mlrt.predict(list(map(float, r))) for r in X32]
    rc, _, err = cli(capsys, "convert", "knn.mlm", "-o", "k.h", "--method", "int8", "--calibration", "X.npy")
    one_line_error(rc, err, "already converted")
    rc, _, err = cli(capsys, "convert", "knn.mlm", "-o", "k.h", "--method", "nope")
    one_line_error(rc, err, "unknown method")


def test_one_spelling_of_target_everywhere(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from microlearn.cli import build_parser

    p = build_parser()
    for verb in ("verify", "report"):
        for flag in ("--target", "--targets"):  # --targets: the older spelling, still read
            args = p.parse_args([verb, "m.joblib", "--data", "X.npy", flag, "host", "rv32imc"])
            assert args.target == ["host", "rv32imc"]
    assert p.parse_args(["report", "m.joblib", "--data", "X.npy"]).default_targets == ("cortex-m4f",)
    with pytest.raises(SystemExit):
        p.parse_args(["verify", "--help"])
    help_text = capsys.readouterr().out
    assert "--target TARGET" in help_text and "--targets" not in help_text
    with pytest.raises(SystemExit):
        p.parse_args(["--help"])
    listing = capsys.readouterr().out
    assert "verify" in listing and " report " not in listing  # one verb per job; report is hidden


def test_every_verb_has_examples_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    from microlearn.cli import build_parser

    p = build_parser()
    verbs = [a.dest for a in p._subparsers._group_actions[0]._choices_actions]  # type: ignore[union-attr]
    assert {"convert", "verify", "export-runtime", "methods", "deploy"} <= set(verbs)
    for verb in verbs:
        with pytest.raises(SystemExit):
            p.parse_args([verb, "--help"])
        assert "examples:\n  microlearn" in capsys.readouterr().out, verb


def test_verify_a_model_file(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files)
    assert cli(capsys, "convert", "model.joblib", "-o", "v.mlm")[0] == 0
    rc, out, err = cli(capsys, "verify", "v.mlm", "--data", "X.npy")
    assert rc == 0, err
    assert out.isascii() and "model file v.mlm" in out and "100.00%" in out
    assert "is a model file: checked completely" in err
    (files / "broken.mlm").write_bytes((files / "v.mlm").read_bytes()[:40])
    rc, out, err = cli(capsys, "verify", "broken.mlm", "--data", "X.npy")
    one_line_error(rc, err)
    assert out == ""


def test_deploy_checks_the_model_file_before_copying_anything(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import microlearn.deploy as deploy

    monkeypatch.chdir(files)
    calls: list[object] = []
    monkeypatch.setattr(deploy, "build_mpy", lambda *a, **k: calls.append(a) or [])
    monkeypatch.setattr(deploy, "_mpremote", lambda *a, **k: calls.append(a))
    rc, _, err = cli(capsys, "deploy", "model.joblib")
    one_line_error(rc, err, "not a microlearn model file", "microlearn convert model.joblib -o model.mlm")
    (files / "cut.mlm").write_bytes(b"MLMF" + bytes(10))
    rc, _, err = cli(capsys, "deploy", "cut.mlm")
    one_line_error(rc, err)
    assert calls == []  # nothing reached the board (nor was mlrt even compiled)


def test_c_name_hint_is_cli_syntax(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files)
    rc, _, err = cli(capsys, "convert", "model.joblib", "-o", "m.h", "--name", "9lives")
    one_line_error(rc, err, "--name gesture")
    assert "name='gesture'" not in err
    rc, _, err = cli(capsys, "convert", "model.joblib", "-o", "9lives.h")
    one_line_error(rc, err, "give one with --name")


def test_bad_paths_and_data_are_one_line_messages(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files)
    rc, _, err = cli(capsys, "convert", "model.joblib", "-o", "model.joblib/inside.h")  # parent is a file
    one_line_error(rc, err, "cannot write model.joblib/inside.h")
    np.save(files / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    rc, _, err = cli(capsys, "verify", "model.joblib", "--data", "obj.npy")
    one_line_error(rc, err, "obj.npy", "Python objects", "numeric array")
    (files / "inf.csv").write_text("1,2,3,4\n5,inf,7,8\n")
    rc, _, err = cli(capsys, "verify", "model.joblib", "--data", "inf.csv")
    one_line_error(rc, err, "row 2, column 2 is inf")
    (files / "empty.csv").write_text("")
    rc, _, err = cli(capsys, "verify", "model.joblib", "--data", "empty.csv")
    one_line_error(rc, err, "empty.csv is empty")
    (files / "header_only.csv").write_text("a,b,c,d\n")
    rc, _, err = cli(capsys, "verify", "model.joblib", "--data", "header_only.csv")
    one_line_error(rc, err, "no rows")


def test_export_runtime(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from microlearn.host import RUNTIME_C_DIR

    monkeypatch.chdir(files)
    assert cli(capsys, "export-runtime", "rt_all")[0] == 0
    assert sorted(p.name for p in (files / "rt_all").iterdir()) == sorted(
        p.name for p in RUNTIME_C_DIR.glob("ml_*.h")
    )
    assert cli(capsys, "convert", "model.joblib", "-o", "e.mlm")[0] == 0
    assert cli(capsys, "export-runtime", "rt_file", "--model", "e.mlm")[0] == 0
    got = {p.name for p in (files / "rt_file").iterdir()}
    assert {"ml_model.h", "ml_trees.h", "ml_common.h"} <= got and "ml_fft.h" not in got
    assert cli(capsys, "export-runtime", "rt_c", "--model", "model.joblib", "--method", "packed")[0] == 0
    assert "ml_trees_packed.h" in {p.name for p in (files / "rt_c").iterdir()}


def test_cli_budget_and_estimate(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from microlearn.targets.mcu.arch import get_arch
    from microlearn.targets.mcu.build import toolchain_missing

    if toolchain_missing(get_arch("cortex-m4f")):
        pytest.skip(str(toolchain_missing(get_arch("cortex-m4f"))))
    monkeypatch.chdir(files)
    rc, _, err = cli(
        capsys, "verify", "model.joblib", "--data", "X.npy", "--target", "cortex-m4f", "--flash-budget", "1k"
    )
    one_line_error(rc, err, "needs about", "1,024 B")
    rc, out, err = cli(
        capsys, "verify", "model.joblib", "--data", "X.npy", "--target", "cortex-m4f", "--flash-budget", "64k"
    )
    assert rc == 0, err
    assert "estimate before building: cortex-m4f" in err
    assert "budget:" in out and "to spare" in out


def test_demo_uses_only_the_public_api() -> None:
    import ast

    import microlearn

    tree = ast.parse((Path(__file__).parent.parent / "examples" / "demo.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("microlearn"):
            assert node.module == "microlearn", node.module
            assert all(a.name in microlearn.__all__ for a in node.names)
        if isinstance(node, ast.Import):
            assert all(a.name == "microlearn" or not a.name.startswith("microlearn.") for a in node.names)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "microlearn"
        ):
            assert node.attr in microlearn.__all__, node.attr
