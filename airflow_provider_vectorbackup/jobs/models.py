"""The embedding model of each vector field: what a dump records of it, and what a restore compares.

Stored vectors are useful only beside the model that made them: queries embedded by another model,
or of another dimension, find nonsense, and nothing fails to say so. A dump records per vector
field what it knows of the model (an argument, Astra's ``$vectorize`` service, Weaviate's
vectorizer); a restore refuses, before writing, a target whose vectors have another dimension or
whose declared model differs, unless the caller says the change is meant (``allow_model_change``).

No Airflow here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.snapshot.reader import Snapshot
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD
from airflow_provider_vectorbackup.sources.base import VectorSource

log = logging.getLogger(__name__)

ONLY_FIELD = ""
"""The key of an ``embedding_models`` entry given without a field: it names each collection's only vector field."""

FROM_ARGUMENT = "argument"
FROM_ASTRA_VECTORIZE = "astra-vectorize"
FROM_WEAVIATE_VECTORIZER = "weaviate-vectorizer"

_MODEL_KEYS = ("model", "modelId")
"""Where a Weaviate vectorizer module's settings name the model (``modelId``: the Google modules)."""


class ModelMismatch(ValueError):
    """The embedding models or dimensions do not fit, or an argument names a vector field that is not there."""


@dataclass(frozen=True)
class EmbeddingModel:
    """One vector field's embedding model: its name, its version where known, and where we learnt it."""

    model: str
    version: str | None = None
    origin: str = FROM_ARGUMENT
    """Recorded as ``from``: ``argument``, ``astra-vectorize`` or ``weaviate-vectorizer``."""

    @classmethod
    def parse(cls, text: object, what: str = "an embedding model") -> EmbeddingModel:
        """``"MODEL"`` or ``"MODEL@VERSION"``, as an argument gives it.

        :raises ModelMismatch: not a string, or an empty model or version.
        """
        if not isinstance(text, str):
            raise ModelMismatch(f"{what} must be a string MODEL or MODEL@VERSION, not {text!r}")
        model, at, version = text.strip().rpartition("@") if "@" in text else (text.strip(), "", "")
        if not model or (at and not version):
            raise ModelMismatch(f"{what} must be MODEL or MODEL@VERSION, e.g. text-embedding-3-small@2024-01, "
                                f"not {text!r}")
        return cls(model, version or None)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "from": self.origin}

    @classmethod
    def from_dict(cls, data: object) -> EmbeddingModel | None:
        """A manifest's record; ``None`` for one this reader cannot use (manifest readers ignore what they do not know)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("model"), str) or not data["model"]:
            return None
        version = data.get("version")
        return cls(data["model"], version if isinstance(version, str) and version else None,
                   str(data.get("from") or "unknown"))

    def differs_from(self, other: EmbeddingModel) -> bool:
        """Another model, or the same one in another version when both versions are known."""
        return self.model != other.model or (self.version is not None and other.version is not None
                                             and self.version != other.version)

    def __str__(self) -> str:
        return f"{self.model}@{self.version}" if self.version else self.model


def parse_models(models: Mapping[str, str] | None, what: str = "embedding_models") -> dict[str, EmbeddingModel]:
    """``{field: "MODEL[@VERSION]"}`` (field ``""``: the only vector field) checked and parsed.

    :raises ModelMismatch: not a mapping of strings, or a value that is not MODEL or MODEL@VERSION.
    """
    if models is None:
        return {}
    if not isinstance(models, Mapping) or not all(isinstance(name, str) for name in models):
        raise ModelMismatch(f"{what} must map vector fields to models, e.g. {{'$vector': 'text-embedding-3-small'}}, "
                            f"not {models!r}")
    return {name: EmbeddingModel.parse(text, f"{what}[{name!r}]") for name, text in models.items()}


def embedding_models_argument(models: Mapping[str, str] | str | None) -> Mapping[str, str] | None:
    """An operator's ``embedding_models``: a mapping as it is, a plain string for each collection's only vector field."""
    return {ONLY_FIELD: models} if isinstance(models, str) else models


def parse_model_argument(text: str) -> tuple[str, str]:
    """A command line's ``[FIELD=]MODEL[@VERSION]`` as ``(field, model)``; the field is :data:`ONLY_FIELD` when left out."""
    name, equals, model = text.partition("=")
    if not equals:
        return ONLY_FIELD, text
    if not name:
        raise ModelMismatch(f"--embedding-model takes [FIELD=]MODEL[@VERSION], not {text!r}: the field is empty")
    return name, model


def vector_dimensions(definition: Mapping[str, Any] | None) -> dict[str, int | None]:
    """Each vector field of a definition with its dimension (``None``: none fixed): ``$vector`` for the Data API."""
    definition = definition or {}
    if "engine" in definition:
        return {name: (spec or {}).get("dimension") for name, spec in (definition.get("vectors") or {}).items()}
    vector = definition.get("vector")
    return {VECTOR_FIELD: vector.get("dimension")} if isinstance(vector, Mapping) and vector else {}


def declared_models(definition: Mapping[str, Any] | None) -> dict[str, EmbeddingModel]:
    """The models a definition itself names: Astra's ``vector.service``, Weaviate's ``vectorConfig[..].vectorizer``."""
    definition = definition or {}
    if definition.get("engine") == "weaviate":
        return _weaviate_models((definition.get("native") or {}).get("vectorConfig") or {})
    service = (definition.get("vector") or {}).get("service") if "engine" not in definition else None
    if isinstance(service, Mapping) and isinstance(service.get("modelName"), str) and service["modelName"]:
        return {VECTOR_FIELD: EmbeddingModel(service["modelName"], None, FROM_ASTRA_VECTORIZE)}
    return {}


def _weaviate_models(vector_config: Mapping[str, Any]) -> dict[str, EmbeddingModel]:
    """A vectorizer module names its model in its settings; ``none`` and modules that leave it to their container
    (``text2vec-transformers``) name none."""
    found = {}
    for name, config in vector_config.items():
        vectorizer = (config or {}).get("vectorizer") if isinstance(config, Mapping) else None
        if not isinstance(vectorizer, Mapping) or len(vectorizer) != 1:
            continue
        settings = next(iter(vectorizer.values()))
        if not isinstance(settings, Mapping):
            continue
        model = next((settings[key] for key in _MODEL_KEYS if isinstance(settings.get(key), str) and settings[key]),
                     None)
        version = settings.get("modelVersion")
        if model is not None:
            found[name] = EmbeddingModel(model, version if isinstance(version, str) and version else None,
                                         FROM_WEAVIATE_VECTORIZER)
    return found


def models_by_collection(models: Mapping[str, EmbeddingModel], definitions: Mapping[str, Mapping[str, Any]],
                         what: str = "embedding_models") -> dict[str, dict[str, EmbeddingModel]]:
    """Per collection, the models given for its vector fields (the unnamed one for its only field).

    :raises ModelMismatch: a field no collection has, or an unnamed model for a collection of several
        vector fields (or when none has any); the message lists the fields there are.
    """
    fields = {name: vector_dimensions(definition) for name, definition in definitions.items()}
    by_collection: dict[str, dict[str, EmbeddingModel]] = {name: {} for name in definitions}
    for field, model in models.items():
        if field == ONLY_FIELD:
            several = {name: sorted(have) for name, have in fields.items() if len(have) > 1}
            if several or not any(fields.values()):
                raise ModelMismatch(
                    f"{what} gives a model without naming its vector field, but " + (
                        f"collection(s) {several} have several: name it, FIELD=MODEL" if several else
                        f"no collection among {sorted(definitions)} has a vector field"))
            for name, have in fields.items():
                by_collection[name].update({only: model for only in have})
        else:
            holders = [name for name, have in fields.items() if field in have]
            if not holders:
                raise ModelMismatch(f"{what} names vector field {field!r}, which no collection among "
                                    f"{sorted(definitions)} has; their vector fields: {_fields_of(fields)}")
            for name in holders:
                by_collection[name][field] = model
    return by_collection


def recorded_models(definition: Mapping[str, Any], arguments: Mapping[str, EmbeddingModel], *,
                    encrypted: bool) -> dict[str, dict[str, Any]]:
    """What the manifest records for one collection: ``{field: {"model", "version", "from"}}``.

    An argument wins over what the definition declares (with a warning when they differ). An encrypted
    snapshot's manifest records only the arguments: what the definition declares is in its encrypted file.
    """
    derived = {} if encrypted else declared_models(definition)
    for field, model in arguments.items():
        if field in derived and model.differs_from(derived[field]):
            log.warning("Vector field %s: the argument says its model is %s, its definition says %s (%s); "
                        "recording the argument's", field, model, derived[field], derived[field].origin)
    return {field: model.to_dict() for field, model in sorted({**derived, **arguments}.items())}


def snapshot_models(recorded: Mapping[str, Any], definition: Mapping[str, Any]) -> dict[str, EmbeddingModel]:
    """A snapshot collection's models: its manifest's record over what its definition declares (a manifest written
    before models were recorded, or an encrypted one, records none of the latter)."""
    found = declared_models(definition)
    for field, data in (recorded or {}).items():
        model = EmbeddingModel.from_dict(data)
        if model is not None:
            found[field] = model
    return found


def model_conflicts(snapshot_definition: Mapping[str, Any], snapshot_fields: Mapping[str, EmbeddingModel],
                    target_definition: Mapping[str, Any] | None,
                    declared_target_models: Mapping[str, EmbeddingModel],
                    renamed: Mapping[str, str] | None = None) -> list[str]:
    """Per vector field, why the snapshot's vectors do not fit the target: another dimension in an existing target,
    or another declared model (the target's own definition, overridden by ``declared_target_models``, both by the
    target's field names).

    A field whose model either side does not know is not compared: unknown is not different.

    :param renamed: a translated restore's snapshot field → target field; a field it leaves out is not written.
    """
    def target_field(field: str) -> str | None:
        return field if renamed is None else renamed.get(field)

    def named(field: str) -> str:
        there = target_field(field)
        return field if there == field else f"{field} ({there} in the target)"

    problems = []
    theirs = vector_dimensions(target_definition) if target_definition is not None else {}
    for field, dimension in vector_dimensions(snapshot_definition).items():
        held = theirs.get(target_field(field) or "", None)
        if dimension is not None and held is not None and held != dimension:
            problems.append(f"field {named(field)}: the snapshot's vectors have {dimension} dimensions, and the "
                            f"existing target holds vectors of {held}")
    declared = {**(declared_models(target_definition) if target_definition is not None else {}),
                **declared_target_models}
    for field, model in sorted(snapshot_fields.items()):
        target = declared.get(target_field(field) or "")
        if target is not None and model.differs_from(target):
            said = "the restore's embedding_models" if target.origin == FROM_ARGUMENT else f"its {target.origin}"
            problems.append(f"field {named(field)}: the snapshot's vectors were made by {model} ({model.origin}), "
                            f"and the target declares {target} ({said})")
    return problems


def check_models(snapshot: Snapshot, plan: Mapping[str, str], target: VectorSource,
                 declared: Mapping[str, str] | None, *, allow_model_change: bool,
                 created: Mapping[str, Mapping[str, Any]] | None = None,
                 renamed: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Refuse, before anything is written, a restore whose vectors do not fit a target's model or dimension.

    :param plan: source collection → target name.
    :param declared: the targets' models as the restore's ``embedding_models`` gives them, by the target's fields.
    :param created: per collection, the definition its target is created with (default: the snapshot's).
    :param renamed: per translated collection, snapshot vector field → target field.
    :raises ModelMismatch: naming each collection, field, both models or dimensions, and the way out.
    """
    definitions = {name: snapshot.definition(name) for name in plan}
    declared_by_collection = models_by_collection(parse_models(declared), {**definitions, **(created or {})})
    problems = []
    for name, target_name in plan.items():
        found = model_conflicts(
            definitions[name], snapshot_models(snapshot.manifest.collection(name).embedding_models, definitions[name]),
            target.collection_definition(target_name), declared_by_collection[name], (renamed or {}).get(name))
        problems += [f"{name!r} into {target_name!r}: {problem}" for problem in found]
    if problems and not allow_model_change:
        raise ModelMismatch(
            f"the vectors of snapshot {snapshot.snapshot_id} do not fit their targets; nothing was written: "
            + "; ".join(problems) + ". Restore into a target made for the snapshot's model (another name, "
            "target_prefix or name_mapping), or, if the change is meant, give allow_model_change=True "
            "(--allow-model-change): the stored vectors are restored as they are, nothing is re-embedded")
    for problem in problems:
        log.warning("Restoring anyway (allow_model_change): %s", problem)


def _fields_of(fields: Mapping[str, Mapping[str, Any]]) -> str:
    return ", ".join(f"{name}: {sorted(have) or 'none'}" for name, have in sorted(fields.items()))
