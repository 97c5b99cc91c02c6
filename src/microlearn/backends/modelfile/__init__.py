"""Model files: an IR as one self-describing binary that C (ml_model.h) and MicroPython (mlrt) read.

The byte-level specification is docs/model-file.md. ``dumps(ir)`` writes a file, ``loads(data)`` checks
every byte of one and rebuilds the IR (raising :class:`~microlearn.errors.ModelFileError` for anything
malformed). ``container`` holds the bytes every family shares, ``schema`` each family's declared
sections, ``registry`` the family codecs; a family is one module below, imported on one line here
(importing a codec registers it).
"""

from __future__ import annotations

from typing import Any

from microlearn.backends.modelfile import features as _features  # noqa: F401  (family 32)
from microlearn.backends.modelfile import kernel as _kernel  # noqa: F401  (family 9)
from microlearn.backends.modelfile import kmeans as _kmeans  # noqa: F401  (family 5)
from microlearn.backends.modelfile import linear as _linear  # noqa: F401  (family 2)
from microlearn.backends.modelfile import lof as _lof  # noqa: F401  (family 10)
from microlearn.backends.modelfile import mahalanobis as _mahalanobis  # noqa: F401  (family 7)
from microlearn.backends.modelfile import mixture as _mixture  # noqa: F401  (family 8)
from microlearn.backends.modelfile import naive_bayes as _naive_bayes  # noqa: F401  (family 3)
from microlearn.backends.modelfile import neighbors as _neighbors  # noqa: F401  (family 4)
from microlearn.backends.modelfile import network as _network  # noqa: F401  (family 6)
from microlearn.backends.modelfile import network_conv as _network_conv  # noqa: F401  (its layers)
from microlearn.backends.modelfile import pipeline as _pipeline  # noqa: F401  (family 64)
from microlearn.backends.modelfile import transform as _transform  # noqa: F401  (family 33)
from microlearn.backends.modelfile import trees as _trees  # noqa: F401  (family 1)
from microlearn.backends.modelfile.container import MAGIC, VERSION_MAJOR, VERSION_MINOR, read_sections
from microlearn.backends.modelfile.registry import dumps, families, loads, register_family

__all__ = [
    "MAGIC",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "dumps",
    "families",
    "load",
    "loads",
    "read_sections",
    "register_family",
]


def load(path: str) -> Any:
    """Read and check a model file from disk."""
    with open(path, "rb") as f:
        return loads(f.read())
