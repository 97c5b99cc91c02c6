"""Estimates count the output link a model's calls use (expf, log1pf, tanhf and the soft-float routines
behind them) once, by the code measured for it (estimate.LINKS), and budgets are checked with it."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor

import microlearn
from microlearn.errors import ModelTooLargeError
from microlearn.estimate import LINKS, Budget, estimate, links
from microlearn.targets.base import Artifacts
from microlearn.verify import FAR_OVER, _estimate_first

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")


@pytest.fixture(scope="module")
def poisson() -> tuple[HistGradientBoostingRegressor, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    return HistGradientBoostingRegressor(loss="poisson", max_iter=5, max_depth=3, random_state=0).fit(X, y), X


def test_every_cpu_has_a_measured_cost_for_each_link() -> None:
    for post in ("exp", "sigmoid", "softplus"):
        for cpu in CPUS:
            for method in ("table", "inline", "packed"):
                assert LINKS[(cpu, "BoostedTrees", "regress", method, post)] > 0
    # soft-float CPUs pay far more for a link than the Cortex-M4F with its FPU
    for link in ("exp", "sigmoid", "softplus"):
        m4 = LINKS[("cortex-m4f", "BoostedTrees", "regress", "table", link)]
        assert LINKS[("cortex-m0plus", "BoostedTrees", "regress", "table", link)] > 2 * m4


@pytest.mark.parametrize("method", ["table", "inline", "packed"])
def test_a_boosted_regressors_link_adds_its_measured_code(
    poisson: tuple[HistGradientBoostingRegressor, np.ndarray], method: str
) -> None:
    ir: Any = microlearn.convert(poisson[0], method=method).ir
    assert ir.post == "exp" and links(ir) == ("exp",)
    plain = dataclasses.replace(ir, post="none", post_params=())
    assert links(plain) == ()
    for cpu in CPUS:
        base = estimate(plain, method, cpu)
        assert base.links == () and base.link_bytes == 0
        for post in ("exp", "sigmoid", "softplus"):
            e = estimate(dataclasses.replace(ir, post=post, post_params=()), method, cpu)
            cost = LINKS[(cpu, "BoostedTrees", "regress", method, post)]
            assert e.links == (post,) and e.link_bytes == cost
            assert e.const_bytes == base.const_bytes and e.ram_bytes == base.ram_bytes
            assert e.flash_bytes - base.flash_bytes == cost
            assert f"incl. {post} {cost:,}" in str(e)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_link_used_by_several_layers_is_counted_once() -> None:
    X, y = load_diabetes(return_X_y=True)
    relu = microlearn.convert(
        MLPRegressor(hidden_layer_sizes=(6, 6), max_iter=20, random_state=0).fit(X, y)
    ).ir
    two = microlearn.convert(
        MLPRegressor(hidden_layer_sizes=(6, 6), activation="logistic", max_iter=20, random_state=0).fit(X, y)
    ).ir
    assert links(relu) == () and links(two) == ("sigmoid",)  # two hidden layers, one expf
    for cpu in CPUS:
        extra = estimate(two, "float", cpu).code_bytes - estimate(relu, "float", cpu).code_bytes
        assert extra == LINKS[(cpu, "Network", "regress", "float", "sigmoid")]


def test_probabilities_add_their_link_only_when_asked_for() -> None:
    X, y = load_iris(return_X_y=True)
    model = microlearn.convert(LogisticRegression(max_iter=2000).fit(X, y))
    assert links(model.ir) == () and links(model.ir, proba=True) == ("softmax",)
    binary = microlearn.convert(LogisticRegression(max_iter=2000).fit(X, y == 1))
    assert links(binary.ir, proba=True) == ("sigmoid",)
    for cpu in CPUS:
        e, p = model.estimate(cpu), model.estimate(cpu, proba=True)
        assert p.flash_bytes - e.flash_bytes == LINKS[(cpu, "Linear", "classify", "float", "softmax")]
    nb32 = microlearn.convert(GaussianNB().fit(X, y), method="float32")  # its C has no predict_proba
    assert "predict_proba" not in [f.name for f in nb32.c_source("nb").api]
    assert nb32.estimate("cortex-m0plus", proba=True) == nb32.estimate("cortex-m0plus")
    ridge = microlearn.convert(Ridge().fit(X, y))  # no probabilities: nothing to add
    assert ridge.estimate("cortex-m0plus", proba=True) == ridge.estimate("cortex-m0plus")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_unmeasured_link_takes_the_largest_figure_measured_for_it() -> None:
    from microlearn.estimate import link_cost

    X, y = load_diabetes(return_X_y=True)
    ir = microlearn.convert(Ridge().fit(X, y)).ir  # a Linear regressor has no measured link
    Xi, yi = load_iris(return_X_y=True)
    net = microlearn.convert(
        MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", max_iter=5).fit(Xi, yi)
    ).ir
    for cpu in CPUS:
        worst = max(v for (c, _, _, _, k), v in LINKS.items() if c == cpu and k == "sigmoid")
        assert link_cost(cpu, ir, "float", ("sigmoid",)) == worst
        # float32 networks: the largest over the family's measured methods (float)
        assert (
            link_cost(cpu, net, "float32", ("tanh",)) == LINKS[(cpu, "Network", "classify", "float", "tanh")]
        )


def test_the_budget_check_counts_the_link(
    poisson: tuple[HistGradientBoostingRegressor, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    est, X = poisson
    cpu = "cortex-m0plus"
    ir: Any = microlearn.convert(est).ir
    plain = dataclasses.replace(ir, post="none", post_params=())
    with_link, without = estimate(ir, "table", cpu), estimate(plain, "table", cpu)
    # a budget the model fits without its link, but is far over with it
    limit = int((with_link.flash_bytes + without.flash_bytes) / 2 / FAR_OVER)
    assert without.flash_bytes <= FAR_OVER * limit < with_link.flash_bytes
    assert _estimate_first(Artifacts(plain, "table"), cpu, Budget(flash=limit)) == without
    monkeypatch.setenv("PATH", "/nonexistent")  # refused before any compiler runs
    with pytest.raises(ModelTooLargeError, match=f"needs about {with_link.flash_bytes:,} B of flash"):
        microlearn.verify(est, X[:5], targets=[cpu], budget={"flash": limit})
