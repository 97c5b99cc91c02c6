"""microlearn's own scikit-learn transformer, the FeatureExtractor -> :class:`FeatureStage`."""

from __future__ import annotations

from typing import Any

from microlearn.errors import NotFittedError
from microlearn.frontends.registry import register
from microlearn.ir.features import SOURCE, FeatureStage


@register(SOURCE)
def convert(est: Any) -> FeatureStage:
    cfg = getattr(est, "config_", None)
    if cfg is None:
        raise NotFittedError("the FeatureExtractor is not fitted: call fit (or fit the Pipeline) first")
    return FeatureStage(cfg)
