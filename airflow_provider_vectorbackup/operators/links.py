"""Extra links shown on task instances in the Airflow UI: the snapshot's Box folder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

BOX_WEB_APP = "https://app.box.com"


class BoxFolderLink(BaseOperatorLink):
    """Opens the snapshot's Box folder. The URL is stored in XCom during ``execute``; the UI only reads it."""

    name = "Box folder"
    key = "box_folder_link"

    @classmethod
    def persist(cls, context: Any, folder_id: str) -> None:
        context["ti"].xcom_push(key=cls.key, value=f"{BOX_WEB_APP}/folder/{folder_id}")

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=self.key, ti_key=ti_key) or ""
