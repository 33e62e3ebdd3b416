"""The vector-loss notifier: fires on a guard trip, silent on other failures unless asked, any channel."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from airflow.sdk import BaseNotifier

from airflow_provider_vectorbackup.operators.failures import VectorLossTaskFailure
from airflow_provider_vectorbackup.notifications.vector_loss import (
    ALERT_KEY, VectorLossNotifier, send_vector_loss_notification, vector_loss_callback,
)
from airflow_provider_vectorbackup.snapshot.errors import VectorLossError

TI = SimpleNamespace(dag_id="vector_backup", task_id="dump", run_id="scheduled__1")


def loss() -> VectorLossTaskFailure:
    return VectorLossTaskFailure.from_error(
        VectorLossError("articles", "none of the 500 dumped document(s) carried $vector", declared_dimension=1536,
                        documents=500, documents_with_vector=0, dimensions_seen={}),
        snapshot_id="20261122T000000Z")


def test_a_guard_trip_sends_an_actionable_alert() -> None:
    sent = []
    vector_loss_callback(lambda text, context: sent.append(text))({"exception": loss(), "ti": TI})
    (alert,) = sent
    for fact in ("VECTOR LOSS in collection 'articles'", "vector_backup.dump run scheduled__1",
                 "declared dimension: 1536", "documents seen: 500", "with $vector: 0",
                 "20261122T000000Z was sealed INCOMPLETE", '{"*": true}'):
        assert fact in alert


def test_other_failures_stay_silent_unless_asked() -> None:
    sent = []
    context = {"exception": ConnectionError("Box unreachable"), "ti": TI}
    vector_loss_callback(lambda text, ctx: sent.append(text))(context)
    assert sent == []
    vector_loss_callback(lambda text, ctx: sent.append(text), alert_on_other_failures=True)(context)
    assert sent == ["Backup task failed (not a vector loss): ConnectionError: Box unreachable"]


def test_logging_is_the_default_channel(caplog) -> None:
    with caplog.at_level(logging.ERROR):
        VectorLossNotifier()({"exception": loss(), "ti": TI})
    assert "VECTOR LOSS in collection 'articles'" in caplog.text


def test_other_notifiers_can_be_wrapped_and_template_the_alert() -> None:
    class Recording(BaseNotifier):
        template_fields = ("text",)

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text
            self.sent: list[str] = []

        def notify(self, context) -> None:
            self.sent.append(self.text)

    slack_like = Recording(text="Backup alert: {{ " + ALERT_KEY + " }}")
    send_vector_loss_notification(channel=slack_like)({"exception": loss(), "ti": TI})
    assert len(slack_like.sent) == 1 and slack_like.sent[0].startswith("Backup alert: VECTOR LOSS")


def test_the_task_failure_is_recognisable_and_not_retried() -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    error = loss()
    assert isinstance(error, VectorLossError) and isinstance(error, AirflowFailException)
    assert error.facts["snapshot_id"] == "20261122T000000Z" and error.collection == "articles"


def test_an_engine_sources_alert_names_the_vector_field_and_no_data_api_hints() -> None:
    error = VectorLossTaskFailure.from_error(
        VectorLossError("articles", "10 of 30 document(s) have no value for vector field 'dense'", field="dense",
                        declared={"kind": "dense", "dtype": "float32", "dimension": 8, "metric": "cosine"},
                        documents=30, documents_with_vector=20, dimensions_seen={"8": 20},
                        encodings_seen={"dense/float32": 20}),
        snapshot_id="20261122T000000Z")
    sent = []
    vector_loss_callback(lambda text, context: sent.append(text))({"exception": error, "ti": TI})
    (alert,) = sent
    assert "vector field 'dense' declared dense/float32, 8 dimensions; documents seen: 30; with 'dense': 20" in alert
    assert "max_missing_vector_fraction" in alert
    assert "astrapy" not in alert and "$vector:" not in alert and "declared dimension" not in alert
