# mlrt pipelines (family 64): transform stages, then the final model, each a complete model file of its
# own family nested in the pipeline file (docs/model-file.md). predict(window) runs the stages in order
# and hands their output to the final model.
from mlrt._reader import bad

FAMILY = 64
_ANY = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5)

# tag -> (dtype code, critical, tasks bit mask, required): microlearn/backends/modelfile/schema.py PIPELINE
SECTIONS = {
    b"STGS": (1, 1, _ANY, 1),
    b"FINL": (1, 1, _ANY, 1),
    b"FNAM": (9, 0, _ANY, 0),
    b"SRCE": (9, 0, _ANY, 0),
}

MAX_STAGES = 8


def _records(blob):
    """The nested files of STGS, each zero-padded to 8 bytes (memoryviews, no copies)."""
    mv = memoryview(blob)
    out = []
    off = 0
    while off < len(mv):
        if len(mv) - off < 36:
            raise bad("STGS ends inside a stage record")
        size = mv[off + 24] | mv[off + 25] << 8 | mv[off + 26] << 16 | mv[off + 27] << 24
        end = off + (size + 7) // 8 * 8
        if size < 36 or end > len(mv):
            raise bad("a stage record's size runs past STGS")
        for i in range(off + size, end):
            if mv[i]:
                raise bad("the padding after a stage record is not zero")
        out.append(mv[off : off + size])
        off = end
        if len(out) > MAX_STAGES:
            raise bad("more than %d stages" % MAX_STAGES)
    return out


def _nested(blob):
    import mlrt
    from mlrt import _reader

    head, sec, mod = _reader.read(blob, mlrt.FAMILIES)
    if head[3] == FAMILY:
        raise bad("a pipeline stage is itself a pipeline (pipelines do not nest)")
    return head, mod.load(head, sec)


def load(head, sec):
    return Pipeline(head, sec)


class Pipeline:
    """``predict(x)`` / ``predict_proba(x)`` / ``transform(x)`` on the pipeline's raw input (e.g. a window
    of interleaved samples): the stages in order, then the final model."""

    def __init__(self, head, sec):
        self.n_features = head[5]
        self.n_outputs = head[6]
        self.stages = []
        n_in = head[5]
        recs = _records(sec[b"STGS"])
        if not recs:
            raise bad("a pipeline has at least one stage")
        for k, blob in enumerate(recs):
            h, st = _nested(blob)
            if h[4] != 5:
                raise bad("stage %d is not a transform" % k)
            if h[5] != n_in:
                raise bad("stage %d takes %d values but gets %d" % (k, h[5], n_in))
            n_in = h[6]
            self.stages.append(st)
        h, self.final = _nested(sec[b"FINL"])
        if h[5] != n_in:
            raise bad("the final model takes %d values but the stages make %d" % (h[5], n_in))
        if h[4] != head[4] or h[6] != head[6]:
            raise bad("the pipeline header's task and outputs are not the final model's")
        final = self.final
        self.classes = getattr(final, "classes", None)
        self.classifier = getattr(final, "classifier", False)
        self.kind = getattr(final, "kind", "")
        self.nbytes = getattr(final, "nbytes", 0)  # the arrays the final model keeps (stages: a few tables)
        sec.clear()

    def _features(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: expected %d values, got %d" % (self.n_features, len(x)))
        for st in self.stages:
            x = st.transform(x)
        return x

    def transform(self, x):
        """The last stage's output (the final model's input)."""
        return self._features(x)

    def predict(self, x):
        return self.final.predict(self._features(x))

    def predict_proba(self, x):
        return self.final.predict_proba(self._features(x))

    def predict_label(self, x):
        return self.final.predict_label(self._features(x))

    def score(self, x):
        """The final model's score (anomaly detectors: score_samples; mixtures: the log-likelihood)."""
        return self.final.score(self._features(x))

    def decision_function(self, x):
        return self.final.decision_function(self._features(x))

    def __repr__(self):
        return "<mlrt.Pipeline %d stage(s), then %r>" % (len(self.stages), self.final)
