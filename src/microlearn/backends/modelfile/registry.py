"""Model families in the model file: ``register_family`` once per family; ``dumps`` dispatches on the IR
type, ``loads`` on the family code in the header.

A family codec is two functions and a schema (schema.py)::

    register_family(code=1, ir_type=TreeEnsemble, dump=dump_trees, load=load_trees, schema=TREES)

``dump(ir) -> Encoded`` gives the header fields and the arrays by tag in file order (dtype and critical bit
come from the schema); ``load(decoded) -> IR`` builds the IR from a file that already passed the schema's
checks (``decoded.arrays``, ``decoded.dims``) and checks what spans sections (e.g. tree links).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from microlearn.backends.modelfile import container
from microlearn.backends.modelfile.schema import Decoded, FamilySchema, validate
from microlearn.errors import ModelFileError


@dataclass(frozen=True)
class Encoded:
    """What a family's dump returns: header fields and (tag, array) in file order."""

    task: int
    n_features: int
    n_outputs: int
    sections: Sequence[tuple[bytes, npt.NDArray[Any]]]


@dataclass(frozen=True)
class Family:
    code: int
    ir_type: type
    dump: Callable[[Any], Encoded]
    load: Callable[[Decoded], Any]
    schema: FamilySchema


_BY_CODE: dict[int, Family] = {}
_BY_TYPE: dict[type, Family] = {}


def register_family(
    code: int,
    ir_type: type,
    dump: Callable[[Any], Encoded],
    load: Callable[[Decoded], Any],
    schema: FamilySchema,
) -> None:
    """Make ``ir_type`` writable as family ``code`` and files of family ``code`` readable."""
    if schema.code != code:
        raise ValueError(f"family {code}: its schema declares code {schema.code}")
    old = _BY_CODE.get(code)
    if old is not None and old.ir_type is not ir_type:
        raise ValueError(f"family code {code} is already {old.ir_type.__name__}")
    fam = Family(code, ir_type, dump, load, schema)
    _BY_CODE[code] = fam
    _BY_TYPE[ir_type] = fam


def families() -> dict[int, Family]:
    """Every registered family by code."""
    return dict(_BY_CODE)


def family_of(ir: Any) -> Family:
    for t in type(ir).__mro__:
        fam = _BY_TYPE.get(t)
        if fam is not None:
            return fam
    known = ", ".join(sorted(f.ir_type.__name__ for f in _BY_CODE.values()))
    raise ModelFileError(f"model files hold {known}; there is no model-file codec for {type(ir).__name__}")


def dumps(ir: Any) -> bytes:
    """The model file of ``ir`` (byte-identical for the same IR). The bytes are checked by the same
    schema ``loads`` uses before they are returned, so a writer can never produce a file readers refuse."""
    fam = family_of(ir)
    enc = fam.dump(ir)
    sections = []
    for tag, a in enc.sections:
        spec = fam.schema.spec(tag)
        if spec is None:
            raise ModelFileError(f"family {fam.schema.name} declares no section {tag!r}")
        sections.append((tag, spec.dtype, spec.critical, a))
    data = container.pack(container.Header(fam.code, enc.task, enc.n_features, enc.n_outputs), sections)
    fam.load(validate(fam.schema, container.unpack(data)))
    return data


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Check a model file completely and rebuild its IR. Raises ModelFileError for any malformed file."""
    c = container.unpack(data)
    fam = _BY_CODE.get(c.header.family)
    if fam is None:
        raise ModelFileError(
            f"model family {c.header.family} is not supported by this microlearn: upgrade microlearn"
        )
    return fam.load(validate(fam.schema, c))
