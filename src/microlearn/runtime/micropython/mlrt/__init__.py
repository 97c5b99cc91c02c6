# mlrt: the microlearn runtime for MicroPython (>= 1.22) and CPython. Pure Python, no numpy.
#
#   import mlrt
#   m = mlrt.load("gesture.mlm")        # a path, or the file's bytes
#   m.predict(features)                 # class index (classifier) or value (regressor)
#   m.predict_proba(features)           # class probabilities (classifier)
#
# Model files are written by microlearn (model.save / model.to_bytes); see docs/model-file.md.
__version__ = "0.2.0"

FORMAT_MAJOR = 1

# model family code (file header) -> mlrt module that reads it. A module exposes SECTIONS (tag ->
# (dtype, critical, tasks bit mask, required), as backends/modelfile/schema.py declares them; a module
# serving several families: SECTIONS_BY_FAMILY = {code: SECTIONS}), optionally AS_BITS, and
# load(head, sections) (head[3] is the family code).
FAMILIES = {
    1: "trees",
    2: "linear",
    3: "naive_bayes",
    4: "neighbors",
    5: "kmeans",
    6: "network",
    7: "mahalanobis",
    8: "mixture",
    9: "kernel",
    10: "lof",
    32: "features",
    33: "transform",
    64: "pipeline",
}


def load(src):
    """Load a model file from a path (str) or from bytes / bytearray / memoryview.

    Raises ValueError (with what is wrong) for a malformed, corrupted or unsupported file and
    MemoryError (with how much the model needs) when the heap is too small for it."""
    from mlrt import _reader

    if not isinstance(src, str):
        try:
            memoryview(src)
        except TypeError:
            raise TypeError("mlrt.load takes a path (str) or the file's bytes")
    try:
        head, sec, mod = _reader.read(src, FAMILIES)
        return mod.load(head, sec)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("mlrt:"):
            raise
        sec = None
        raise _reader.bad(msg)  # e.g. a JSON section that does not parse
    except MemoryError:
        sec = None
        import gc

        gc.collect()
        raise MemoryError(
            "mlrt: not enough RAM to load the model (it needs about the size of the model file, plus "
            "its largest section while loading): free memory (gc.collect(), fewer globals) or use "
            "a smaller model (fewer trees, lower max_depth)"
        )
