"""What the package needs from Airflow that ``airflow.providers.common.compat.sdk`` does not map.

Every Airflow name the package uses comes from ``airflow.providers.common.compat.sdk`` when it
covers the name (it finds the name wherever the running Airflow keeps it), and from here otherwise.
No other module imports a name from Airflow directly, so a difference between supported Airflow
versions is handled here. Supported: Airflow 3.1 (the floor, tested on the latest 3.1 patch) to 3.3.
It sits in ``hooks/`` because only the Airflow layers (hooks, operators, sensors, triggers,
notifications) import Airflow; tests/test_packaging.py enforces that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from airflow import __version__ as AIRFLOW_VERSION
from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["AIRFLOW_V_3_2_PLUS", "BaseTrigger", "TriggerEvent", "connection_form"]


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"cannot read a major.minor version from Airflow's version {version!r}")
    return int(match[1]), int(match[2])


AIRFLOW_V_3_2_PLUS = _major_minor(AIRFLOW_VERSION) >= (3, 2)
"""From 3.2 on, Airflow renders connection forms from ``conn-fields`` in the provider info."""

Hook = TypeVar("Hook", bound=type)


def connection_form(connection_type: dict[str, Any]) -> Callable[[Hook], Hook]:
    """Class decorator: give a hook the form classmethods Airflow 3.1 reads, built from ``conn-fields``.

    ``connection_type`` is an entry of the provider info's ``connection-types``, so both forms come
    from one declaration. Airflow 3.2+ reads the form from the provider info and deprecates the hook
    methods, so there the hook is left untouched. On 3.1 the UI calls ``get_connection_form_widgets``
    and ``get_ui_field_behaviour`` with wtforms, flask_babel and flask_appbuilder mocked (none of them
    need be installed), so the widgets are built from those names, imported inside the methods.
    """

    def decorate(hook: Hook) -> Hook:
        if not AIRFLOW_V_3_2_PLUS:
            fields = connection_type.get("conn-fields", {})
            behaviour = connection_type.get("ui-field-behaviour", {})
            # Set on the class itself: the ProvidersManager ignores inherited form methods.
            hook.get_connection_form_widgets = classmethod(lambda cls: _form_widgets(fields))
            hook.get_ui_field_behaviour = classmethod(lambda cls: _field_behaviour(behaviour))
        return hook

    return decorate


def _form_widgets(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """wtforms fields for ``conn-fields`` JSON schemas: only the four field classes Airflow 3.1 accepts."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets = {}
    for name, field in fields.items():
        schema = field.get("schema", {})
        types = schema.get("type", "string")
        types = {types} if isinstance(types, str) else set(types)
        validators = [Optional()]
        if "enum" in schema:
            validators.append(any_of([value for value in schema["enum"] if value is not None]))
        kwargs = {"description": field.get("description", ""), "validators": validators}
        if "default" in schema:
            kwargs["default"] = schema["default"]
        label = lazy_gettext(field.get("label", name))
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **kwargs)
        elif "integer" in types:
            widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), **kwargs)
        elif "boolean" in types:
            widgets[name] = BooleanField(label, **kwargs)
        else:  # strings, and numbers, which the hooks parse from text (3.1 has no float field)
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **kwargs)
    return widgets


def _field_behaviour(behaviour: dict[str, Any]) -> dict[str, Any]:
    """``ui-field-behaviour`` as Airflow 3.1 expects it: snake_case keys instead of kebab-case."""
    return {key.replace("-", "_"): value for key, value in behaviour.items()}
