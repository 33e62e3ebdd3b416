"""S3 Object Lock for snapshots: every object written is retained, so a compromised worker cannot erase backups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MODES = ("governance", "compliance")


@dataclass(frozen=True)
class ObjectLock:
    """Retain each object for ``days`` from when it is written, in S3's ``governance`` or ``compliance`` mode.

    Governance: a user with ``s3:BypassGovernanceRetention`` may still delete (this package never does).
    Compliance: nobody can, not even the account's root user, until the date passes.
    """

    mode: str
    days: int

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"object lock mode must be one of {MODES}, not {self.mode!r}")
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"object lock days must be a whole number >= 1, got {self.days!r}")

    def retain_until(self, now: dt.datetime | None = None) -> dt.datetime:
        return (now or dt.datetime.now(dt.timezone.utc)) + dt.timedelta(days=self.days)

    def describe(self) -> str:
        return f"{self.mode} lock for {self.days} day{'s' if self.days != 1 else ''}"
