"""Alert when a backup lost vectors: a distinct, actionable message through any channel.

A vector-loss failure is not an ordinary task failure: retrying does not help and the fix is
in the reading code or the client library. So it gets its own alert naming the collection,
what it declares, what the dump saw and what to check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseNotifier

from airflow_provider_vectorbackup.snapshot.errors import VectorLossError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

log = logging.getLogger(__name__)

ALERT_KEY = "vector_loss_alert"
"""Context key holding the alert text, for wrapped notifiers' templates: ``"{{ vector_loss_alert }}"``."""

Channel = Callable[[str, "Context"], None]


_DATA_API_CHECK = ("  Check: the scan projects {\"*\": true}; the astrapy version (a change in projection or vector "
                   "handling); the collection definition; whether documents were written without vectors.")
_FIELD_CHECK = ("  Check: the engine's client library version (a change in how it returns vectors); the collection "
                "definition; whether documents were written without this vector (then set the dump's "
                "max_missing_vector_fraction).")


def format_alert(error: VectorLossError, context: Context) -> str:
    facts = error.facts
    ti = context.get("ti")
    where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} run {getattr(ti, 'run_id', '?')}"
    per_field = "field" in facts  # the engine sources' guard checks each declared vector field on its own
    lines = [f"VECTOR LOSS in collection {error.collection!r} ({where})", f"  {error.reason}",
             _field_facts(facts) if per_field else _data_api_facts(facts)]
    if facts.get("snapshot_id"):
        sealed = "will be sealed INCOMPLETE by its commit task" if facts.get("sealed_by_commit") else \
            "was sealed INCOMPLETE"
        lines.append(f"  snapshot {facts['snapshot_id']} {sealed}; it will not be used for restores "
                     "or counted by retention")
    lines.append(_FIELD_CHECK if per_field else _DATA_API_CHECK)
    return "\n".join(lines)


def _data_api_facts(facts: dict[str, Any]) -> str:
    return (f"  declared dimension: {facts.get('declared_dimension')}; documents seen: {facts.get('documents')}; "
            f"with $vector: {facts.get('documents_with_vector')}; dimensions seen: {facts.get('dimensions_seen')}")


def _field_facts(facts: dict[str, Any]) -> str:
    declared = facts.get("declared") or {}
    kind = "/".join(str(declared[key]) for key in ("kind", "dtype") if declared.get(key)) or "?"
    if declared.get("dimension") is not None:
        kind += f", {declared['dimension']} dimensions"
    field = facts["field"]
    return (f"  vector field {field!r} declared {kind}; documents seen: {facts.get('documents')}; with {field!r}: "
            f"{facts.get('documents_with_vector')}; dimensions seen: {facts.get('dimensions_seen')}; "
            f"encodings seen: {facts.get('encodings_seen')}")


class VectorLossNotifier(BaseNotifier):
    """Sends a vector-loss alert when a task failed with :class:`VectorLossError`.

    Attach it as a task's ``on_failure_callback``. Other failures are ignored unless
    ``alert_on_other_failures`` is set, so it can sit beside a team's usual alerting.

    :param channel: where the alert goes. ``None`` logs it at ERROR. A callable gets
        ``(alert_text, context)``. Another notifier (Slack, SMTP, ...) is called with the
        context, whose ``vector_loss_alert`` key holds the text for its templates.
    :param alert_on_other_failures: also send a (plain) alert for failures of other kinds.
    """

    template_fields = ()

    def __init__(self, *, channel: BaseNotifier | Channel | None = None, alert_on_other_failures: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel = channel
        self.alert_on_other_failures = alert_on_other_failures

    def notify(self, context: Context) -> None:
        error = context.get("exception")
        if isinstance(error, VectorLossError):
            alert = format_alert(error, context)
        elif error is not None and self.alert_on_other_failures:
            alert = f"Backup task failed (not a vector loss): {type(error).__name__}: {error}"
        else:
            return
        self._send(alert, context)

    def _send(self, alert: str, context: Context) -> None:
        if self.channel is None:
            log.error("%s", alert)
        elif isinstance(self.channel, BaseNotifier):
            self.channel({**context, ALERT_KEY: alert})
        else:
            self.channel(alert, context)


send_vector_loss_notification = VectorLossNotifier
"""Function-style alias, as Airflow's own notifiers provide."""


def vector_loss_callback(channel: BaseNotifier | Channel | None = None, *,
                         alert_on_other_failures: bool = False) -> VectorLossNotifier:
    """A ready ``on_failure_callback`` that alerts on vector loss (and, if asked, on other failures)."""
    return VectorLossNotifier(channel=channel, alert_on_other_failures=alert_on_other_failures)
