"""IR -> C. Every method module registers itself (registry.register_method); this imports them."""

from microlearn.backends.c import features, inline, registry, table  # noqa: I001
from microlearn.backends.c import boosting as boosting
from microlearn.backends.c import boosting_packed as boosting_packed
from microlearn.backends.c import kmeans as kmeans
from microlearn.backends.c import kernel as kernel
from microlearn.backends.c import linear
from microlearn.backends.c import lof as lof
from microlearn.backends.c import mahalanobis as mahalanobis
from microlearn.backends.c import mixture as mixture
from microlearn.backends.c import naive_bayes
from microlearn.backends.c import neighbors as neighbors
from microlearn.backends.c import network as network
from microlearn.backends.c import network_conv as network_conv
from microlearn.backends.c import network_keras as network_keras
from microlearn.backends.c import packed, packed_inline
from microlearn.backends.c import transform as transform
from microlearn.backends.c.registry import generate, methods_for
from microlearn.backends.c.writer import CSource, check_c_name

__all__ = [
    "CSource",
    "check_c_name",
    "features",
    "generate",
    "inline",
    "linear",
    "methods_for",
    "naive_bayes",
    "packed",
    "packed_inline",
    "registry",
    "table",
]
