"""Typed models of the project's YAML files (source specs, CDC tables, the access policy), and one translator
of pydantic's errors into the project's words: the field, what is wrong, and the fix.

A YAML file's shape is a set of strict, frozen pydantic models (unknown keys, wrong types and loose coercions
are errors); ``explain`` turns a ``ValidationError`` into ``(field path, what, fix)`` rows, and
``line_of`` finds the line of a field path in the YAML text, so every loader can print file, line, field and
fix the same way.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


class Problems(ValueError):
    """Raised by validators so ``explain`` keeps the project's wording: (sub-field, what, fix) per issue."""

    def __init__(self, *issues: tuple[str, str, str]) -> None:
        super().__init__("; ".join(what for _, what, _ in issues))
        self.issues = issues


def bad(what: str, fix: str, sub_field: str = "") -> Problems:
    return Problems((sub_field, what, fix))


def checked(test: Callable[[str], Any], what: str, fix: str) -> Any:
    """A text type with a rule worded for people (``what`` may use ``{v!r}``), instead of pydantic's."""

    def run(value: str) -> str:
        if not test(value):
            raise bad(what.format(v=value), fix)
        return value

    return Annotated[str, AfterValidator(run)]


def found_by(lookup: Callable[[str], object]) -> Callable[[str], bool]:
    def test(name: str) -> bool:
        try:
            lookup(name)
        except (LookupError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            return False
        return True

    return test


class Section(BaseModel):
    """A mapping of a spec file: unknown keys, wrong types and loose coercions are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# -- pydantic's errors in the project's words ----------------------------------------------------------

_NOUNS = {
    "string_type": "text",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
}
_NOUNS |= dict.fromkeys(("tuple_type", "list_type"), "a list")
_NOUNS |= dict.fromkeys(("dict_type", "model_type", "dataclass_type"), "a mapping")
_LIMITS = {
    "greater_than": "use a number above {gt}",
    "greater_than_equal": "use {ge} or more",
    "less_than_equal": "use {le} or less",
    "string_too_short": "write at least {min_length} character(s)",
    "too_short": "list at least {min_length}",
}
_WRITE = {
    "text": "write text (quote it)",
    "a list": "write a list, e.g. [a, b]",
    "a mapping": "write key: value pairs",
}


def explain(error: ValidationError, root: type, hints: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(field path, what is wrong, fix)`` per error of validating ``root``; ``hints``: fixes by path."""
    found: list[tuple[str, str, str]] = []
    for e in error.errors():
        loc, kind, got, ctx = e["loc"], e["type"], e["input"], e.get("ctx", {})
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc if p != "[key]").lstrip(".")
        general = re.sub(r"\[\d+\]", "", at).lstrip(".")
        hint = hints.get(general)
        if isinstance(ctx.get("error"), Problems):
            found += [(f"{at}.{sub}".strip("."), what, fix) for sub, what, fix in ctx["error"].issues]
            continue
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            known = _keys(root, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            also = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(known) or 'none'}"
            what, fix = "unknown field", f"remove it ({also})"
        elif kind in ("missing", "missing_argument"):
            what, fix = "missing", hint or hints.get(general.rpartition(".")[0]) or "add it"
        elif kind == "literal_error":
            what, fix = f"{got!r} is not known", f"use one of {ctx['expected']}"
        elif kind in _NOUNS:
            noun = _NOUNS[kind]
            what, fix = f"must be {noun}, got {got!r}", hint or _WRITE.get(noun, f"write {noun}")
        else:  # a constraint, e.g. "Input should be greater than 0"
            said = re.sub(r" after validation.*", "", re.sub(r"^\w+ should", "must", e["msg"]))
            what = f"{said}, got {got!r}"
            fix = hint or _LIMITS.get(kind, "correct the value").format(**ctx)
        found.append((at, what, fix))
    return found


def _keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where ``loc`` points (for "did you mean")."""
    for part in loc:
        if isinstance(part, str):
            by_key = {f.alias or n: f.annotation for n, f in model.__pydantic_fields__.items()}
            model = next((t for t in _types(by_key.get(part)) if hasattr(t, "__pydantic_fields__")), None)
            if model is None:
                return []
    return [f.alias or n for n, f in model.__pydantic_fields__.items()]


def _types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in get_args(annotation):
        yield from _types(arg)


@functools.lru_cache(maxsize=8)
def _composed(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text``, composed once per text (``line_of`` runs once per grant)."""
    return yaml.compose(text)


def line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of ``path`` (keys and list indexes) in YAML ``text``; the deepest part found."""
    try:
        node = _composed(text)
    except yaml.YAMLError:
        return None
    line = None if node is None else node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
