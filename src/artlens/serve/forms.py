"""Form fields of the API derived from the library's config fields: one definition per option.

A request option that is also a config option (AdaIN's ``alpha``, Gatys' ``steps``) takes its
description, its choices and its default from the config dataclass, as the command-line flags do
(``cli/_flags.py``); the route adds only what the server itself bounds (``le=max_gatys_steps``).

>>> from artlens.style import AdainConfig
>>> config_default(AdainConfig, "alpha")
1.0
"""

from __future__ import annotations

from typing import Any

from fastapi import Form

from .. import config_fields

__all__ = ["config_default", "config_form"]


def _field(cls: type, name: str) -> Any:
    for f in config_fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def config_default(cls: type, name: str) -> Any:
    """The field's default, for the route parameter's own default."""
    return _field(cls, name).default


def config_form(cls: type, name: str, *, prefix: str = "", **constraints: Any) -> Any:
    """``Form(...)`` for ``cls.name``: its help (after ``prefix``, e.g. ``"AdaIN: "``) as the description, its
    choices as an enum, plus the route's ``constraints`` (``ge``, ``le``, ``json_schema_extra``)."""
    f = _field(cls, name)
    extra = dict(constraints.pop("json_schema_extra", None) or {})
    if f.choices:
        extra.setdefault("enum", list(f.choices))
    return Form(description=prefix + " ".join(f.help.split()), json_schema_extra=extra or None, **constraints)
