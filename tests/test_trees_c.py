"""The generated C: strict warnings with gcc and clang, C++, two translation units, stable output."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import microlearn
from microlearn.backends.c.common import f32
from microlearn.host import RUNTIME_C_DIR

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]
X, y = load_iris(return_X_y=True)
X_nan = X.copy()
X_nan[::5, 2] = np.nan  # trained with missing values: NaN-routing comparisons and +inf thresholds


def _models() -> dict[str, object]:
    return {
        "rfc": RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X_nan, y),
        "dtc": DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y),
        "rfr": RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X_nan, X[:, 0]),
        "dtr": DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, X[:, 0]),
    }


MODELS = _models()


def _main_c(name: str, est: object) -> str:
    if hasattr(est, "classes_"):
        call = (
            f"int32_t c = {name}_predict(x); float p[{name.upper()}_N_CLASSES]; {name}_predict_proba(x, p);"
        )
        use = "return (int)c + (p[0] > 2.0f);"
    else:
        call = f"float v = {name}_predict(x);"
        use = "return v > 1000.0f;"
    return (
        f'#include "{name}.h"\n'
        f"int main(void)\n{{\n    const float x[{name.upper()}_N_FEATURES] = {{5.0f, 3.0f, 1.5f, 0.2f}};\n"
        f"    {call}\n    {use}\n}}\n"
    )


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("method", ["table", "inline"])
@pytest.mark.parametrize("key", list(MODELS))
def test_strict_warnings_c99(tmp_path: Path, compiler: str, method: str, key: str) -> None:
    est = MODELS[key]
    microlearn.convert(est, method=method).save_c(tmp_path / f"{key}.h", name=key)
    (tmp_path / "main.c").write_text(_main_c(key, est))
    cmd = [
        compiler,
        "-std=c99",
        *STRICT,
        "-I",
        str(tmp_path),
        "-o",
        str(tmp_path / "a.out"),
        str(tmp_path / "main.c"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("method", ["table", "inline"])
def test_compiles_as_cpp11(tmp_path: Path, compiler: str, method: str) -> None:
    for key, est in MODELS.items():
        microlearn.convert(est, method=method).save_c(tmp_path / f"{key}.h", name=key)
        (tmp_path / f"{key}.cpp").write_text(_main_c(key, est))
        cmd = [compiler, "-std=c++11", *STRICT, "-I", str(tmp_path), "-c", "-o", str(tmp_path / f"{key}.o")]
        res = subprocess.run([*cmd, str(tmp_path / f"{key}.cpp")], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("method", ["table", "inline"])
def test_two_translation_units_link_and_agree(tmp_path: Path, method: str) -> None:
    est = MODELS["rfc"]
    microlearn.convert(est, method=method).save_c(tmp_path / "iris.h", name="iris")
    rows = X_nan[:20].astype(np.float32)
    body = ", ".join(("NAN" if np.isnan(v) else f32(v)) for v in rows.ravel())
    (tmp_path / "a.c").write_text(
        '#include "iris.h"\nint first(const float *x);\n'
        "int first(const float *x) { return iris_predict(x); }\n"
    )
    (tmp_path / "b.c").write_text(
        '#include <stdio.h>\n#include <math.h>\n#include "iris.h"\nint first(const float *x);\n'
        f"static const float rows[20 * 4] = {{{body}}};\n"
        "int main(void) {\n    int i;\n    for (i = 0; i < 20; i++) {\n"
        '        printf("%d %d\\n", first(rows + 4 * i), (int)iris_predict(rows + 4 * i));\n'
        "    }\n    return 0;\n}\n"
    )
    exe = tmp_path / "prog"
    cmd = [
        "gcc",
        "-std=c99",
        *STRICT,
        "-I",
        str(tmp_path),
        "-o",
        str(exe),
        str(tmp_path / "a.c"),
        str(tmp_path / "b.c"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    got = np.array(out, dtype=int).reshape(-1, 2)
    assert np.array_equal(got[:, 0], got[:, 1])
    assert np.array_equal(got[:, 0], est.predict(rows))


@pytest.mark.parametrize("method", ["table", "inline"])
def test_byte_identical_output(method: str) -> None:
    est = MODELS["rfc"]
    a = microlearn.convert(est, method=method).to_c("iris")
    b = microlearn.convert(pickle.loads(pickle.dumps(est)), method=method).to_c("iris")
    assert a == b
    refit = RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X_nan, y)
    assert microlearn.convert(refit, method=method).to_c("iris") == a


def test_header_comment_names_the_model() -> None:
    est = MODELS["rfc"]
    model = microlearn.convert(est)
    src = model.c_source("iris")
    head = src.header.split("*/")[0]
    assert "RandomForestClassifier" in head
    assert f"microlearn {microlearn.__version__}" in head
    assert "features: 4" in head
    assert "classes: 3" in head
    assert f"nodes: {model.ir.n_nodes}" in head
    assert f"const data: {src.const_bytes} bytes" in head
    assert "#define IRIS_N_FEATURES 4" in src.header
    assert "#define IRIS_N_CLASSES 3" in src.header


def test_save_c_directory_is_self_contained(tmp_path: Path) -> None:
    est = MODELS["dtc"]
    path = microlearn.convert(est).save_c(tmp_path / "out" / "flower.h")
    assert (tmp_path / "out" / "ml_trees.h").read_text() == (RUNTIME_C_DIR / "ml_trees.h").read_text()
    assert "flower_predict" in path.read_text()
    main = tmp_path / "out" / "main.c"
    main.write_text(
        '#include <stdio.h>\n#include "flower.h"\n'
        "int main(void) { const float x[4] = {6.3f, 3.3f, 6.0f, 2.5f};\n"
        '    printf("%d", (int)flower_predict(x)); return 0; }\n'
    )
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-std=c99", "-o", str(exe), str(main)], check=True, cwd=tmp_path / "out")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert int(out) == est.predict([[6.3, 3.3, 6.0, 2.5]])[0]


def test_compilers_present() -> None:
    # the suite relies on both; make setup installs clang
    for tool in ("gcc", "clang", "g++", "clang++"):
        assert shutil.which(tool), f"{tool} missing: run make setup"
