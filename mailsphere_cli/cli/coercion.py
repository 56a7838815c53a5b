"""Command-line values converted without pydantic where the conversion is plain.

Typer (0.2x) converts every value but a flag through a pydantic TypeAdapter built
for its parameter: importing pydantic and building the adapters cost every
`mailsphere` command about 0.27 s of CPU before it did anything (a sixth of a
scan's start-up). Mailsphere's parameters are str, bool, Path, int and float
(some with a lower bound) and lists of those. For those the value is converted
here: a str or a bool kept as it is, digits to an int, a plain decimal to a float, a path to a
Path put through typer's own path checks. Anything else (another type, a value
that does not look plain, a bound not met, a path check that fails) goes to
typer's own converter, built only then, so results and error messages stay
typer's and pydantic is imported only for a value that needs it.

`install()` hooks this into typer's parameter class; with a typer whose inner
layout differs it does nothing and typer converts every value itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

_INT = re.compile(r"(?:0|[1-9][0-9]{0,17})\Z")
_FLOAT = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")
_UNSURE = object()
_installed = False


def _plain_path_options(info: Any) -> bool:
    """The path options typer uses by default (nothing to resolve, no '-' for stdin)."""
    return (info.parser is None and info.path_type is None and not info.resolve_path
            and not info.allow_dash)


def _number(kind: type, info: Any, value: Any) -> Any:
    if info.max is not None or info.clamp or info.parser is not None:
        return _UNSURE
    if type(value) is str:
        if not (_INT if kind is int else _FLOAT).match(value):
            return _UNSURE
        number = kind(value)
    elif type(value) is kind:
        number = value
    else:
        return _UNSURE
    if info.min is not None and number < info.min:
        return _UNSURE  # out of range: typer's converter says so in its words
    return number


def install() -> None:
    """Route typer's conversion of plain parameters through `_leaf` (once)."""
    global _installed
    if _installed:
        return
    try:
        from typer import core
        from typer._click.exceptions import BadParameter
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:
        return
    if getattr(core, "build_runtime_param", None) is not build_runtime_param:
        return

    def leaf(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
        if info.parser is not None:
            return _UNSURE
        if annotation is str or annotation is bool:
            return value if type(value) is annotation else _UNSURE
        if annotation is int or annotation is float:
            return _number(annotation, info, value)
        if annotation is Path and _plain_path_options(info):
            if isinstance(value, str):
                if not value or "\x00" in value:
                    return _UNSURE
                value = Path(value)
            elif not isinstance(value, Path):
                return _UNSURE
            try:
                return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
            except BadParameter:
                return _UNSURE  # typer's converter raises it again with the text as typed
        return _UNSURE

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        """Converts plain values itself, hands the rest to typer's own converter."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation, info = self.annotation, self.parameter_info
            if get_origin(annotation) is list:
                if isinstance(value, (list, tuple)):
                    (item_type,) = get_args(annotation)
                    items = [leaf(item_type, info, item, param, ctx) for item in value]
                    if not any(item is _UNSURE for item in items):
                        return items
            else:
                converted = leaf(annotation, info, value, param, ctx)
                if converted is not _UNSURE:
                    return converted
            return build_runtime_param(self.descriptor)._coerce_value(value, param=param,
                                                                      ctx=ctx)

    def build(descriptor: Any) -> Any:
        annotation = descriptor.annotation
        item = get_args(annotation)[0] if get_origin(annotation) is list else annotation
        if descriptor.file_annotation is None and item in (str, bool, int, float, Path):
            return PlainRuntimeParam(annotation=annotation,
                                     parameter_info=descriptor.parameter_info,
                                     descriptor=descriptor)
        return build_runtime_param(descriptor)

    core.build_runtime_param = build
    _installed = True
