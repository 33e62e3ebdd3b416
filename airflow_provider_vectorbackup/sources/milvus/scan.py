"""Reading a Milvus collection whole: primary-key ranges read in parallel, each by keyset paging, proven by ``count(*)``.

Each range is paged the way pymilvus's ``query_iterator`` pages (``pk > <last key>`` added to the
filter, ``limit`` rows per request, the ``iterator`` flag that makes the server answer in
primary-key order), with one difference: the last key goes into the filter as a correctly
escaped literal. ``query_iterator`` pastes a VARCHAR key between quotes as it is, so a key
holding a newline fails ("unterminated string literal") and one holding a backslash or a quote
is misread, which can repeat or skip rows (docs/sources.md, "Milvus"; tests/sources/milvus).

Ranges come from the smallest key (the first row in key order) and the largest (found by
bisection with ``pk >= x`` probes, as Milvus has no descending order): INT64 keys split the span
evenly, VARCHAR keys on the first character after the prefix every key shares. The first
range is open below and the last open above, so together they hold every key whatever was
written since. Rows of named partitions are read per partition (``partition_names``) so each
row's partition is recorded. The sum of the rows read must equal ``count(*)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.sources.base import Partition, check_scan_settings
from airflow_provider_vectorbackup.sources.fetch_ahead import fetch_ahead
from airflow_provider_vectorbackup.sources.milvus.schema import vector_fields_of
from airflow_provider_vectorbackup.sources.milvus.values import DEFAULT_PARTITION, row_to_stored

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.milvus.client import MilvusSource

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
_CODE_POINTS = 0x110000 - 0x800
"""Unicode code points without the surrogates, which no key can hold; bisected by index."""
MAX_PREFIX_DEPTH = 8
"""Characters of a prefix shared by every VARCHAR key looked through before reading the collection as one range."""


class ScanIncomplete(RuntimeError):
    """The rows read do not add up to what the server counts: the snapshot would not hold the collection as it is."""


def literal(value: int | str) -> str:
    """``value`` as a Milvus filter literal; strings escaped so any key reads back as itself.

    Milvus (and Milvus Lite) read ``\\\\``, ``\\"``, ``\\n`` and ``\\r`` inside a double-quoted literal;
    every other character may stand as it is.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"a primary key is an int or a str, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def range_filter(pk: str, lower: Any, upper: Any, after: Any = None) -> str:
    """``lower <= pk < upper`` (either end open when ``None``), and ``pk > after`` once a page was read."""
    clauses = []
    if after is not None:
        clauses.append(f"{pk} > {literal(after)}")
    elif lower is not None:
        clauses.append(f"{pk} >= {literal(lower)}")
    if upper is not None:
        clauses.append(f"{pk} < {literal(upper)}")
    return " and ".join(clauses)


def pages_of_range(source: MilvusSource, collection: str, pk: str, *, lower: Any = None, upper: Any = None,
                   partition: str | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows with ``lower <= pk < upper``, ``source.page_size`` at a time, in key order; no empty page."""
    after = None
    while True:
        rows = source.query(collection, range_filter(pk, lower, upper, after), ordered=True,
                            limit=source.page_size, partition=partition)
        if not rows:
            return
        yield rows
        if len(rows) < source.page_size:
            return
        after = rows[-1][pk]


# -- planning ------------------------------------------------------------------------------------

def key_ranges(source: MilvusSource, collection: str, pk: str, key_type: str, parts: int) -> list[tuple[Any, Any]]:
    """Up to ``parts`` contiguous ``(lower, upper)`` key ranges covering every key; ``[(None, None)]`` if unsplittable."""
    whole: list[tuple[Any, Any]] = [(None, None)]
    if parts < 2:
        return whole
    first = source.query(collection, "", ordered=True, limit=1, output_fields=[pk])
    if not first:
        return whole
    smallest = first[0][pk]

    def exists(bound: Any) -> bool:
        return bool(source.query(collection, f"{pk} >= {literal(bound)}", limit=1, output_fields=[pk]))

    if key_type == "int64":
        largest = _largest(lambda x: exists(x), smallest, INT64_MAX)
        span = largest - smallest + 1
        bounds = [smallest + span * i // parts for i in range(1, parts)]
    else:
        bounds = _string_bounds(smallest, exists, parts)
    bounds = sorted({b for b in bounds if b != smallest})
    if not bounds:
        return whole
    edges = [None, *bounds, None]
    return list(zip(edges, edges[1:]))


def _string_bounds(smallest: str, exists: Callable[[str], bool], parts: int) -> list[str]:
    """Bounds on the first character after the prefix every key shares (found from the smallest key down)."""
    prefix = ""
    for _ in range(MAX_PREFIX_DEPTH):
        start = _index(smallest[len(prefix)]) if len(smallest) > len(prefix) else 0
        top = _largest(lambda i: exists(prefix + chr(_code_point(i))), start, _CODE_POINTS - 1)
        if top > start:
            span = top - start + 1
            return [prefix + chr(_code_point(start + span * i // parts)) for i in range(1, parts)]
        if len(smallest) <= len(prefix):
            return []  # every key is the prefix or the prefix and NUL characters
        prefix += smallest[len(prefix)]
    return []


def _largest(holds: Callable[[int], bool], low: int, high: int) -> int:
    """The largest ``x`` in ``[low, high]`` for which ``holds`` (true at ``low``, then false from some point on)."""
    while low < high:
        middle = (low + high + 1) // 2
        if holds(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _index(character: str) -> int:
    point = ord(character)
    return point if point < 0xD800 else point - 0x800


def _code_point(index: int) -> int:
    return index if index < 0xD800 else index + 0x800


def scanned_partitions(definition: dict[str, Any]) -> list[str | None]:
    """The Milvus partitions read one by one (``[None]``: the whole collection at once, nothing to record)."""
    named = definition["native"].get("partitions") or []
    return list(named) if set(named) - {DEFAULT_PARTITION} else [None]


def plan_partitions(source: MilvusSource, name: str, definition: dict[str, Any], *, streams: int,
                    mode: str = "auto") -> list[Partition]:
    """Key ranges (within each Milvus partition that is recorded): disjoint, together every row once."""
    check_scan_settings(mode)
    pk, key_type = definition["id"]["field"], definition["id"]["type"]
    ranges = key_ranges(source, name, pk, key_type, 1 if mode == "single" else streams)
    plan = []
    for milvus_partition in scanned_partitions(definition):
        for number, (lower, upper) in enumerate(ranges):
            label = f"{milvus_partition or 'all'}.{number}" if len(ranges) > 1 else milvus_partition or "all"
            plan.append(Partition(label, {"partition": milvus_partition, "lower": lower, "upper": upper}))
    return plan


def read_partition(source: MilvusSource, name: str, definition: dict[str, Any],
                   partition: Partition) -> Iterator[list[dict[str, Any]]]:
    """Stored-form pages of one planned part."""
    pk = definition["id"]["field"]
    vectors = vector_fields_of(definition)
    spec = partition.spec
    milvus_partition = spec.get("partition")
    for rows in pages_of_range(source, name, pk, lower=spec.get("lower"), upper=spec.get("upper"),
                               partition=milvus_partition):
        yield [row_to_stored(row, pk=pk, vector_fields=vectors, partition=milvus_partition) for row in rows]


# -- the whole scan ------------------------------------------------------------------------------

@dataclass
class ScanRecord:
    """How a collection was read, for the manifest."""

    mode: str
    """``"pk-ranges"`` (parallel key ranges) or ``"single"`` (one range)."""
    streams: int
    reason: str
    documents: int = 0
    parts: dict[str, int] = field(default_factory=dict)
    """Rows read per part (``<milvus partition or all>.<range>``)."""
    paging: str = "keyset: pk > escaped last key, limit per page, in key order"
    server_count: int | None = None
    reconciliation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


class MilvusScan:
    """Yields a collection's stored-form pages, read on ``streams`` threads; fills :attr:`record`."""

    def __init__(self, source: MilvusSource, name: str, definition: dict[str, Any], *, streams: int,
                 mode: str) -> None:
        check_scan_settings(mode, streams)
        self.source = source
        self.name = name
        self.definition = definition
        self.streams = streams
        self.mode = mode
        self.record: ScanRecord | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        self.record = ScanRecord("planning", self.streams, "finding the key ranges")  # if planning fails
        plan = plan_partitions(self.source, self.name, self.definition, streams=self.streams, mode=self.mode)
        split = any(p.spec.get("lower") is not None or p.spec.get("upper") is not None for p in plan)
        reason = ("key ranges from the smallest and largest primary key" if split else
                  "single scan requested" if self.mode == "single" or self.streams == 1 else
                  "the keys cannot be split (empty, one key, or too long a shared prefix)")
        record = self.record = ScanRecord("pk-ranges" if split else "single", self.streams if split else 1, reason,
                                          parts={p.name: 0 for p in plan})
        log.info("Reading %r in %d part(s) on %d stream(s): %s", self.name, len(plan), record.streams, reason)
        parts = fetch_ahead(plan, lambda _, part: read_partition(self.source, self.name, self.definition, part),
                            streams=record.streams, name=f"scan-{self.name}")
        for part, documents in parts:  # the first failure on any stream is raised here
            record.parts[part.name] += len(documents)
            record.documents += len(documents)
            yield documents
        record.server_count = self.source.count_documents(self.name).count
        if record.server_count != record.documents:
            raise ScanIncomplete(
                f"collection {self.name!r}: {record.documents} rows were read but count(*) says "
                f"{record.server_count}; the collection changed during the dump or a partition was added. "
                f"Run the dump again while nothing writes to it")
        record.reconciliation = "count(*) equals the rows read"
