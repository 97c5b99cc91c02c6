"""Flash and RAM a converted model needs on a microcontroller, estimated before anything is compiled.

flash = const data of the generated C (``CSource.const_bytes``, what the emitter itself counts)
      + code: the runtime code the method links for this CPU (its walker, libgcc soft-float routines, ...)
        plus, for methods that write the trees as code (inline, fast), bytes per internal node,
        plus once per output link the model's calls use (a boosted regressor's exp / sigmoid / softplus,
        a network's logistic / tanh hidden units, probabilities when asked for): :data:`LINKS`, the libm
        and libgcc routines (expf, log1pf, tanhf, soft-float division ...) and the code around them;
RAM   = the peak stack of one call (generated C has no mutable globals) plus the buffers that grow with
        the model (per-class sums, pipeline stage outputs, a network's activation arena
        ``CSource.arena_bytes``, which the generated C declares as ``NAME_ARENA_BYTES``).

The per-CPU figures in :data:`COSTS` were measured once with ``benchmarks/estimates.py`` (gcc 12.2 -Os,
linked and run on the emulated CPU, sizes attributed from the linker map as ``report`` does) and are
recorded here, so an estimate needs no compiler. The rows of :data:`COSTS` hold no link: the
calibration subtracts the links of its models. A family or method without a row falls back to the
CPU's :data:`GENERIC` figure (the largest measured fixed code) plus the const bytes of its generated C.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError
from microlearn.ir.base import IR

__all__ = [
    "COSTS",
    "GENERIC",
    "LINKS",
    "Budget",
    "BudgetCheck",
    "Cost",
    "Estimate",
    "estimate",
    "internal_nodes",
    "link_cost",
    "links",
    "n_layers",
    "parse_size",
]


@dataclass(frozen=True)
class Cost:
    """What one method costs on one CPU apart from its const data."""

    code: int  # bytes of code and library members the method links whatever the model's size
    per_node: float = 0.0  # code bytes per internal tree node (methods writing trees as code)
    stack: int = 0  # peak stack bytes of one call on the calibration model
    stack_per_output: int = 0  # further stack bytes per output (class sums)
    per_layer: float = 0.0  # code bytes per layer of a network (its call and kernel share)


# (cpu, IR type, task, method) -> Cost. Measured by `python benchmarks/estimates.py --table`; regenerate
# this table with it when an emitter or a runtime header changes.
COSTS: dict[tuple[str, str, str, str], Cost] = {
    ("cortex-m0plus", "BoostedTrees", "classify", "inline"): Cost(
        code=5850, per_node=24.59, stack=124, stack_per_output=28
    ),
    ("cortex-m0plus", "BoostedTrees", "classify", "packed"): Cost(
        code=2634, per_node=0.12, stack=132, stack_per_output=12
    ),
    ("cortex-m0plus", "BoostedTrees", "classify", "table"): Cost(code=4537, stack=169, stack_per_output=11),
    ("cortex-m0plus", "BoostedTrees", "regress", "inline"): Cost(code=786, per_node=20.85, stack=72),
    ("cortex-m0plus", "BoostedTrees", "regress", "packed"): Cost(code=1110, stack=72),
    ("cortex-m0plus", "BoostedTrees", "regress", "table"): Cost(code=1398, stack=80),
    ("cortex-m0plus", "BoostedTrees", "score", "inline"): Cost(code=19010, per_node=15.4, stack=269),
    ("cortex-m0plus", "BoostedTrees", "score", "packed"): Cost(code=19230, per_node=0.07, stack=301),
    ("cortex-m0plus", "BoostedTrees", "score", "table"): Cost(code=19085, stack=269),
    ("cortex-m0plus", "Elementwise", "transform", "exact"): Cost(code=1642, stack=64),
    ("cortex-m0plus", "GaussianMixture", "cluster", "float"): Cost(code=5618, stack=184),
    ("cortex-m0plus", "GaussianMixture", "cluster", "float32"): Cost(code=1730, stack=104),
    ("cortex-m0plus", "GaussianNB", "classify", "float"): Cost(code=7358, stack=264),
    ("cortex-m0plus", "GaussianNB", "classify", "float32"): Cost(code=1686, stack=120),
    ("cortex-m0plus", "Impute", "transform", "exact"): Cost(code=590, stack=64),
    ("cortex-m0plus", "KMeans", "cluster", "float"): Cost(code=6030, stack=128),
    ("cortex-m0plus", "KerasNetwork", "classify", "float"): Cost(code=1766, per_layer=336.33, stack=240),
    ("cortex-m0plus", "KerasNetwork", "classify", "int8"): Cost(code=883, per_layer=237.52, stack=276),
    ("cortex-m0plus", "KerasNetwork", "regress", "float"): Cost(code=1460, per_layer=497.0, stack=216),
    ("cortex-m0plus", "KerasNetwork", "regress", "int8"): Cost(code=968, per_layer=244.86, stack=224),
    ("cortex-m0plus", "Linear", "classify", "float"): Cost(code=3738, stack=504),
    ("cortex-m0plus", "Linear", "regress", "float"): Cost(code=1514, stack=64),
    ("cortex-m0plus", "Mahalanobis", "score", "float"): Cost(code=5346, stack=200),
    ("cortex-m0plus", "Mahalanobis", "score", "float32"): Cost(code=1698, stack=160),
    ("cortex-m0plus", "Neighbors", "classify", "float"): Cost(code=6374, stack=208),
    ("cortex-m0plus", "Neighbors", "classify", "float32"): Cost(code=9466, stack=248),
    ("cortex-m0plus", "Neighbors", "classify", "float32_noreplay"): Cost(code=3266, stack=152),
    ("cortex-m0plus", "Neighbors", "classify", "int16"): Cost(code=7722, stack=288),
    ("cortex-m0plus", "Neighbors", "classify", "int8"): Cost(code=7546, stack=192),
    ("cortex-m0plus", "Neighbors", "regress", "float"): Cost(code=7990, stack=168),
    ("cortex-m0plus", "Neighbors", "regress", "float32"): Cost(code=11550, stack=240),
    ("cortex-m0plus", "Neighbors", "regress", "int16"): Cost(code=9462, stack=352),
    ("cortex-m0plus", "Neighbors", "regress", "int8"): Cost(code=9138, stack=256),
    ("cortex-m0plus", "Network", "classify", "float"): Cost(code=7592, stack=1680),
    ("cortex-m0plus", "Network", "classify", "float32"): Cost(code=3276, stack=136),
    ("cortex-m0plus", "Network", "regress", "float"): Cost(code=2176, stack=128),
    ("cortex-m0plus", "Network", "regress", "float32"): Cost(code=2176, stack=128),
    ("cortex-m0plus", "Normalize", "transform", "exact"): Cost(code=4035, stack=173),
    ("cortex-m0plus", "Project", "transform", "exact"): Cost(code=6910, stack=120),
    ("cortex-m0plus", "TreeEnsemble", "classify", "fast"): Cost(
        code=1143, per_node=34.31, stack=240, stack_per_output=3
    ),
    ("cortex-m0plus", "TreeEnsemble", "classify", "inline"): Cost(
        code=4460, per_node=18.98, stack=184, stack_per_output=12
    ),
    ("cortex-m0plus", "TreeEnsemble", "classify", "packed"): Cost(
        code=526, per_node=1.56, stack=176, stack_per_output=4
    ),
    ("cortex-m0plus", "TreeEnsemble", "classify", "table"): Cost(
        code=4520, per_node=0.14, stack=168, stack_per_output=13
    ),
    ("cortex-m0plus", "TreeEnsemble", "regress", "fast"): Cost(code=1501, per_node=24.58, stack=96),
    ("cortex-m0plus", "TreeEnsemble", "regress", "inline"): Cost(code=1680, per_node=20.77, stack=104),
    ("cortex-m0plus", "TreeEnsemble", "regress", "packed"): Cost(code=1813, per_node=0.02, stack=112),
    ("cortex-m0plus", "TreeEnsemble", "regress", "table"): Cost(code=1764, per_node=0.14, stack=72),
    ("cortex-m4f", "BoostedTrees", "classify", "inline"): Cost(
        code=1673, per_node=24.08, stack=73, stack_per_output=27
    ),
    ("cortex-m4f", "BoostedTrees", "classify", "packed"): Cost(
        code=1735, per_node=0.29, stack=104, stack_per_output=12
    ),
    ("cortex-m4f", "BoostedTrees", "classify", "table"): Cost(
        code=1648, per_node=0.25, stack=112, stack_per_output=12
    ),
    ("cortex-m4f", "BoostedTrees", "regress", "inline"): Cost(code=3, per_node=14.96, stack=0),
    ("cortex-m4f", "BoostedTrees", "regress", "packed"): Cost(code=178, stack=36),
    ("cortex-m4f", "BoostedTrees", "regress", "table"): Cost(code=70, stack=40),
    ("cortex-m4f", "BoostedTrees", "score", "inline"): Cost(code=9490, per_node=18.99, stack=205),
    ("cortex-m4f", "BoostedTrees", "score", "packed"): Cost(code=9696, per_node=0.03, stack=245),
    ("cortex-m4f", "BoostedTrees", "score", "table"): Cost(code=9649, stack=213),
    ("cortex-m4f", "Elementwise", "transform", "exact"): Cost(code=86, stack=12),
    ("cortex-m4f", "GaussianMixture", "cluster", "float"): Cost(code=2294, stack=160),
    ("cortex-m4f", "GaussianMixture", "cluster", "float32"): Cost(code=190, stack=60),
    ("cortex-m4f", "GaussianNB", "classify", "float"): Cost(code=2606, stack=236),
    ("cortex-m4f", "GaussianNB", "classify", "float32"): Cost(code=146, stack=64),
    ("cortex-m4f", "Impute", "transform", "exact"): Cost(code=62, stack=16),
    ("cortex-m4f", "KMeans", "cluster", "float"): Cost(code=1918, stack=84),
    ("cortex-m4f", "KerasNetwork", "classify", "float"): Cost(code=0, per_layer=166.48, stack=160),
    ("cortex-m4f", "KerasNetwork", "classify", "int8"): Cost(code=248, per_layer=183.78, stack=236),
    ("cortex-m4f", "KerasNetwork", "regress", "float"): Cost(code=65, per_layer=136.29, stack=132),
    ("cortex-m4f", "KerasNetwork", "regress", "int8"): Cost(code=459, per_layer=129.14, stack=200),
    ("cortex-m4f", "Linear", "classify", "float"): Cost(code=2150, stack=172),
    ("cortex-m4f", "Linear", "regress", "float"): Cost(code=34, stack=0),
    ("cortex-m4f", "Mahalanobis", "score", "float"): Cost(code=2018, stack=148),
    ("cortex-m4f", "Mahalanobis", "score", "float32"): Cost(code=182, stack=92),
    ("cortex-m4f", "Neighbors", "classify", "float"): Cost(code=2246, stack=164),
    ("cortex-m4f", "Neighbors", "classify", "float32"): Cost(code=2650, stack=236),
    ("cortex-m4f", "Neighbors", "classify", "float32_noreplay"): Cost(code=470, stack=100),
    ("cortex-m4f", "Neighbors", "classify", "int16"): Cost(code=2766, stack=268),
    ("cortex-m4f", "Neighbors", "classify", "int8"): Cost(code=2666, stack=180),
    ("cortex-m4f", "Neighbors", "regress", "float"): Cost(code=2274, stack=124),
    ("cortex-m4f", "Neighbors", "regress", "float32"): Cost(code=3226, stack=216),
    ("cortex-m4f", "Neighbors", "regress", "int16"): Cost(code=2798, stack=304),
    ("cortex-m4f", "Neighbors", "regress", "int8"): Cost(code=2674, stack=216),
    ("cortex-m4f", "Network", "classify", "float"): Cost(code=2486, stack=1604),
    ("cortex-m4f", "Network", "classify", "float32"): Cost(code=450, stack=52),
    ("cortex-m4f", "Network", "regress", "float"): Cost(code=174, stack=44),
    ("cortex-m4f", "Network", "regress", "float32"): Cost(code=174, stack=44),
    ("cortex-m4f", "Normalize", "transform", "exact"): Cost(code=323, stack=133),
    ("cortex-m4f", "Project", "transform", "exact"): Cost(code=1826, stack=80),
    ("cortex-m4f", "TreeEnsemble", "classify", "fast"): Cost(
        code=592, per_node=28.34, stack=4, stack_per_output=4
    ),
    ("cortex-m4f", "TreeEnsemble", "classify", "inline"): Cost(
        code=2641, per_node=20.02, stack=100, stack_per_output=15
    ),
    ("cortex-m4f", "TreeEnsemble", "classify", "packed"): Cost(
        code=337, per_node=0.53, stack=164, stack_per_output=6
    ),
    ("cortex-m4f", "TreeEnsemble", "classify", "table"): Cost(
        code=2641, per_node=0.12, stack=132, stack_per_output=13
    ),
    ("cortex-m4f", "TreeEnsemble", "regress", "fast"): Cost(code=0, per_node=30.6, stack=8),
    ("cortex-m4f", "TreeEnsemble", "regress", "inline"): Cost(code=0, per_node=25.08, stack=8),
    ("cortex-m4f", "TreeEnsemble", "regress", "packed"): Cost(code=226, per_node=0.01, stack=88),
    ("cortex-m4f", "TreeEnsemble", "regress", "table"): Cost(code=168, per_node=0.13, stack=36),
    ("rv32imc", "BoostedTrees", "classify", "inline"): Cost(
        code=8260, per_node=22.7, stack=120, stack_per_output=28
    ),
    ("rv32imc", "BoostedTrees", "classify", "packed"): Cost(
        code=3226, per_node=0.06, stack=100, stack_per_output=14
    ),
    ("rv32imc", "BoostedTrees", "classify", "table"): Cost(code=5894, stack=148, stack_per_output=12),
    ("rv32imc", "BoostedTrees", "regress", "inline"): Cost(code=1425, per_node=28.73, stack=64),
    ("rv32imc", "BoostedTrees", "regress", "packed"): Cost(code=1807, per_node=0.08, stack=80),
    ("rv32imc", "BoostedTrees", "regress", "table"): Cost(code=2038, stack=112),
    ("rv32imc", "BoostedTrees", "score", "inline"): Cost(code=23617, per_node=16.72, stack=204),
    ("rv32imc", "BoostedTrees", "score", "packed"): Cost(code=23967, per_node=0.02, stack=236),
    ("rv32imc", "BoostedTrees", "score", "table"): Cost(code=23824, stack=220),
    ("rv32imc", "Elementwise", "transform", "exact"): Cost(code=2550, stack=60),
    ("rv32imc", "GaussianMixture", "cluster", "float"): Cost(code=7106, stack=188),
    ("rv32imc", "GaussianMixture", "cluster", "float32"): Cost(code=2634, stack=140),
    ("rv32imc", "GaussianNB", "classify", "float"): Cost(code=8688, stack=268),
    ("rv32imc", "GaussianNB", "classify", "float32"): Cost(code=2576, stack=140),
    ("rv32imc", "Impute", "transform", "exact"): Cost(code=222, stack=32),
    ("rv32imc", "KMeans", "cluster", "float"): Cost(code=6842, stack=116),
    ("rv32imc", "KerasNetwork", "classify", "float"): Cost(code=2237, per_layer=448.66, stack=268),
    ("rv32imc", "KerasNetwork", "classify", "int8"): Cost(code=2004, per_layer=136.7, stack=244),
    ("rv32imc", "KerasNetwork", "regress", "float"): Cost(code=2051, per_layer=667.86, stack=236),
    ("rv32imc", "KerasNetwork", "regress", "int8"): Cost(code=2078, per_layer=155.0, stack=236),
    ("rv32imc", "Linear", "classify", "float"): Cost(code=4344, stack=516),
    ("rv32imc", "Linear", "regress", "float"): Cost(code=2378, stack=60),
    ("rv32imc", "Mahalanobis", "score", "float"): Cost(code=6866, stack=204),
    ("rv32imc", "Mahalanobis", "score", "float32"): Cost(code=2588, stack=172),
    ("rv32imc", "Neighbors", "classify", "float"): Cost(code=7380, stack=212),
    ("rv32imc", "Neighbors", "classify", "float32"): Cost(code=11604, stack=284),
    ("rv32imc", "Neighbors", "classify", "float32_noreplay"): Cost(code=4492, stack=188),
    ("rv32imc", "Neighbors", "classify", "int16"): Cost(code=9152, stack=268),
    ("rv32imc", "Neighbors", "classify", "int8"): Cost(code=9012, stack=172),
    ("rv32imc", "Neighbors", "regress", "float"): Cost(code=9136, stack=180),
    ("rv32imc", "Neighbors", "regress", "float32"): Cost(code=13684, stack=260),
    ("rv32imc", "Neighbors", "regress", "int16"): Cost(code=11444, stack=324),
    ("rv32imc", "Neighbors", "regress", "int8"): Cost(code=10710, stack=228),
    ("rv32imc", "Network", "classify", "float"): Cost(code=8940, stack=1692),
    ("rv32imc", "Network", "classify", "float32"): Cost(code=4606, stack=156),
    ("rv32imc", "Network", "regress", "float"): Cost(code=2770, stack=124),
    ("rv32imc", "Network", "regress", "float32"): Cost(code=2770, stack=124),
    ("rv32imc", "Normalize", "transform", "exact"): Cost(code=5510, stack=80),
    ("rv32imc", "Project", "transform", "exact"): Cost(code=8192, stack=116),
    ("rv32imc", "TreeEnsemble", "classify", "fast"): Cost(
        code=755, per_node=28.44, stack=236, stack_per_output=5
    ),
    ("rv32imc", "TreeEnsemble", "classify", "inline"): Cost(
        code=4828, per_node=17.3, stack=164, stack_per_output=12
    ),
    ("rv32imc", "TreeEnsemble", "classify", "packed"): Cost(
        code=516, per_node=0.67, stack=200, stack_per_output=4
    ),
    ("rv32imc", "TreeEnsemble", "classify", "table"): Cost(
        code=4989, per_node=0.07, stack=160, stack_per_output=14
    ),
    ("rv32imc", "TreeEnsemble", "regress", "fast"): Cost(code=2507, per_node=29.24, stack=92),
    ("rv32imc", "TreeEnsemble", "regress", "inline"): Cost(code=2587, per_node=23.3, stack=116),
    ("rv32imc", "TreeEnsemble", "regress", "packed"): Cost(code=2720, per_node=0.01, stack=108),
    ("rv32imc", "TreeEnsemble", "regress", "table"): Cost(code=2678, per_node=0.14, stack=80),
}

# per CPU: families or methods with no measured row (new families, new emitters)
GENERIC: dict[str, Cost] = {
    "cortex-m0plus": Cost(code=19230, stack=1680),
    "cortex-m4f": Cost(code=9696, stack=1604),
    "rv32imc": Cost(code=23967, stack=1692),
}

# (cpu, IR type, task, method, link) -> code bytes a link adds to a model of that family, task and method
# that has none: the largest increase measured by `python benchmarks/estimates.py --table` over its bases
# (boosted regressors and classifiers, relu networks, linear classifiers, GaussianNB), since what a link
# adds depends on the soft-float routines the model links already (a network classifier's float64
# replay runs the activation in double too; packed boosted trees sum in fixed point). Added once per
# link: a model's calls to one link share its routines.
LINKS: dict[tuple[str, str, str, str, str], int] = {
    ("cortex-m0plus", "BoostedTrees", "classify", "inline", "sigmoid"): 2505,
    ("cortex-m0plus", "BoostedTrees", "classify", "inline", "softmax"): 2597,
    ("cortex-m0plus", "BoostedTrees", "classify", "packed", "sigmoid"): 4569,
    ("cortex-m0plus", "BoostedTrees", "classify", "packed", "softmax"): 4669,
    ("cortex-m0plus", "BoostedTrees", "classify", "table", "sigmoid"): 3237,
    ("cortex-m0plus", "BoostedTrees", "classify", "table", "softmax"): 2501,
    ("cortex-m0plus", "BoostedTrees", "regress", "inline", "exp"): 3701,
    ("cortex-m0plus", "BoostedTrees", "regress", "inline", "sigmoid"): 3725,
    ("cortex-m0plus", "BoostedTrees", "regress", "inline", "softplus"): 4677,
    ("cortex-m0plus", "BoostedTrees", "regress", "packed", "exp"): 3701,
    ("cortex-m0plus", "BoostedTrees", "regress", "packed", "sigmoid"): 3729,
    ("cortex-m0plus", "BoostedTrees", "regress", "packed", "softplus"): 4677,
    ("cortex-m0plus", "BoostedTrees", "regress", "table", "exp"): 3189,
    ("cortex-m0plus", "BoostedTrees", "regress", "table", "sigmoid"): 3213,
    ("cortex-m0plus", "BoostedTrees", "regress", "table", "softplus"): 4169,
    ("cortex-m0plus", "GaussianNB", "classify", "float", "exp64"): 5566,
    ("cortex-m0plus", "GaussianNB", "classify", "float32", "exp64"): 0,
    ("cortex-m0plus", "KerasNetwork", "classify", "float", "sigmoid"): 2557,
    ("cortex-m0plus", "KerasNetwork", "classify", "float", "tanh"): 2980,
    ("cortex-m0plus", "KerasNetwork", "classify", "int8", "sigmoid"): 16,
    ("cortex-m0plus", "KerasNetwork", "classify", "int8", "tanh"): 16,
    ("cortex-m0plus", "KerasNetwork", "regress", "float", "sigmoid"): 2561,
    ("cortex-m0plus", "KerasNetwork", "regress", "float", "tanh"): 2984,
    ("cortex-m0plus", "KerasNetwork", "regress", "int8", "sigmoid"): 16,
    ("cortex-m0plus", "KerasNetwork", "regress", "int8", "tanh"): 16,
    ("cortex-m0plus", "Linear", "classify", "float", "sigmoid"): 4817,
    ("cortex-m0plus", "Linear", "classify", "float", "softmax"): 7229,
    ("cortex-m0plus", "Network", "classify", "float", "sigmoid"): 6773,
    ("cortex-m0plus", "Network", "classify", "float", "tanh"): 7920,
    ("cortex-m0plus", "Network", "regress", "float", "sigmoid"): 2561,
    ("cortex-m0plus", "Network", "regress", "float", "tanh"): 2984,
    ("cortex-m4f", "BoostedTrees", "classify", "inline", "sigmoid"): 873,
    ("cortex-m4f", "BoostedTrees", "classify", "inline", "softmax"): 1041,
    ("cortex-m4f", "BoostedTrees", "classify", "packed", "sigmoid"): 845,
    ("cortex-m4f", "BoostedTrees", "classify", "packed", "softmax"): 925,
    ("cortex-m4f", "BoostedTrees", "classify", "table", "sigmoid"): 801,
    ("cortex-m4f", "BoostedTrees", "classify", "table", "softmax"): 893,
    ("cortex-m4f", "BoostedTrees", "regress", "inline", "exp"): 765,
    ("cortex-m4f", "BoostedTrees", "regress", "inline", "sigmoid"): 781,
    ("cortex-m4f", "BoostedTrees", "regress", "inline", "softplus"): 1497,
    ("cortex-m4f", "BoostedTrees", "regress", "packed", "exp"): 765,
    ("cortex-m4f", "BoostedTrees", "regress", "packed", "sigmoid"): 781,
    ("cortex-m4f", "BoostedTrees", "regress", "packed", "softplus"): 1497,
    ("cortex-m4f", "BoostedTrees", "regress", "table", "exp"): 769,
    ("cortex-m4f", "BoostedTrees", "regress", "table", "sigmoid"): 785,
    ("cortex-m4f", "BoostedTrees", "regress", "table", "softplus"): 1501,
    ("cortex-m4f", "GaussianNB", "classify", "float", "exp64"): 3242,
    ("cortex-m4f", "GaussianNB", "classify", "float32", "exp64"): 0,
    ("cortex-m4f", "KerasNetwork", "classify", "float", "sigmoid"): 761,
    ("cortex-m4f", "KerasNetwork", "classify", "float", "tanh"): 1040,
    ("cortex-m4f", "KerasNetwork", "classify", "int8", "sigmoid"): 0,
    ("cortex-m4f", "KerasNetwork", "classify", "int8", "tanh"): 0,
    ("cortex-m4f", "KerasNetwork", "regress", "float", "sigmoid"): 765,
    ("cortex-m4f", "KerasNetwork", "regress", "float", "tanh"): 1044,
    ("cortex-m4f", "KerasNetwork", "regress", "int8", "sigmoid"): 0,
    ("cortex-m4f", "KerasNetwork", "regress", "int8", "tanh"): 0,
    ("cortex-m4f", "Linear", "classify", "float", "sigmoid"): 829,
    ("cortex-m4f", "Linear", "classify", "float", "softmax"): 905,
    ("cortex-m4f", "Network", "classify", "float", "sigmoid"): 2517,
    ("cortex-m4f", "Network", "classify", "float", "tanh"): 3544,
    ("cortex-m4f", "Network", "regress", "float", "sigmoid"): 765,
    ("cortex-m4f", "Network", "regress", "float", "tanh"): 1044,
    ("rv32imc", "BoostedTrees", "classify", "inline", "sigmoid"): 3242,
    ("rv32imc", "BoostedTrees", "classify", "inline", "softmax"): 3342,
    ("rv32imc", "BoostedTrees", "classify", "packed", "sigmoid"): 5802,
    ("rv32imc", "BoostedTrees", "classify", "packed", "softmax"): 6116,
    ("rv32imc", "BoostedTrees", "classify", "table", "sigmoid"): 4386,
    ("rv32imc", "BoostedTrees", "classify", "table", "softmax"): 3244,
    ("rv32imc", "BoostedTrees", "regress", "inline", "exp"): 4554,
    ("rv32imc", "BoostedTrees", "regress", "inline", "sigmoid"): 4580,
    ("rv32imc", "BoostedTrees", "regress", "inline", "softplus"): 6310,
    ("rv32imc", "BoostedTrees", "regress", "packed", "exp"): 4548,
    ("rv32imc", "BoostedTrees", "regress", "packed", "sigmoid"): 4570,
    ("rv32imc", "BoostedTrees", "regress", "packed", "softplus"): 6306,
    ("rv32imc", "BoostedTrees", "regress", "table", "exp"): 4334,
    ("rv32imc", "BoostedTrees", "regress", "table", "sigmoid"): 4364,
    ("rv32imc", "BoostedTrees", "regress", "table", "softplus"): 6092,
    ("rv32imc", "GaussianNB", "classify", "float", "exp64"): 6900,
    ("rv32imc", "GaussianNB", "classify", "float32", "exp64"): 0,
    ("rv32imc", "KerasNetwork", "classify", "float", "sigmoid"): 3532,
    ("rv32imc", "KerasNetwork", "classify", "float", "tanh"): 4346,
    ("rv32imc", "KerasNetwork", "classify", "int8", "sigmoid"): 2,
    ("rv32imc", "KerasNetwork", "classify", "int8", "tanh"): 2,
    ("rv32imc", "KerasNetwork", "regress", "float", "sigmoid"): 3530,
    ("rv32imc", "KerasNetwork", "regress", "float", "tanh"): 4122,
    ("rv32imc", "KerasNetwork", "regress", "int8", "sigmoid"): 4,
    ("rv32imc", "KerasNetwork", "regress", "int8", "tanh"): 4,
    ("rv32imc", "Linear", "classify", "float", "sigmoid"): 6070,
    ("rv32imc", "Linear", "classify", "float", "softmax"): 8514,
    ("rv32imc", "Network", "classify", "float", "sigmoid"): 8380,
    ("rv32imc", "Network", "classify", "float", "tanh"): 9916,
    ("rv32imc", "Network", "regress", "float", "sigmoid"): 3530,
    ("rv32imc", "Network", "regress", "float", "tanh"): 4122,
}

# method variants that share their base method's code (integer-input forms)
_VARIANT_SUFFIXES = ("_u8", "_i8", "_i16")


@dataclass(frozen=True)
class Estimate:
    """Flash and RAM a model needs on one CPU, before any compile."""

    target: str
    method: str
    flash_bytes: int
    ram_bytes: int
    const_bytes: int
    code_bytes: int
    basis: str  # "measured" (a row of COSTS) or "generic" (no row for this family/method)
    links: tuple[str, ...] = ()  # output links counted in code_bytes (keys of LINKS)
    link_bytes: int = 0  # their code (part of code_bytes)

    def __str__(self) -> str:
        how = "" if self.basis == "measured" else f" ({self.basis}: no measured row for this method)"
        link = f" incl. {'/'.join(self.links)} {self.link_bytes:,}" if self.links else ""
        return (
            f"{self.target} {self.method}: about {self.flash_bytes:,} B flash "
            f"(code {self.code_bytes:,}{link} + const {self.const_bytes:,}), {self.ram_bytes:,} B RAM{how}"
        )


def _cpu(target: str) -> str:
    from microlearn.targets.mcu.arch import ALIASES, ARCHS

    key = ALIASES.get(target.lower(), target.lower())
    if key not in ARCHS:
        raise InvalidInputError(
            f"flash/RAM estimates are for microcontroller targets ({', '.join(ARCHS)}), not {target!r}"
        )
    return key


def is_mcu(target: str) -> bool:
    try:
        _cpu(target)
    except InvalidInputError:
        return False
    return True


def _variants(method: str) -> tuple[str, ...]:
    """``method``, then the method it is a variant of (its name without a suffix of _VARIANT_SUFFIXES)."""
    return (method, *(method[: -len(s)] for s in _VARIANT_SUFFIXES if method.endswith(s)))


def _lookup(cpu: str, ir: IR, method: str) -> tuple[Cost, bool]:
    task = ir.task.value
    name = type(ir).__name__
    for m in _variants(method):
        c = COSTS.get((cpu, name, task, m))
        if c is not None:
            return c, True
    generic = GENERIC.get(cpu, Cost(code=8192, stack=512))
    return generic, False


_NETWORK_LINKS = {"logistic": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


def links(ir: IR, *, proba: bool = False) -> tuple[str, ...]:
    """The output links (keys of :data:`LINKS`) that ``ir``'s ``predict`` uses, and with ``proba`` its
    ``predict_proba`` too: the transforms whose libm / libgcc routines no row of :data:`COSTS` holds."""
    from microlearn.ir.base import Task
    from microlearn.ir.pipeline import Pipeline

    if isinstance(ir, Pipeline):
        ir = ir.final
    name = type(ir).__name__
    found: list[str] = []
    if name == "BoostedTrees":
        post = getattr(ir, "post", "none")
        if ir.task is Task.REGRESS and post in ("exp", "sigmoid", "softplus"):
            found.append(post)
        elif proba and ir.task is Task.CLASSIFY and post != "none":
            found.append("softmax" if post == "softmax" else "sigmoid")
    elif name == "Linear":
        how = getattr(ir, "proba", "none")
        if proba and ir.task is Task.CLASSIFY and how in ("logistic", "softmax"):
            found.append("softmax" if how == "softmax" else "sigmoid")
    elif name in ("Network", "KerasNetwork"):
        acts = [getattr(layer, "activation", None) for layer in getattr(ir, "layers", ())]
        # hidden units run in predict; a classifier's output transform only for probabilities
        # (classes are taken from the logits), a regressor's in predict
        used = acts[:-1] + (acts[-1:] if proba or ir.task is Task.REGRESS else [])
        found.extend(_NETWORK_LINKS[a] for a in used if a in _NETWORK_LINKS)
    elif name == "GaussianNB" and proba:
        found.append("exp64")  # float64 exp of the normalised log-likelihoods
    return tuple(dict.fromkeys(found))  # each once, in order


def link_cost(
    cpu: str,
    ir: IR,
    method: str,
    names: tuple[str, ...],
    table: Mapping[tuple[str, str, str, str, str], int] | None = None,
) -> int:
    """Code bytes of the links ``names`` of model ``ir`` written by ``method`` on ``cpu``, each once,
    from :data:`LINKS` (or ``table``). A link not measured for that method costs its largest figure
    over the family's other methods, then over the other families on the CPU; an unknown link the
    CPU's largest link figure."""
    table = LINKS if table is None else table
    family, task = type(ir).__name__, ir.task.value
    variants = _variants(method)
    total = 0
    for n in names:
        exact = [table[k] for m in variants if (k := (cpu, family, task, m, n)) in table]
        fam = [v for (c, f, t, _, k), v in table.items() if (c, f, t, k) == (cpu, family, task, n)]
        same = [v for (c, _, _, _, k), v in table.items() if c == cpu and k == n]
        anything = [v for (c, _, _, _, _), v in table.items() if c == cpu]
        total += max(exact[:1] or fam or same or anything or [0])
    return total


def internal_nodes(ir: Any) -> int:
    """Internal nodes of a tree model (0 for any other): the size feature of :attr:`Cost.per_node`."""
    feature = getattr(ir, "feature", None)
    if feature is None or not hasattr(ir, "roots"):
        return 0
    return int(np.count_nonzero(np.asarray(feature) >= 0))


def n_layers(ir: Any) -> int:
    """Layers of a network that its C computes (a reshape is the same values: no code), 0 for any other
    model: the size feature of :attr:`Cost.per_layer`."""
    from microlearn.ir.network import Network

    if not isinstance(ir, Network):
        return 0
    return sum(getattr(layer, "kind", "") != "reshape" for layer in ir.layers)


def estimate(
    ir: IR,
    method: str,
    target: str,
    *,
    const_bytes: int | None = None,
    arena_bytes: int | None = None,
    proba: bool = False,
) -> Estimate:
    """Flash and RAM of ``ir`` written by C ``method`` on ``target`` (an MCU name or alias), for a
    program calling ``predict`` (with ``proba``: a classifier's ``predict_proba`` too).
    ``const_bytes`` and ``arena_bytes`` (from a ``CSource`` already generated) save generating the C
    again."""
    from microlearn.backends.c.registry import generate
    from microlearn.ir.pipeline import Pipeline

    cpu = _cpu(target)
    if const_bytes is None:
        src = generate(ir, method, "estimate")
        const_bytes, arena_bytes = src.const_bytes, src.arena_bytes
    final = ir.final if isinstance(ir, Pipeline) else ir
    cost, measured = _lookup(cpu, final, method)
    # a link measured at 0 B is not linked by this method (e.g. no predict_proba in its C)
    used = tuple(n for n in links(final, proba=proba) if link_cost(cpu, final, method, (n,)))
    link_bytes = link_cost(cpu, final, method, used)
    size = cost.per_node * internal_nodes(final) + cost.per_layer * n_layers(final)
    code = cost.code + round(size) + link_bytes
    stack = cost.stack + cost.stack_per_output * max(final.n_outputs - 2, 0) + (arena_bytes or 0)
    if isinstance(ir, Pipeline):
        from microlearn.backends.c.registry import default_method

        deepest = 0
        for st in ir.stages:
            sc, ok = _lookup(cpu, st, default_method(st))
            measured = measured and ok
            code += sc.code
            deepest = max(deepest, sc.stack)
        # stage buffers live on the stack of the chain (and the final's input copy)
        stack += deepest + 4 * sum(st.n_outputs for st in ir.stages) + 4 * final.n_inputs
    return Estimate(
        target=cpu,
        method=method,
        flash_bytes=int(const_bytes) + int(code),
        ram_bytes=int(stack),
        const_bytes=int(const_bytes),
        code_bytes=int(code),
        basis="measured" if measured else "generic",
        links=used,
        link_bytes=link_bytes,
    )


# ---------------------------------------------------------------------------------------------- budgets
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def parse_size(value: str | int) -> int:
    """Bytes from ``32768``, ``"32k"``, ``"32 KiB"``, ``"1M"`` (k and M are 1024 and 1024²)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value <= 0:
            raise InvalidInputError(f"a budget must be a positive number of bytes, not {value}")
        return int(value)
    text = str(value).strip().lower().replace(" ", "")
    num = text.rstrip("kmibB")
    unit = text[len(num) :]
    try:
        n = float(num)
    except ValueError:
        n = -1.0
    if unit not in _UNITS or not n > 0:
        raise InvalidInputError(f"cannot read {value!r} as a size: write bytes, e.g. 32768, 32k or 1M")
    return int(n * _UNITS[unit])


@dataclass(frozen=True)
class Budget:
    """Flash and RAM a model may use on each MCU target (None: no limit)."""

    flash: int | None = None
    ram: int | None = None

    @classmethod
    def of(cls, budget: Budget | Mapping[str, Any] | None) -> Budget | None:
        if budget is None or isinstance(budget, Budget):
            return budget
        unknown = sorted(set(budget) - {"flash", "ram"})
        if unknown:
            raise InvalidInputError(f"unknown budget key(s) {unknown}: use 'flash' and 'ram' (bytes)")
        f, r = budget.get("flash"), budget.get("ram")
        return cls(None if f is None else parse_size(f), None if r is None else parse_size(r))


@dataclass(frozen=True)
class BudgetCheck:
    """How a model's flash and RAM on one target compare with a :class:`Budget`."""

    target: str
    flash: int | None  # bytes used (measured, or estimated when ``estimated``)
    ram: int | None
    budget: Budget
    estimated: bool = False

    def _one(self, what: str, used: int | None, limit: int | None) -> str | None:
        if limit is None or used is None:
            return None
        diff = limit - used
        pct = 100.0 * abs(diff) / limit
        if diff >= 0:
            return f"{what} {used:,} B of {limit:,} B: fits, {diff:,} B ({pct:.1f}%) to spare"
        return f"{what} {used:,} B of {limit:,} B: over by {-diff:,} B ({pct:.1f}%)"

    @property
    def flash_over(self) -> int:
        """Bytes of flash over the budget (negative: to spare; 0 without a flash budget)."""
        return 0 if self.budget.flash is None or self.flash is None else self.flash - self.budget.flash

    @property
    def ram_over(self) -> int:
        return 0 if self.budget.ram is None or self.ram is None else self.ram - self.budget.ram

    @property
    def fits(self) -> bool:
        return self.flash_over <= 0 and self.ram_over <= 0

    def __str__(self) -> str:
        parts = [
            p
            for p in (
                self._one("flash", self.flash, self.budget.flash),
                self._one("RAM", self.ram, self.budget.ram),
            )
            if p
        ]
        how = " (estimated)" if self.estimated else ""
        return f"{self.target}{how}: " + "; ".join(parts) if parts else f"{self.target}: no budget"
