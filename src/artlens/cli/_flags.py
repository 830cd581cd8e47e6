"""Command-line flags derived from config dataclass fields: each option is declared once, in its config.

A field's name, type, default and help (its docstring, via :func:`artlens.config_fields`) become a Typer
option; the command receives the values given on the command line as a nested dict (``given``) ready
to lay over a recipe or to build the config. Types map to flags as follows:

==================== =================================================================
``str/int/float``    ``--name VALUE``; a field with choices lists them in its help
``bool``             ``--name/--no-name``
``list[int]``        ``--name 512,128``
``list[float]``      ``--name 0.7,0.3``
``list[str]``        ``--name a,b``
``tuple[str, ...]``  ``--name a --name b`` (repeatable)
``dict[str, Any]``   ``--name key=value`` (repeatable; values read as YAML scalars)
label maps           ``--name FILE.yaml`` or ``--name 'old=new,drop='``
==================== =================================================================

>>> from artlens.config import OptimConfig
>>> [f.flag for f in config_flags(OptimConfig, rename={"name": "optimizer"})][:3]
['--optimizer', '--lr', '--weight-decay']
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from .. import ArtlensError, config_fields, yaml_error

__all__ = ["Flag", "check_device", "config_flags", "csv_floats", "csv_ints", "csv_strs", "key_values", "label_map", "merge",
           "with_flags", "yaml_value"]

#: Flag names that differ from their field's name wherever the field appears.
FLAG_NAMES = {"dataset_options": "dataset_option", "num_workers": "workers", "pretrained": "weights"}


def yaml_value(text: str, what: str) -> Any:
    """A flag's value read as a YAML scalar or list (``0.01``, ``[256, 128]``, ``true``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_error(what, err) from None


def check_device(value: str | None) -> str | None:
    """Every ``--device``: a typo or a GPU this machine lacks is one line before any model loads or
    port opens (``auto`` and ``None``, the recipe's own, pass through)."""
    if value is not None:
        from .. import default_device

        default_device(value)
    return value


def csv_ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ArtlensError(f"expected comma-separated integers, got {text!r}") from None


def csv_floats(text: str, flag: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ArtlensError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def csv_strs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def label_map(text: str) -> dict[str, str | None]:
    """``--label-map FILE.yaml`` or ``--label-map 'old=new,drop='``."""
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise ArtlensError(f"{path}: label map file not found")
        try:
            mapping = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise yaml_error(path, err) from None
        if not isinstance(mapping, dict):
            raise ArtlensError(f"{path}: label map must be a mapping of old label to new label")
        return {str(k): (None if v in (None, "") else str(v)) for k, v in mapping.items()}
    mapping = {}
    for pair in text.split(","):
        if "=" not in pair:
            raise ArtlensError(f"--label-map: {pair!r} is not old=new")
        old, new = pair.split("=", 1)
        mapping[old.strip()] = new.strip() or None
    return mapping


def key_values(pairs: list[str], flag: str = "--dataset-option") -> dict[str, Any]:
    """``--dataset-option label=origin --dataset-option per_class=500`` -> typed dict (YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ArtlensError(f"{flag}: {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml_value(value, f"{flag} {pair}")
    return out


@dataclass(frozen=True)
class Flag:
    """One command-line option bound to one config field."""

    param: str
    """The command's parameter name (``split_seed``; the flag is ``--split-seed``)."""
    key: tuple[str, ...]
    """Where the value goes in the config dict: ``("data", "seed")``."""
    annotation: Any
    parse: Callable[[Any], Any]
    required: bool = False
    default: Any = None
    """The command's own default where it differs from the field's (``--device auto``); None: the field's."""

    @property
    def flag(self) -> str:
        return "--" + self.param.replace("_", "-")


def _help(field: Any) -> str:
    choices = " | ".join(field.choices) if field.choices else ""
    return ": ".join(t for t in (choices, field.help) if t)


DEVICE_HELP = "auto | cpu | cuda | cuda:1"
#: ``--device`` of commands whose config has no device field (the others derive it).
DeviceOption = Annotated[str, typer.Option(help=DEVICE_HELP, callback=check_device)]


def _shown_default(value: Any) -> str | bool:
    if value in ("", None) or value == [] or value == {} or value == ():
        return False
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _kind(hint: Any, flag: str) -> tuple[Any, Callable[[Any], Any], str]:
    """(the flag's Python type, the parser of its value, how the value is written: ``switch`` for on/off)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _kind(next(a for a in args if a is not type(None)), flag)
    if origin is list:
        parse = {(int,): csv_ints, (float,): functools.partial(csv_floats, flag=flag)}.get(args, csv_strs)
        return str, parse, "comma-separated"
    if origin is tuple:  # tuple[str, ...]: the flag is given once per value
        return list[str], tuple, "repeatable"
    if origin is dict:
        if args and args[1] != Any:  # dict[str, str | None]: a label map
            return str, label_map, "a YAML file or 'old=new,drop=' pairs"
        return list[str], key_values, "key=value, repeatable"
    return hint, (lambda v: v), "switch" if hint is bool else ""


def config_flags(cls: type, *, rename: Mapping[str, str] | None = None, only: Iterable[str] | None = None,
                 skip: Iterable[str] = (), required: Iterable[str] = (), defaults: Mapping[str, Any] | None = None,
                 prefix: tuple[str, ...] = (), panel: str | None = None) -> list[Flag]:
    """The flags of a config dataclass; a field holding a dataclass contributes its own, under a
    help panel of its name. ``rename``, ``only``, ``skip``, ``required`` and ``defaults`` (the command's own
    default where it differs from the field's) take dotted keys (``data.seed``)."""
    rename, skip, required, defaults = dict(rename or {}), set(skip), set(required), dict(defaults or {})
    only = None if only is None else set(only)
    out = []
    for f in config_fields(cls):
        key = (*prefix, f.name)
        dotted = ".".join(key)
        if dataclasses.is_dataclass(f.type):
            out += config_flags(f.type, rename=rename, only=only, skip=skip, required=required, defaults=defaults,
                                prefix=key, panel=f.name)
            continue
        if dotted in skip or (only is not None and dotted not in only):
            continue
        param = rename.get(dotted) or FLAG_NAMES.get(f.name, f.name)
        name = "--" + param.replace("_", "-")
        flag_type, parse, form = _kind(f.type, name)
        decls = [f"{name}/--no-{name[2:]}" if form == "switch" else name]
        help_ = (_help(f) or (DEVICE_HELP if f.name == "device" else "")) + (f" ({form})" if form not in ("", "switch") else "")
        default = defaults.get(dotted)
        option = typer.Option(*decls, help=help_, show_default=_shown_default(f.default if default is None else default),
                              rich_help_panel=panel, callback=check_device if f.name == "device" else None)
        annotation = flag_type if dotted in required else Optional[flag_type]  # noqa: UP045 (typer)
        out.append(Flag(param, key, Annotated[annotation, option], parse, dotted in required, default))
    return out


def with_flags(flags: list[Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add ``flags`` to a command; it receives the values given as ``given``, a nested dict.

    The command's own parameters come first in ``--help``; a flag left out is absent from ``given``, so
    a recipe's value or the config's default applies (unless the command has a default of its own for it).
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "given"]
        added = [inspect.Parameter(f.param, inspect.Parameter.KEYWORD_ONLY, annotation=f.annotation,
                                   default=... if f.required else f.default) for f in flags]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given: dict[str, Any] = {}
            for f in flags:
                value = kwargs.pop(f.param)
                if value is not None:
                    *sections, name = f.key
                    target = given
                    for section in sections:
                        target = target.setdefault(section, {})
                    target[name] = f.parse(value)
            return fn(**kwargs, given=given)

        params = sorted(own + added, key=lambda p: p.kind)  # keyword-only after the command's own
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return deco


def merge(raw: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Lay ``given`` over a recipe as written: sections (``data``, ``model``, ...) key by key, an empty
    YAML section reading as ``None``."""
    for key, value in given.items():
        if isinstance(value, dict):
            raw[key] = {**(raw.get(key) or {}), **value}
        else:
            raw[key] = value
    return raw
