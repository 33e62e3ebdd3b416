"""The translation plan of one collection into another engine, computed from every document before anything is written.

Each step says how one part of the source maps onto the target: ``exact`` (as it is), ``reversible``
(changed, the original kept in the document's reserved record) or ``lossy`` (something is lost: it
runs only if its kind is allowed, :data:`LOSSY_KINDS`). ``problems`` are what no flag allows (a
dimension the target cannot hold, a reserved-name clash). The plan reads the collection twice: once
for the kinds of its ids and values, once translating every document as the restore will, to count
what each step touches and to size each payload.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_vectorbackup.snapshot.vector_fields import BIT, DENSE, MULTI, SPARSE, VectorField, declared_fields
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD
from airflow_provider_vectorbackup.sources.portable import RESERVED_FIELD, Capabilities, PortableCollection
from airflow_provider_vectorbackup.translation.documents import (
    ASTRA, ID_NAMESPACE, Neutral, TranslationError, Translator, VectorMapping, id_kind, neutral,
)
from airflow_provider_vectorbackup.translation.values import kind_of

EXACT, REVERSIBLE, LOSSY = "exact", "reversible", "lossy"

LOSSY_KINDS = {
    "float32": "vector elements of a float64 field rounded to float32",
    "drop-sparse": "sparse vector fields the target cannot hold are left out",
    "drop-multi": "multivector fields the target cannot hold are left out",
    "drop-vector": "dense or bit vector fields beyond what the target holds are left out",
    "metric": "a metric the target lacks is replaced by cosine",
    "normalize": "vectors that are not of unit length lose their length in a target that keeps cosine vectors "
                 "normalised (Qdrant)",
    "truncate-metadata": "the largest payload fields of a document over the target's size limit are left out",
}
"""Every lossy step, by the name ``--allow-lossy`` / ``allow_lossy`` takes."""

_WIDENS_TO_FLOAT32 = {"float16", "bfloat16", "int8", "uint8"}


@dataclass
class Step:
    part: str
    """``id``, ``vector``, ``field`` (a payload field) or ``extra``."""
    name: str
    classification: str
    change: str
    lossy_kind: str | None = None
    documents: int | None = None
    """Documents the step changes (``None``: a step of the definition, not of documents)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in {"part": self.part, "name": self.name, "class": self.classification,
                                  "change": self.change, "lossy": self.lossy_kind,
                                  "documents": self.documents}.items() if v is not None}


@dataclass
class CollectionPlan:
    """How one collection translates into the target; :meth:`refusal` says why it must not run."""

    source_engine: str
    target_engine: str
    steps: list[Step]
    portable: PortableCollection
    vectors: list[VectorMapping]
    text_fields: frozenset[str]
    id_type: str | None
    """The one id type every id is made (``None``: the target takes each id of a type it has as it is)."""
    problems: list[str] = field(default_factory=list)
    allowed: frozenset[str] = frozenset()
    not_carried: list[str] = field(default_factory=list)

    @property
    def lossy(self) -> list[Step]:
        return [s for s in self.steps if s.classification == LOSSY]

    def refusal(self) -> list[str]:
        """Every reason this plan must not run: problems, and each lossy step whose kind was not allowed."""
        reasons = list(self.problems)
        for step in self.lossy:
            if step.lossy_kind not in self.allowed:
                reasons.append(f"{step.part} {step.name!r}: {step.change} (lossy; allow it with --allow-lossy "
                               f"{step.lossy_kind} or allow_lossy=[{step.lossy_kind!r}])")
        return reasons

    def translator(self, capabilities: Capabilities) -> Translator:
        return Translator(self.target_engine, capabilities, self.vectors, id_type=self.id_type,
                          text_fields=self.text_fields, truncate_payload="truncate-metadata" in self.allowed)

    def to_dict(self) -> dict[str, Any]:
        return {"source_engine": self.source_engine, "target_engine": self.target_engine,
                "steps": [s.to_dict() for s in self.steps], "not_carried": self.not_carried,
                "lossy": sorted({s.lossy_kind for s in self.lossy if s.lossy_kind}),
                "allowed": sorted(self.allowed), "problems": self.problems,
                "target": self.portable.to_dict()}


def source_vectors(definition: Mapping[str, Any]) -> list[VectorField]:
    """The vector fields of a snapshot's definition: the Data API's one ``$vector``, or the declared block."""
    if "engine" not in definition:
        vector = definition.get("vector") or {}
        if not vector.get("dimension"):
            return []
        return [VectorField(VECTOR_FIELD, DENSE, "float32", vector.get("dimension"), vector.get("metric") or "cosine",
                            True)]
    return declared_fields(definition)


def plan_collection(definition: Mapping[str, Any], source_engine: str, records: Callable[[], Iterable[dict[str, Any]]],
                    target_engine: str, capabilities: Capabilities, allowed: Iterable[str] = ()) -> CollectionPlan:
    """Plan one collection: read its records (``records()`` is called twice) and decide every step.

    :raises ValueError: an unknown lossy kind in ``allowed``.
    """
    allowed = frozenset(allowed)
    unknown = sorted(allowed - set(LOSSY_KINDS))
    if unknown:
        raise ValueError(f"unknown lossy kind(s) {unknown}; the kinds are {sorted(LOSSY_KINDS)}")
    problems: list[str] = []
    steps: list[Step] = []
    survey = _Survey()
    try:
        for record in records():
            survey.add(neutral(record, source_engine))
    except TranslationError as exc:
        problems.append(str(exc))
    vectors = [_as_originally(spec, survey.renamed.get(spec.name)) for spec in source_vectors(definition)]
    mappings, vector_steps, portable_vectors = _map_vectors(vectors, capabilities, problems)
    steps += vector_steps
    id_type = _choose_id_type(survey, capabilities)
    forced_id_type = None if _takes_each_id(survey, capabilities) else id_type
    text_fields = frozenset(name for name, kinds in survey.field_kinds.items()
                            if len(kinds) > 1 and capabilities.typed_fields and "json" not in capabilities.payload_kinds)
    translator = Translator(target_engine, capabilities, mappings, id_type=forced_id_type, text_fields=text_fields,
                            truncate_payload="truncate-metadata" in allowed)
    target_kinds: dict[str, set[str]] = defaultdict(set)
    max_id_length = 0
    if not problems:
        try:
            for record in records():
                translated = translator.translate(neutral(record, source_engine))
                payload = translated if target_engine == ASTRA else translated.get("payload") or {}
                for name, value in payload.items():
                    if target_engine == ASTRA and name in ("_id", VECTOR_FIELD):
                        continue
                    kind = kind_of(value)
                    if kind is not None:
                        target_kinds[name].add(kind)
                stored_id = translated["_id"]
                if isinstance(stored_id, str):
                    max_id_length = max(max_id_length, len(stored_id))
        except TranslationError as exc:
            problems.append(str(exc))
    touched = translator.touched.counts
    steps.insert(0, _id_step(survey, id_type, touched.get("id", 0)))
    declared = {mapping.source for mapping in mappings}
    for key, count in sorted(touched.items()):
        kind, _, name = key.partition(":")
        if kind == "drop-vector" and name not in declared:
            steps.append(Step("vector", name, LOSSY, "a vector field the collection's definition does not declare; "
                              "left out", "drop-vector", count))
    for mapping in mappings:
        normalized = touched.get(f"normalize:{mapping.source}", 0)
        if normalized:
            steps.append(Step("vector", mapping.source, LOSSY, f"{normalized} vector(s) are not of unit length; "
                              f"{target_engine} keeps {mapping.target!r} vectors at unit length, so their lengths are "
                              "lost (the directions, which cosine ranks by, are kept)", "normalize", normalized))
    steps += _field_steps(survey, capabilities, touched, text_fields)
    for extra in sorted(survey.extras):
        if extra in capabilities.extras:
            steps.append(Step("extra", extra, EXACT, f"kept as {target_engine}'s own {extra!r}"))
        elif extra != "$vector_encoding" or target_engine != ASTRA:
            steps.append(Step("extra", extra, REVERSIBLE, f"{target_engine} has no {extra!r}: kept in {RESERVED_FIELD!r}",
                              documents=survey.extras[extra]))
    if capabilities.payload_bytes is not None and touched.get("truncate-metadata"):
        steps.append(Step("payload", "*", LOSSY, f"{touched['truncate-metadata']} document(s) have a payload over "
                          f"{target_engine}'s limit of {capabilities.payload_bytes} bytes (largest "
                          f"{translator.touched.largest_payload} bytes after translation)", "truncate-metadata",
                          touched["truncate-metadata"]))
    payload_schema = {name: (kinds.pop() if len(kinds) == 1 else "json") for name, kinds in target_kinds.items()}
    portable = PortableCollection(id_type, portable_vectors, payload_schema, max_id_length)
    plan = CollectionPlan(source_engine, target_engine, steps, portable, mappings, text_fields, forced_id_type, problems,
                          allowed, _not_carried(definition, source_engine, target_engine))
    return plan


def _as_originally(spec: VectorField, original: Mapping[str, Any] | None) -> VectorField:
    """A vector field under the name and element type it had before an earlier translation, as its documents say."""
    if original is None:
        return spec
    return replace(spec, name=original["name"], dtype=original.get("dtype") or spec.dtype)


class _Survey:
    """What the first read finds: id kinds and ranges, payload field kinds, extras."""

    def __init__(self) -> None:
        self.id_kinds: dict[str, int] = defaultdict(int)
        self.int_range: tuple[int, int] | None = None
        self.longest_id = 0
        self.field_kinds: dict[str, set[str]] = defaultdict(set)
        self.extras: dict[str, int] = defaultdict(int)
        self.renamed: dict[str, dict[str, Any]] = {}
        self.documents = 0

    def add(self, document: Neutral) -> None:
        self.documents += 1
        kind = id_kind(document.id)
        self.id_kinds[kind] += 1
        if kind == "int":
            low, high = self.int_range or (document.id, document.id)
            self.int_range = (min(low, document.id), max(high, document.id))
        elif kind == "string":
            self.longest_id = max(self.longest_id, len(document.id))
        for name, value in document.payload.items():
            value_kind = kind_of(value)
            if value_kind is not None:
                self.field_kinds[name].add(value_kind)
            elif name not in self.field_kinds:
                self.field_kinds[name] = set()
        for extra in document.extras:
            self.extras[extra] += 1
        self.renamed.update(document.renamed)


def _takes_each_id(survey: _Survey, capabilities: Capabilities) -> bool:
    """Whether a target that holds several id types in one collection keeps every kind of id here as it is."""
    return capabilities.mixed_ids and len(survey.id_kinds) > 1 and set(survey.id_kinds) <= capabilities.id_types


def _choose_id_type(survey: _Survey, capabilities: Capabilities) -> str:
    """The one id type the target collection gets: the source's own when it fits every id, else string, else uuid."""
    kinds = set(survey.id_kinds)
    if _takes_each_id(survey, capabilities):
        return max(kinds, key=lambda kind: survey.id_kinds[kind])
    if len(kinds) == 1:
        (kind,) = kinds
        fits = kind in capabilities.id_types
        if kind == "int" and fits:
            bounds = capabilities.int_ids
            fits = bounds is not None and (survey.int_range is None or
                                           (bounds[0] <= survey.int_range[0] and survey.int_range[1] <= bounds[1]))
        if kind == "string" and fits and capabilities.max_id_length is not None:
            fits = survey.longest_id <= capabilities.max_id_length
        if fits:
            return kind
    return "string" if "string" in capabilities.id_types else "uuid"


def _id_step(survey: _Survey, id_type: str, changed: int) -> Step:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(survey.id_kinds.items()))
    if not changed:
        return Step("id", "_id", EXACT, f"{kinds} id(s) kept as {id_type} ids")
    how = ("UUIDv5 in namespace " + str(ID_NAMESPACE) + " (strings that are UUIDs kept as UUIDs)"
           if id_type == "uuid" else "their string form (decimal digits, canonical UUIDs)")
    return Step("id", "_id", REVERSIBLE, f"{kinds} id(s); {changed} mapped to {how}, the original kept in "
                f"{RESERVED_FIELD!r}", documents=changed)


def _map_vectors(fields: list[VectorField], capabilities: Capabilities,
                 problems: list[str]) -> tuple[list[VectorMapping], list[Step], dict[str, dict[str, Any]]]:
    mappings: list[VectorMapping] = []
    steps: list[Step] = []
    portable: dict[str, dict[str, Any]] = {}
    fixed = list(capabilities.vector_names or ())
    dense_left = capabilities.dense_fields
    sparse_left = capabilities.sparse_fields
    pattern = re.compile(capabilities.name_pattern)
    for spec in fields:
        if spec.kind == DENSE and (dense_left is None or dense_left > 0):
            dense_left = None if dense_left is None else dense_left - 1
            name = fixed[0] if fixed else spec.name
        elif spec.kind == SPARSE and sparse_left > 0:
            sparse_left -= 1
            name = (fixed[1] if len(fixed) > 1 else "sparse") if fixed else spec.name
        elif spec.kind == MULTI and capabilities.multi and (dense_left is None or dense_left > 0):
            dense_left = None if dense_left is None else dense_left - 1
            name = spec.name
        else:
            kind = {SPARSE: "drop-sparse", MULTI: "drop-multi"}.get(spec.kind, "drop-vector")
            mappings.append(VectorMapping(spec.name, None, lossy=(kind,)))
            steps.append(Step("vector", spec.name, LOSSY, f"{spec.kind} field left out: the target holds no more "
                              f"{spec.kind if spec.kind != BIT else 'bit'} fields", kind))
            continue
        if not fixed and not pattern.match(name):
            name = _free_name("vector", portable)
        dtype = spec.dtype or "float32"
        changes: list[str] = []
        lossy: list[Step] = []
        reversible = name != spec.name  # renamed, the original name kept
        if spec.kind != BIT and dtype not in capabilities.dtypes:
            if dtype in _WIDENS_TO_FLOAT32 and "float32" in capabilities.dtypes:
                changes.append(f"{dtype} elements stored as float32 (exact; the original type kept)")
                reversible = True
            else:
                lossy.append(Step("vector", spec.name, LOSSY, f"{dtype} elements rounded to float32", "float32"))
            dtype = "float32"
        metric = spec.metric
        if metric is None:
            metric = "cosine" if "cosine" in capabilities.metrics else sorted(capabilities.metrics)[0]
            changes.append(f"the source records no metric; {metric} chosen for the target's index")
        elif metric not in capabilities.metrics:
            lossy.append(Step("vector", spec.name, LOSSY, f"metric {metric} is not available; cosine instead",
                              "metric"))
            metric = "cosine"
        if name != spec.name:
            changes.append(f"renamed {name!r} (the original name kept in {RESERVED_FIELD!r})")
        if capabilities.max_dimension is not None and (spec.dimension or 0) > capabilities.max_dimension:
            problems.append(f"vector field {spec.name!r} has {spec.dimension} dimensions; the target holds at most "
                            f"{capabilities.max_dimension}")
        mappings.append(VectorMapping(spec.name, name, dtype, tuple(step.lossy_kind for step in lossy),
                                      normalize=spec.kind == DENSE and metric in capabilities.normalizes))
        portable[name] = {"kind": spec.kind, "dtype": None if spec.kind == BIT else dtype, "dimension": spec.dimension,
                          "metric": metric, "nullable": spec.nullable}
        steps.append(Step("vector", spec.name, REVERSIBLE if reversible else EXACT,
                          f"{spec.kind}, dimension {spec.dimension}, {metric}, {dtype}"
                          + ("; " + "; ".join(changes) if changes else "")))
        steps += lossy
    return mappings, steps, portable


def _free_name(base: str, taken: Mapping[str, Any]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _field_steps(survey: _Survey, capabilities: Capabilities, touched: Mapping[str, int],
                 text_fields: frozenset[str]) -> list[Step]:
    steps = []
    for name in sorted(survey.field_kinds):
        kinds = ", ".join(sorted(survey.field_kinds[name])) or "null"
        changed = touched.get(f"field:{name}", 0)
        if not changed:
            steps.append(Step("field", name, EXACT, f"{kinds}: kept as it is"))
            continue
        why = ("values of several kinds in a typed target" if name in text_fields else
               "values the target cannot hold as they are (nulls, nested or typed values, big integers, "
               "a name it refuses)")
        steps.append(Step("field", name, REVERSIBLE, f"{kinds}: {why} stored as strings or left out, the "
                          f"originals kept in {RESERVED_FIELD!r}", documents=changed))
    return steps


def _not_carried(definition: Mapping[str, Any], source_engine: str, target_engine: str) -> list[str]:
    """The source's engine-specific settings a translation does not carry (indexes, aliases, partitions...)."""
    native = definition.get("native") if "engine" in definition else definition
    if not isinstance(native, Mapping):
        return []
    return [f"{source_engine} setting {key!r} (the target is created with {target_engine}'s defaults)"
            for key in sorted(native) if key != "vector" and native[key] not in (None, {}, [], "")]
