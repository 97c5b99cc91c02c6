"""Intermediate representations: one per model family, produced by frontends, read by every backend."""

from microlearn.ir.boosting import BoostedTrees
from microlearn.ir.trees import TreeEnsemble

__all__ = ["BoostedTrees", "TreeEnsemble"]
