"""Runtime switches of the stand-in that are not faults of the transport.

``page_size`` is the server's page size (20 up to data-api 1.0.46, 50 after). ``regression_mode``
never returns ``$vector``, even for ``{"*": true}``: a backup tool must notice. ``empty_page_every``
answers every k-th unsorted ``find`` page that would carry documents with an empty page that
still has a ``nextPageState`` (resuming at the same position), which silently ends astrapy's
cursor iteration.

``in_band_error_every`` answers every n-th command with HTTP 200 and a transient SERVER-family
error (``in_band_error_code``, ``UNAVAILABLE_DATABASE`` by default), as an overloaded or waking
database does; nothing of that command is applied. ``partial_insert_every`` makes every k-th
``insertMany`` write the first half of its documents and then answer ``FAILED_CONCURRENT_OPERATIONS``
with no per-document outcome, so the client cannot tell which documents made it.
``refuse_id_ranges`` (``"string"`` and/or ``"date"``) behaves like a self-managed Data API release
older than Astra's: a ``$gt/$gte/$lt/$lte`` bound of that type on ``_id`` is refused with
``FILTER_UNSUPPORTED_DATA_TYPE``. Decisions are counter-based and deterministic.
"""

from __future__ import annotations

import dataclasses

ID_RANGE_KINDS = ("string", "date")
"""Bound types on ``_id`` that :attr:`Behaviour.refuse_id_ranges` can refuse."""


def id_range_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    unknown = set(kinds) - set(ID_RANGE_KINDS)
    if unknown:
        raise ValueError(f"refuse_id_ranges takes {ID_RANGE_KINDS}, not {sorted(unknown)}")
    return kinds


@dataclasses.dataclass
class Behaviour:
    page_size: int = 20
    regression_mode: bool = False
    empty_page_every: int = 0
    in_band_error_every: int = 0
    in_band_error_code: str = "UNAVAILABLE_DATABASE"
    partial_insert_every: int = 0
    refuse_id_ranges: tuple[str, ...] = ()
    find_pages: int = 0
    empty_pages_served: int = 0
    commands: int = 0
    in_band_errors_served: int = 0
    insert_many_calls: int = 0
    partial_inserts_served: int = 0

    def __post_init__(self) -> None:
        id_range_kinds(self.refuse_id_ranges)

    def in_band_error_due(self) -> bool:
        """Count one command; true when it must be answered with the in-band error instead."""
        self.commands += 1
        due = bool(self.in_band_error_every) and self.commands % self.in_band_error_every == 0
        self.in_band_errors_served += due
        return due

    def partial_insert_due(self) -> bool:
        """Count one ``insertMany``; true when it must apply only half its documents and fail."""
        self.insert_many_calls += 1
        due = bool(self.partial_insert_every) and self.insert_many_calls % self.partial_insert_every == 0
        self.partial_inserts_served += due
        return due

    def empty_page_due(self) -> bool:
        """Count one non-empty ``find`` page; true when it must be served empty."""
        self.find_pages += 1
        due = bool(self.empty_page_every) and self.find_pages % self.empty_page_every == 0
        self.empty_pages_served += due
        return due
