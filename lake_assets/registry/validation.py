"""Fast event validation: the registry's Avro schemas compiled into msgspec Structs.

``SchemaRegistry.validate`` (fastavro) is the reference but needs a parsed ``dict`` per event and checks it in
Python. Here each event subject's latest schema becomes a ``msgspec.Struct`` (nested records become nested
Structs) and the subjects form one tagged union on ``event_type``, so a single ``msgspec.json.decode`` call
parses and validates a JSON line in C. The intake runs this on every event, so it is written for speed: the
valid path is one C call; only rejected lines pay for building a readable reason.

JSON encoding accepted (what producers send, not Avro's own JSON encoding):

* ``string`` a JSON string; ``boolean`` true/false; ``int`` and ``long`` JSON integers within the 32/64-bit
  range (no floats, no booleans); ``float``/``double`` any JSON number; ``bytes``/``fixed`` base64 strings;
  ``enum`` one of its symbols; ``record`` an object; ``array`` a list; ``map`` an object.
* unions are plain values (``"x"`` or ``null``, not ``{"string": "x"}``); a field with a default may be
  absent.
* ``timestamp-millis``/``timestamp-micros`` are RFC 3339 strings that carry a timezone (``Z`` or ``+01:00``);
  naive timestamps are rejected because their instant is unknowable. ``date`` is ``YYYY-MM-DD``. Other logical
  types are read as their underlying type, as the Avro spec says for unknown logical types.

Two rules are deliberately stricter than the fastavro reference: unknown fields are rejected (landing -> raw
would otherwise drop them silently) and naive timestamps are rejected (fastavro assumes UTC).

Blank lines are not events: callers (the intake) skip and count them; ``check`` reports one as ``empty``.

Nesting: a rejected line nested deeper than ``MAX_NESTING_DEPTH`` arrays/objects is ``too_deeply_nested``.
Depth is measured only on lines msgspec rejected (no schema nests that deep: valid events pay nothing).
msgspec's own guard raises ``RecursionError`` at a depth that depends on the caller's stack; ``check`` turns
it into that reason, so no line can crash a run and the reason does not depend on the stack.

Encoding: events are UTF-8. ``foreign_bom`` recognises a UTF-16 or UTF-32 byte order mark so callers that
see the start of an input (a file, a message) can say "re-encode as UTF-8" (``wrong_encoding``) instead of
reporting undecodable bytes; a mark in the middle of a file is just invalid UTF-8.
"""

from __future__ import annotations

import codecs
import datetime as dt
import keyword
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import msgspec

from lake_assets.registry.registry import RegistryError, SchemaRegistry, SchemaVersion

DEFAULT_MAX_EVENT_BYTES = 256 * 1024
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
TAG_FIELD = "event_type"
MAX_NESTING_DEPTH = 64  # arrays/objects; the schemas use 3 at most
UTF8_BOM = codecs.BOM_UTF8

# Reason kinds: the stable vocabulary counted by the intake and produced by the sample data generator.
MALFORMED_JSON = "malformed_json"
INVALID_UTF8 = "invalid_utf8"
TOO_LARGE = "too_large"
EMPTY = "empty"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
NAIVE_TIMESTAMP = "naive_timestamp"
INVALID_VALUE = "invalid_value"
TOO_DEEPLY_NESTED = "too_deeply_nested"
WRONG_ENCODING = "wrong_encoding"
REASON_KINDS = (
    MALFORMED_JSON,
    INVALID_UTF8,
    TOO_LARGE,
    EMPTY,
    NOT_AN_OBJECT,
    UNKNOWN_EVENT_TYPE,
    MISSING_FIELD,
    UNKNOWN_FIELD,
    WRONG_TYPE,
    OUT_OF_RANGE,
    NAIVE_TIMESTAMP,
    INVALID_VALUE,
    TOO_DEEPLY_NESTED,
    WRONG_ENCODING,
)

_Int = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
_Long = Annotated[int, msgspec.Meta(ge=LONG_MIN, le=LONG_MAX)]
_AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
_PRIMITIVES: dict[str, Any] = {
    "null": None,
    "boolean": bool,
    "int": _Int,
    "long": _Long,
    "float": float,
    "double": float,
    "bytes": bytes,
    "string": str,
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PASS_THROUGH = (dt.datetime, dt.date, bytes)


class InvalidEvent(ValueError):
    """An event line that does not conform; ``reason`` is short and stable, ``kind`` one of REASON_KINDS."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def wrong_encoding(bom: tuple[str, str, bytes], what: str = "file") -> InvalidEvent:
    """Why input starting with a UTF-16/32 byte order mark (``foreign_bom``) is refused, and the fix."""
    family, name, mark = bom
    return InvalidEvent(
        f"{what} is {name} (byte order mark {mark.hex(' ').upper()}), not UTF-8: "
        f"re-encode it as UTF-8 (e.g. iconv -f {family} -t UTF-8)",
        WRONG_ENCODING,
    )


# UTF-32 LE first: its mark starts with the UTF-16 LE one.
_FOREIGN_BOMS = (
    ("UTF-32", "UTF-32LE", codecs.BOM_UTF32_LE),
    ("UTF-32", "UTF-32BE", codecs.BOM_UTF32_BE),
    ("UTF-16", "UTF-16LE", codecs.BOM_UTF16_LE),
    ("UTF-16", "UTF-16BE", codecs.BOM_UTF16_BE),
)


def foreign_bom(data: bytes) -> tuple[str, str, bytes] | None:
    """(family, codec name, mark) of a UTF-16/32 byte order mark at the start of ``data``, else None."""
    for bom in _FOREIGN_BOMS:
        if data.startswith(bom[2]):
            return bom
    return None


class SchemaCompileError(RegistryError):
    """A schema uses something the fast validator cannot express; raised at start, never per event."""


# ---------------------------------------------------------------------------------------------------------
# Compiling Avro schemas into msgspec types


class _Compiler:
    """Turns one subject's Avro schema into msgspec types; named types are resolved within the subject."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.names: dict[str, Any] = {}  # Avro name (full and short) -> msgspec type
        self.schemas: dict[str, Any] = {}  # Avro name -> Avro schema, to read defaults of named types
        self.building: set[str] = set()
        self.enum_paths: dict[str, tuple[str, ...]] = {}  # "$.items[].action" -> symbols, for reasons

    def _fullname(self, name: str, namespace: str | None) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"

    def type_of(self, avro: Any, namespace: str | None, path: str) -> Any:
        if isinstance(avro, str):
            if avro in _PRIMITIVES:
                return _PRIMITIVES[avro]
            full = self._fullname(avro, namespace)
            for candidate in (full, avro):
                if candidate in self.building:
                    raise SchemaCompileError(
                        f"{self.subject}: {path}: recursive record {avro!r} is not supported"
                    )
                if candidate in self.names:
                    return self.names[candidate]
            raise SchemaCompileError(f"{self.subject}: {path}: unknown type {avro!r}")
        if isinstance(avro, list):
            return self._union(avro, namespace, path)
        if not isinstance(avro, dict):
            raise SchemaCompileError(f"{self.subject}: {path}: cannot read type {avro!r}")
        kind = avro.get("type")
        logical = avro.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return _AwareDatetime
        if logical == "date" and kind == "int":
            return dt.date
        if kind == "record" or kind == "error":
            return self._record(avro, namespace, path)
        if kind == "enum":
            symbols = tuple(avro["symbols"])
            self.enum_paths[path] = symbols
            return self._register(avro, namespace, Literal[symbols])  # type: ignore[valid-type]
        if kind == "fixed":
            size = int(avro["size"])
            fixed = Annotated[bytes, msgspec.Meta(min_length=size, max_length=size)]
            return self._register(avro, namespace, fixed)
        if kind == "array":
            return list[self.type_of(avro["items"], namespace, f"{path}[]")]  # type: ignore[misc]
        if kind == "map":
            return dict[str, self.type_of(avro["values"], namespace, f"{path}[]")]  # type: ignore[misc]
        return self.type_of(kind, namespace, path)  # {"type": "string"} and unknown logical types

    def _register(self, avro: dict[str, Any], namespace: str | None, py_type: Any) -> Any:
        full = self._fullname(avro["name"], avro.get("namespace", namespace))
        self.names[full] = py_type
        self.names.setdefault(avro["name"], py_type)
        self.schemas[full] = avro
        self.schemas.setdefault(avro["name"], avro)
        return py_type

    def _union(self, members: list[Any], namespace: str | None, path: str) -> Any:
        names = [m if isinstance(m, str) else None for m in members]
        # int and long, float and double are one JSON kind each: keep the wider type.
        if "int" in names and "long" in names:
            members = [m for m in members if m != "int"]
        if "float" in names and "double" in names:
            members = [m for m in members if m != "float"]
        types = [self.type_of(m, namespace, path) for m in members]
        union = Union[tuple(types)] if len(types) > 1 else types[0]  # noqa: UP007 - built at run time
        try:
            msgspec.json.Decoder(union)
        except TypeError as exc:
            raise SchemaCompileError(
                f"{self.subject}: {path}: union {members} cannot be validated: {exc}"
            ) from None
        return union

    def _record(self, avro: dict[str, Any], namespace: str | None, path: str, tag: str | None = None) -> Any:
        namespace = avro.get("namespace", namespace)
        full = self._fullname(avro["name"], namespace)
        self.building.add(full)
        fields: list[tuple[Any, ...]] = []
        rename: dict[str, str] = {}
        for field in avro["fields"]:
            name = field["name"]
            if tag is not None and name == TAG_FIELD:
                continue  # carried by the union's tag
            attr = f"{name}_" if keyword.iskeyword(name) else name
            if attr != name:
                rename[attr] = name
            py_type = self.type_of(field["type"], namespace, f"{path}.{name}")
            if "default" in field:
                default = self._default(field["type"], field["default"], py_type, f"{path}.{name}")
                fields.append((attr, py_type, default))
            else:
                fields.append((attr, py_type))
        # Required fields must come first for defstruct; JSON objects are unordered so this changes nothing.
        fields.sort(key=lambda f: len(f) == 3)
        options: dict[str, Any] = {"forbid_unknown_fields": True, "gc": False, "rename": rename or None}
        if tag is not None:
            options.update(tag=tag, tag_field=TAG_FIELD)
        struct = msgspec.defstruct(avro["name"], fields, **options)
        self.building.discard(full)
        return self._register(avro, namespace, struct)

    def _default(self, avro: Any, value: Any, py_type: Any, path: str) -> Any:
        try:
            plain = _avro_default(avro, value, self.schemas)
            converted = msgspec.convert(plain, py_type, builtin_types=_PASS_THROUGH)
        except (msgspec.ValidationError, TypeError, ValueError, KeyError) as exc:
            raise SchemaCompileError(
                f"{self.subject}: {path}: default {value!r} does not fit: {exc}"
            ) from None
        if isinstance(converted, list | dict | msgspec.Struct):
            return msgspec.field(
                default_factory=lambda: msgspec.convert(plain, py_type, builtin_types=_PASS_THROUGH)
            )
        return converted

    def event_struct(self, schema: dict[str, Any]) -> type[msgspec.Struct]:
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        symbols = (
            fields.get(TAG_FIELD, {}).get("symbols") if isinstance(fields.get(TAG_FIELD), dict) else None
        )
        if symbols != [self.subject]:
            raise SchemaCompileError(
                f"{self.subject}: field {TAG_FIELD!r} must be an enum with the single symbol {self.subject!r}"
            )
        return self._record(schema, schema.get("namespace"), "$", tag=self.subject)


def _avro_default(avro: Any, value: Any, names: dict[str, Any]) -> Any:
    """An Avro JSON default turned into the Python value msgspec.convert expects (union: first branch)."""
    if isinstance(avro, str) and avro in names:
        return _avro_default(names[avro], value, names)
    if isinstance(avro, list):
        return _avro_default(avro[0], value, names)
    if isinstance(avro, dict):
        kind, logical = avro.get("type"), avro.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            unit = "milliseconds" if logical == "timestamp-millis" else "microseconds"
            return _EPOCH + dt.timedelta(**{unit: value})
        if logical == "date" and kind == "int":
            return dt.date(1970, 1, 1) + dt.timedelta(days=value)
        if kind == "fixed":
            return value.encode("latin-1")
        if kind in ("record", "error"):
            return {
                f["name"]: _avro_default(f["type"], value.get(f["name"], f.get("default")), names)
                for f in avro["fields"]
                if f["name"] in value or "default" in f
            }
        if kind == "array":
            return [_avro_default(avro["items"], v, names) for v in value]
        if kind == "map":
            return {k: _avro_default(avro["values"], v, names) for k, v in value.items()}
        if kind == "enum":
            return value
        return _avro_default(kind, value, names)
    if avro == "bytes":
        return value.encode("latin-1")  # Avro writes byte defaults as code points 0-255
    return value


def compile_event_struct(version: SchemaVersion) -> type[msgspec.Struct]:
    """The tagged msgspec Struct for one event schema version (tag = subject name)."""
    return _Compiler(version.subject).event_struct(version.schema)


class _TagOnly(msgspec.Struct):
    """Reads just the tag of a rejected line, to name the enum symbols its subject allows."""

    event_type: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Turning msgspec errors into stable reasons

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_EXPECTED_GOT = re.compile(r"^Expected `(?P<exp>[^`]+)`, got `(?P<got>[^`]+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<exp>[^`]+)`$")
_BOUND = re.compile(r"^Expected `int` (?P<op>[<>]=) (?P<bound>-?\d+)$")
_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]*)`$")
_ELEMENT = re.compile(r"\[[^\]]*\]")
_INVALID = re.compile(r"^Invalid (?:enum )?value (?P<value>.*)$", re.S)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.S)  # an unterminated one runs to the end
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(line: bytes) -> int:
    """How deep arrays/objects nest in a JSON line (brackets inside strings do not count); a Python loop."""
    depth = deepest = 0
    for byte in _STRING.sub(b"", line).translate(None, _NOT_BRACKET):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(path: str | None, name: str) -> str:
    """``$.items[0]`` + ``quantity`` -> ``items[0].quantity`` (top-level names stay bare)."""
    if not path or path == "$":
        return name
    return f"{path[2:]}.{name}"


def _explain(
    message: str, known: tuple[str, ...], enums: Callable[[str], tuple[str, ...] | None]
) -> InvalidEvent:
    match = _AT.match(message)
    msg, path = (match["msg"], match["path"]) if match else (message, None)
    where = f"field {path}: " if path else ""
    if m := _FIELD.match(msg):
        name = _join(path, m["name"])
        if m["what"] == "missing required":
            return InvalidEvent(f"missing required field '{_short(name)}'", MISSING_FIELD)
        return InvalidEvent(f"unknown field '{_short(name)}'", UNKNOWN_FIELD)
    if path == f"$.{TAG_FIELD}" and (m := _INVALID.match(msg)):
        return InvalidEvent(
            f"unknown {TAG_FIELD} {_short(m['value'])} (known: {', '.join(known)})", UNKNOWN_EVENT_TYPE
        )
    if m := _EXPECTED_GOT.match(msg):
        if path is None and m["exp"] == "object":
            return InvalidEvent(f"expected a JSON object, got {m['got']}", NOT_AN_OBJECT)
        return InvalidEvent(f"{where}expected {m['exp']}, got {m['got']}", WRONG_TYPE)
    if m := _BOUND.match(msg):
        bound = int(m["bound"])
        avro = "int" if bound in (INT_MIN, INT_MAX) else "long"
        return InvalidEvent(f"{where}out of range for Avro {avro} (must be {m['op']} {bound})", OUT_OF_RANGE)
    if msg.startswith("Expected `datetime` with a timezone"):
        return InvalidEvent(
            f"{where}timestamp has no timezone (add Z or an offset like +01:00)", NAIVE_TIMESTAMP
        )
    if msg.startswith("Invalid RFC3339"):
        return InvalidEvent(f"{where}not an RFC 3339 timestamp", INVALID_VALUE)
    if m := _INVALID.match(msg):
        symbols = enums(path) if path and msg.startswith("Invalid enum") else None
        allowed = f" (allowed: {', '.join(symbols)})" if symbols else ""
        return InvalidEvent(f"{where}invalid value {_short(m['value'])}{allowed}", INVALID_VALUE)
    if m := _EXPECTED.match(msg):
        return InvalidEvent(f"{where}expected {m['exp']}", WRONG_TYPE)
    text = msg.replace("`", "")
    return InvalidEvent(f"{where}{text[:1].lower()}{text[1:]}", INVALID_VALUE)


# ---------------------------------------------------------------------------------------------------------
# The decoder


class EventDecoder:
    """Validates JSON event lines against the latest schema of every subject in a registry group."""

    def __init__(
        self,
        registry: SchemaRegistry,
        *,
        group: str = "events",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        subjects = registry.subjects(group)
        if not subjects:
            raise SchemaCompileError(f"the registry has no subjects in group {group!r}")
        self.max_event_bytes = max_event_bytes
        self.subjects: tuple[str, ...] = tuple(subjects)
        self._versions: dict[type, SchemaVersion] = {}
        self._enum_paths: dict[str, dict[str, tuple[str, ...]]] = {}
        for subject in subjects:
            latest = registry.latest(subject)
            compiler = _Compiler(subject)
            self._versions[compiler.event_struct(latest.schema)] = latest
            self._enum_paths[subject] = compiler.enum_paths
        union = Union[tuple(self._versions)]  # noqa: UP007 - built at run time
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(union).decode

    def check(self, line: bytes) -> InvalidEvent | None:
        """None when the line is a valid event, else why not; never raises for bad input."""
        if len(line) > self.max_event_bytes:
            return self._too_large(line)
        try:
            self._decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            return self._reason(line, exc)
        return None

    def validate(self, line: bytes) -> str | None:
        """The reason a line is rejected, or None; the intake's hot path (no dicts built)."""
        error = self.check(line)
        return None if error is None else error.reason

    def decode(self, line: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
        """The subject's latest schema and a record for fastavro (``event_time`` an aware datetime)."""
        if len(line) > self.max_event_bytes:
            raise self._too_large(line)
        try:
            event = self._decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise self._reason(line, exc) from None
        record = msgspec.to_builtins(event, builtin_types=_PASS_THROUGH)
        return self._versions[type(event)], record

    def _symbols(self, line: bytes, path: str) -> tuple[str, ...] | None:
        try:
            subject = msgspec.json.decode(line, type=_TagOnly).event_type
        except (msgspec.DecodeError, RecursionError):
            return None
        return self._enum_paths.get(subject or "", {}).get(_ELEMENT.sub("[]", path))

    def _too_large(self, line: bytes) -> InvalidEvent:
        return InvalidEvent(
            f"event is {len(line)} bytes, over the {self.max_event_bytes}-byte limit", TOO_LARGE
        )

    def _reason(self, line: bytes, exc: Exception) -> InvalidEvent:
        if not line.strip():
            return InvalidEvent("empty line", EMPTY)
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                return InvalidEvent(f"not valid UTF-8 at byte {bad.start}", INVALID_UTF8)
        # Counting brackets is cheap and bounds the depth, so the exact scan runs only on bracket-heavy lines.
        if isinstance(exc, RecursionError) or line.count(b"[") + line.count(b"{") > MAX_NESTING_DEPTH:
            depth = nesting_depth(line)
            if depth > MAX_NESTING_DEPTH:
                return InvalidEvent(
                    f"JSON nested {depth} levels deep, over the {MAX_NESTING_DEPTH}-level limit",
                    TOO_DEEPLY_NESTED,
                )
            if isinstance(exc, RecursionError):  # only when the caller's stack is already nearly full
                return InvalidEvent(
                    f"JSON nested too deeply to validate here ({depth} levels)", TOO_DEEPLY_NESTED
                )
        if isinstance(exc, msgspec.ValidationError):
            return _explain(str(exc), self.subjects, lambda path: self._symbols(line, path))
        message = str(exc)
        if message.startswith("JSON is malformed: "):
            # msgspec's offset is where its parser stopped, at or just after the fault: say "near".
            message = message[len("JSON is malformed: ") :].replace("(byte ", "(near byte ")
        elif message == "Input data was truncated":
            message = "truncated"
        return InvalidEvent(f"malformed JSON: {message}", MALFORMED_JSON)
