"""The option record: how one config field is asked for, checked and shown.

A field of AEConfig carries an `Option` in its metadata (see `option`): the
flag, the help line and its panel, the choices, the range, and the short
label the app's form shows. From these records the faces build what they
need (Typer parameters, form fields, messages that name the flag) without
restating any of it; this module has no UI import, so the app and the CLI
both read it.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

from core.errors import BadInput


@dataclass(frozen=True)
class Option:
    help: str
    panel: str
    label: str  # what the app's form calls the field
    flags: tuple[str, ...] = ()  # the first is the one messages name; default "--" + the dashed field name
    choices: tuple[str, ...] = ()
    low: float | None = None  # a number below is refused (for a list: each item)
    high: float | None = None
    low_open: bool = False  # low itself is refused too
    high_open: bool = False
    rule: str | None = None  # the words for an out-of-range value, when the plain ones read badly
    on_resume: bool = False  # where a run trains, not what: may change when a stopped run continues


def option(default: Any, help: str, panel: str, label: str, **kw: Any) -> Any:
    """A dataclass field with its Option (keeps the default as the class attribute)."""
    return field(default=default, metadata={"option": Option(help, panel, label, **kw)})


def options_of(cls: type) -> dict[str, Option]:
    return {f.name: f.metadata["option"] for f in fields(cls) if "option" in f.metadata}


@dataclass(frozen=True)
class Kind:
    """What a field holds, read from its annotation."""

    base: type  # int, float, str, bool, or tuple (a list of ints)
    optional: bool  # None is allowed (and means "not set")


def kinds_of(cls: type) -> dict[str, Kind]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        base = args[0] if optional else typing.get_origin(hint) or hint
        out[f.name] = Kind(base, optional)
    return out


WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", tuple: "a list of integers"}


def has_kind(value: Any, kind: Kind) -> bool:
    if value is None:
        return kind.optional
    if kind.base is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON true is not the number 1 here
        return False
    if kind.base is float:
        return isinstance(value, (int, float))
    if kind.base is tuple:
        return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return isinstance(value, kind.base)


def _num(x: float) -> str:
    # No thousands separators: messages give numbers as they are typed.
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def range_text(o: Option) -> str:
    """The range as --help shows it, e.g. "1 to 100,000", "above 0, at most 10"."""
    if o.low is None and o.high is None:
        return ""
    if o.low is not None and o.high is not None and not o.low_open:
        return f"{_num(o.low)} to {'below ' if o.high_open else ''}{_num(o.high)}"
    parts = []
    if o.low is not None:
        parts.append(f"{'above' if o.low_open else 'at least'} {_num(o.low)}")
    if o.high is not None:
        parts.append(f"{'below' if o.high_open else 'at most'} {_num(o.high)}")
    return ", ".join(parts)


def _below(o: Option, x: float) -> bool:
    return o.low is not None and (x < o.low or (o.low_open and x == o.low))


def _above(o: Option, x: float) -> bool:
    return o.high is not None and (x > o.high or (o.high_open and x == o.high))


def check_value(name: str, o: Option, value: Any) -> None:
    """BadInput naming `name` if `value` (of the right type) is out of the option's range or choices."""
    if value is None:
        return
    if o.choices and value not in o.choices:
        raise BadInput(field=name, value=value, rule=o.rule or f"must be one of {', '.join(o.choices)}")
    items = value if isinstance(value, tuple) else (value,)
    value = list(value) if isinstance(value, tuple) else value  # shown as JSON and the command line write it
    for x in items:
        if isinstance(x, str) or isinstance(x, bool):
            continue
        if isinstance(x, float) and not math.isfinite(x):
            raise BadInput(field=name, value=value, rule=o.rule or f"must be a finite number ({range_text(o)})")
        if _below(o, x):
            raise BadInput(field=name, value=value, rule=o.rule or _low_rule(o, isinstance(x, float)))
        if _above(o, x):
            raise BadInput(field=name, value=value, rule=o.rule or
                           f"must be {'below' if o.high_open else 'at most'} {_num(o.high)}")


def _low_rule(o: Option, real: bool) -> str:
    if o.low == 0 and real:
        return "must be a positive number" if o.low_open else "must be a non-negative number"
    return f"must be {'above' if o.low_open else 'at least'} {_num(o.low) if o.low is not None else ''}".strip()


def parse_text(name: str, kind: Kind, text: str) -> Any:
    """A value typed as text (a form field, a comma list on the command line) -> the field's value."""
    text = text.strip()
    if kind.optional and text.lower() in ("", "all", "none"):
        return None
    if kind.base in (int, float, tuple) and not text.isascii():  # int() reads Arabic-Indic digits too: a slip, not a number
        raise BadInput(field=name, value=text, rule="must be written in ASCII digits")
    try:
        if kind.base is tuple:
            # every piece a number: "64,,32" is more likely a slip than a two-layer net
            return tuple(int(v.replace("_", "")) for v in text.split(","))
        if kind.base is int:
            return int(text.replace("_", ""))
        if kind.base is float:
            return float(text.replace("_", ""))
    except ValueError:
        what = "comma-separated integers" if kind.base is tuple else WORDS[kind.base]
        raise BadInput(field=name, value=text, rule=f"must be {what}") from None
    if kind.base is bool:
        if text.lower() not in ("true", "false", "on", "off", "yes", "no"):
            raise BadInput(field=name, value=text, rule="must be on or off")
        return text.lower() in ("true", "on", "yes")
    return text


def shown(kind: Kind, value: Any) -> str:
    """A value as text that parse_text reads back."""
    if value is None:
        return "all"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Param:
    """One command-line option, as a face hands it to its parser (typer.Option(default, *decls, ...))."""

    name: str
    annotation: Any
    default: Any
    decls: tuple[str, ...]
    help: str
    panel: str
    metavar: str | None
    choices: tuple[str, ...]


def cli_param(name: str, o: Option, kind: Kind, default: Any) -> Param:
    """The option as a command-line flag: lists are typed as text, choices shown as [a|b]."""
    if kind.base is tuple:
        annotation, default = str, shown(kind, default)
    elif kind.optional:
        annotation = Optional[kind.base]
    else:
        annotation = kind.base
    limits = range_text(o)
    text = o.help + (f" Range: {limits}." if limits else "")  # (not in [...], which rich reads as markup)
    metavar = "[" + "|".join(o.choices) + "]" if o.choices else None
    return Param(name, annotation, default, o.flags, text, o.panel, metavar, o.choices)


__all__ = ["Option", "option", "options_of", "Kind", "kinds_of", "check_value", "parse_text", "shown",
           "range_text", "Param", "cli_param", "signature", "with_signature", "takes"]


def completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """What shell completion offers for an option with choices (the parser reads the one argument by name)."""
    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]
    return complete


def signature(params: list[Param], make_option: Callable[..., Any]) -> list[inspect.Parameter]:
    """Keyword parameters for a command function, each default made by the face's
    `make_option` (typer.Option): this module stays free of any UI library."""
    out = []
    for p in params:
        extra = {}
        if p.choices:  # shell completion offers the choices (`--install-completion`)
            extra["autocompletion"] = completer(p.choices)
        default = make_option(p.default, *p.decls, help=p.help, rich_help_panel=p.panel, metavar=p.metavar,
                              show_default=p.default is not None, **extra)
        out.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                     annotation=p.annotation))
    return out


def with_signature(func: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[..., Any]:
    """`func(**kw)` presented with `params` (plus its own leading ones, e.g. a context) to
    whatever reads its signature; a command parser then passes every option by name."""
    own = [p for p in inspect.signature(func).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    first = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]  # e.g. a context
    rest = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    func.__signature__ = inspect.Signature([*first, *params, *rest])  # type: ignore[attr-defined]
    return func


def takes(params: list[Param], make_option: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command function also takes `params` (by name, in its **kwargs)."""
    return lambda func: with_signature(func, signature(params, make_option))
