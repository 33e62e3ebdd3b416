"""Runtime switches of the stand-in that are not faults of the transport.

``page_size`` is the server's page size (20 up to data-api 1.0.46, 50 after). ``regression_mode``
never returns ``$vector``, even for ``{"*": true}``: a backup tool must notice. ``empty_page_every``
answers every k-th unsorted ``find`` page that would carry documents with an empty page that
still has a ``nextPageState`` (resuming at the same position), which silently ends astrapy's
cursor iteration. Decisions are counter-based and deterministic.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Behaviour:
    page_size: int = 20
    regression_mode: bool = False
    empty_page_every: int = 0
    find_pages: int = 0
    empty_pages_served: int = 0

    def empty_page_due(self) -> bool:
        """Count one non-empty ``find`` page; true when it must be served empty."""
        self.find_pages += 1
        due = bool(self.empty_page_every) and self.find_pages % self.empty_page_every == 0
        self.empty_pages_served += due
        return due
