"""The command line, run as a user would run it."""

from __future__ import annotations

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
