"""The msgspec validator agrees with the fastavro reference, and explains each kind of bad input clearly."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import (
    EMPTY,
    INVALID_UTF8,
    INVALID_VALUE,
    MALFORMED_JSON,
    MAX_NESTING_DEPTH,
    MISSING_FIELD,
    NAIVE_TIMESTAMP,
    NOT_AN_OBJECT,
    OUT_OF_RANGE,
    TOO_DEEPLY_NESTED,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_FIELD,
    WRONG_ENCODING,
    WRONG_TYPE,
    EventDecoder,
    InvalidEvent,
    SchemaCompileError,
    foreign_bom,
    nesting_depth,
    wrong_encoding,
)

UTC = dt.UTC


@pytest.fixture(scope="module")
def decoder(registry: SchemaRegistry) -> EventDecoder:
    return EventDecoder(registry)


def _line(record: dict[str, Any]) -> bytes:
    """JSON as a producer sends it (stdlib json: any int size, non-ASCII text kept as UTF-8)."""
    return json.dumps(record, ensure_ascii=False, default=_iso).encode("utf-8")


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(value)


def _reference_record(line: bytes) -> dict[str, Any]:
    """What the reference validates: the parsed JSON with an aware RFC 3339 event_time made a datetime."""
    record = json.loads(line)
    stamp = record.get("event_time")
    if isinstance(stamp, str):
        try:
            parsed = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return record
        if parsed.tzinfo is not None:
            record["event_time"] = parsed
    return record


# -- random records driven by the Avro schema --------------------------------------------------------------

_STRINGS = ("", "a", "plain text", "ünïcødé ✓", "emoji 🛒", 'quote " and \\ slash', "x" * 300)


def _value(rng: random.Random, avro: Any, names: dict[str, Any]) -> Any:
    if isinstance(avro, list):
        return _value(rng, rng.choice(avro), names)
    if isinstance(avro, str) and avro in names:
        return _value(rng, names[avro], names)
    if isinstance(avro, dict):
        kind = avro["type"]
        if "name" in avro:
            names[avro["name"]] = avro
        if avro.get("logicalType") == "timestamp-millis":
            ms = rng.randrange(0, 4_000_000_000_000)
            tz = rng.choice((UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-7))))
            return dt.datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
        if kind == "record":
            record = {}
            for f in avro["fields"]:
                if "default" in f and rng.random() < 0.3:
                    continue  # absent: the default applies
                record[f["name"]] = _value(rng, f["type"], names)
            return record
        if kind == "enum":
            return rng.choice(avro["symbols"])
        if kind == "array":
            return [_value(rng, avro["items"], names) for _ in range(rng.randrange(0, 4))]
        return _value(rng, kind, names)
    return {
        "null": lambda: None,
        "string": lambda: rng.choice(_STRINGS),
        "int": lambda: rng.choice((0, 1, -1, 42, 2**31 - 1, -(2**31), rng.randrange(-(2**31), 2**31))),
        "long": lambda: rng.choice((0, -5, 2**63 - 1, -(2**63), rng.randrange(-(2**63), 2**63))),
        "boolean": lambda: rng.random() < 0.5,
        "double": lambda: rng.uniform(-1e9, 1e9),
    }[avro]()


def _fields(schema: dict[str, Any], record: dict[str, Any], path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, avro type) of every field present in the record, nested records and array items included."""
    found = []
    for f in schema["fields"]:
        if f["name"] not in record:
            continue
        here = (*path, f["name"])
        found.append((here, f["type"]))
        ftype, value = f["type"], record[f["name"]]
        if isinstance(ftype, dict) and ftype.get("type") == "array" and value:
            items = ftype["items"]
            if isinstance(items, dict) and items.get("type") == "record":
                index = len(value) - 1
                found += _fields(items, value[index], (*here, index))
    return found


def _parent(record: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        record = record[part]
    return record, path[-1]


def _mutate(rng: random.Random, record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """One random change that may or may not break the record; the reference decides which."""
    record = copy.deepcopy(record)
    # Not event_time: its JSON form (RFC 3339 text) is not its Avro form (a long); see the dedicated tests.
    candidates = [(p, t) for p, t in _fields(schema, record) if p[-1] != "event_time"]
    path, avro = rng.choice(candidates)
    parent, key = _parent(record, path)
    action = rng.choice(("delete", "type", "type", "range", "enum", "null"))
    if action == "delete":
        del parent[key]
    elif action == "null":
        parent[key] = None
    elif action == "range" and avro in ("int", "long"):
        bound = 2**31 if avro == "int" else 2**63
        parent[key] = rng.choice((bound, -bound - 1, bound * 4, 2**64 + 1))
    elif action == "enum" and isinstance(avro, dict) and avro.get("type") == "enum":
        parent[key] = rng.choice(("nope", avro["symbols"][0].upper(), ""))
    else:
        parent[key] = rng.choice(("text", 7, 7.5, 1.0, True, False, [], [1], {}, {"a": 1}, 2**40))
    return record


def test_valid_random_records_agree_with_the_reference(
    registry: SchemaRegistry, decoder: EventDecoder
) -> None:
    rng = random.Random(1)
    for subject in registry.subjects("events"):
        latest = registry.latest(subject)
        for _ in range(300):
            record = _value(rng, copy.deepcopy(latest.schema), {})
            line = _line(record)
            assert decoder.validate(line) is None, (line, decoder.validate(line))
            assert registry.validate(subject, _reference_record(line)) == []
            version, decoded = decoder.decode(line)
            assert version == latest
            # Defaults fill the absent fields, values are unchanged, and the instant is kept.
            defaults = {f["name"]: f["default"] for f in latest.schema["fields"] if "default" in f}
            assert decoded == {**defaults, **record}
            assert decoded["event_time"].utcoffset() == record["event_time"].utcoffset()
            assert registry.validate(subject, decoded) == []


def test_invalid_random_records_agree_with_the_reference(
    registry: SchemaRegistry, decoder: EventDecoder
) -> None:
    rng = random.Random(2)
    verdicts = {True: 0, False: 0}
    for subject in registry.subjects("events"):
        schema = registry.latest(subject).schema
        for _ in range(700):
            record = _mutate(rng, _value(rng, copy.deepcopy(schema), {}), schema)
            line = _line(record)
            ours = decoder.check(line)
            reference = registry.validate(subject, _reference_record(line))
            assert (ours is None) == (reference == []), (line, ours and ours.reason, reference)
            verdicts[ours is None] += 1
    # The mutations must exercise both outcomes, or the agreement above says little.
    assert verdicts[True] > 100 and verdicts[False] > 1000, verdicts


def test_sample_stream_agrees_with_the_reference(registry: SchemaRegistry, decoder: EventDecoder) -> None:
    from lake_assets.samples.events import generate_events

    for line in generate_events(3000, days=1, seed=5):
        error = decoder.check(line)
        if error is not None:
            continue
        version, record = decoder.decode(line)
        assert registry.validate(version.subject, record) == []
        assert registry.validate(version.subject, _reference_record(line)) == []


def test_decoded_record_writes_to_avro_and_back(registry: SchemaRegistry, decoder: EventDecoder) -> None:
    line = (
        b'{"event_id":"e1","event_type":"order_placed","event_time":"2026-11-24T10:00:00.123+01:00",'
        b'"session_id":"s","user_id":"u","order_id":"o","currency":"EUR",'
        b'"items":[{"product_id":"p","quantity":2,"unit_price_cents":250}],"total_cents":500}'
    )
    version, record = decoder.decode(line)
    assert version.schema_id == "order_placed:v2"
    assert record["coupon_code"] is None
    assert record["event_time"] == dt.datetime(2026, 11, 24, 9, 0, 0, 123000, tzinfo=UTC)
    buffer = io.BytesIO()
    fastavro.writer(buffer, version.parsed, [record])
    buffer.seek(0)
    (back,) = list(fastavro.reader(buffer))
    assert back == {**record, "event_time": dt.datetime(2026, 11, 24, 9, 0, 0, 123000, tzinfo=UTC)}


# -- bad input, one kind at a time --------------------------------------------------------------------------

PAGE_VIEW = {
    "event_id": "e1",
    "event_type": "page_view",
    "event_time": "2026-11-24T10:00:00Z",
    "session_id": "s1",
    "page_url": "/",
    "page_type": "home",
    "device": "mobile",
}
ORDER = {
    "event_id": "e2",
    "event_type": "order_placed",
    "event_time": "2026-11-24T10:00:00Z",
    "session_id": "s1",
    "user_id": "u1",
    "order_id": "o1",
    "currency": "EUR",
    "items": [{"product_id": "p1", "quantity": 1, "unit_price_cents": 100}],
    "total_cents": 100,
}


_DROP = object()


def _with(base: dict[str, Any], **changes: Any) -> bytes:
    record = {**base, **changes}
    return _line({k: v for k, v in record.items() if v is not _DROP})


VALID = _with(PAGE_VIEW)


@pytest.mark.parametrize(
    ("line", "kind", "reason"),
    [
        (b"{", MALFORMED_JSON, "malformed JSON: truncated"),
        (b'{"event_id": "e1",}', MALFORMED_JSON, "malformed JSON: trailing comma in object (near byte 18)"),
        (VALID + b" x", MALFORMED_JSON, f"malformed JSON: trailing characters (near byte {len(VALID) + 2})"),
        (b'{"event_id": "\\ud800"}', MALFORMED_JSON, None),
        (
            _with(PAGE_VIEW, event_type="wishlist_add"),
            UNKNOWN_EVENT_TYPE,
            "unknown event_type 'wishlist_add' (known: cart_update, order_placed, page_view)",
        ),
        (_with(PAGE_VIEW, event_type=3), WRONG_TYPE, "field $.event_type: expected str"),
        (_with(PAGE_VIEW, event_type=_DROP), MISSING_FIELD, "missing required field 'event_type'"),
        (_with(PAGE_VIEW, session_id=_DROP), MISSING_FIELD, "missing required field 'session_id'"),
        (
            _with(ORDER, items=[{"product_id": "p", "quantity": 1}]),
            MISSING_FIELD,
            "missing required field 'items[0].unit_price_cents'",
        ),
        (_with(PAGE_VIEW, campaign="x"), UNKNOWN_FIELD, "unknown field 'campaign'"),
        (
            _with(ORDER, items=[{"product_id": "p", "quantity": 1, "unit_price_cents": 1, "sku": "s"}]),
            UNKNOWN_FIELD,
            "unknown field 'items[0].sku'",
        ),
        (_with(ORDER, total_cents="100"), WRONG_TYPE, "field $.total_cents: expected int, got str"),
        (_with(ORDER, total_cents=1.0), WRONG_TYPE, "field $.total_cents: expected int, got float"),
        (_with(PAGE_VIEW, page_url=None), WRONG_TYPE, "field $.page_url: expected str, got null"),
        (_with(PAGE_VIEW, user_id=5), WRONG_TYPE, "field $.user_id: expected str | null, got int"),
        (
            _with(ORDER, items=[{"product_id": "p", "quantity": True, "unit_price_cents": 1}]),
            WRONG_TYPE,
            "field $.items[0].quantity: expected int, got bool",
        ),
        (
            _with(ORDER, items=[{"product_id": "p", "quantity": 2**31, "unit_price_cents": 1}]),
            OUT_OF_RANGE,
            "field $.items[0].quantity: out of range for Avro int (must be <= 2147483647)",
        ),
        (
            _with(ORDER, items=[{"product_id": "p", "quantity": -(2**31) - 1, "unit_price_cents": 1}]),
            OUT_OF_RANGE,
            "field $.items[0].quantity: out of range for Avro int (must be >= -2147483648)",
        ),
        (
            _with(ORDER, total_cents=2**63),
            OUT_OF_RANGE,
            "field $.total_cents: out of range for Avro long (must be <= 9223372036854775807)",
        ),
        (
            _with(ORDER, total_cents=-(2**70)),
            OUT_OF_RANGE,
            "field $.total_cents: out of range for Avro long (must be >= -9223372036854775808)",
        ),
        (
            _with(PAGE_VIEW, event_time="2026-11-24T10:00:00"),
            NAIVE_TIMESTAMP,
            "field $.event_time: timestamp has no timezone (add Z or an offset like +01:00)",
        ),
        (
            _with(PAGE_VIEW, event_time="24/11/2026 10:00"),
            INVALID_VALUE,
            "field $.event_time: not an RFC 3339 timestamp",
        ),
        (
            _with(PAGE_VIEW, event_time=1764000000000),
            WRONG_TYPE,
            "field $.event_time: expected datetime, got int",
        ),
        (
            _with(PAGE_VIEW, device="smart_tv"),
            INVALID_VALUE,
            "field $.device: invalid value 'smart_tv' (allowed: desktop, mobile, tablet)",
        ),
        (b"[1, 2]", NOT_AN_OBJECT, "expected a JSON object, got array"),
        (b'"page_view"', NOT_AN_OBJECT, "expected a JSON object, got str"),
        (b"", EMPTY, "empty line"),
        (b" \t\r", EMPTY, "empty line"),
    ],
)
def test_each_bad_input_has_a_stable_reason(
    decoder: EventDecoder, line: bytes, kind: str, reason: str | None
) -> None:
    error = decoder.check(line)
    assert error is not None
    assert error.kind == kind
    if reason is not None:
        assert error.reason == reason
    assert decoder.validate(line) == error.reason
    with pytest.raises(InvalidEvent) as raised:
        decoder.decode(line)
    assert (raised.value.reason, raised.value.kind, str(raised.value)) == (error.reason, kind, error.reason)


def test_invalid_utf8_names_the_byte(decoder: EventDecoder) -> None:
    good = _with(PAGE_VIEW, page_url="/search?q=crème")
    assert decoder.validate(good) is None
    bad = good.replace("è".encode(), b"\xe8")  # the same text from a Latin-1 producer
    position = bad.index(b"\xe8")
    error = decoder.check(bad)
    assert error is not None
    assert (error.kind, error.reason) == (INVALID_UTF8, f"not valid UTF-8 at byte {position}")
    # Outside a string too, and even when the JSON is also broken: the encoding is the first problem.
    error = decoder.check(b'{"event_id\xff": 1')
    assert error is not None and error.reason == "not valid UTF-8 at byte 10"


def test_size_limit_comes_from_the_constructor(registry: SchemaRegistry, decoder: EventDecoder) -> None:
    line = _with(PAGE_VIEW, page_url="/" + "x" * 300_000)
    error = decoder.check(line)
    assert error is not None
    assert (error.kind, error.reason) == (
        TOO_LARGE,
        f"event is {len(line)} bytes, over the 262144-byte limit",
    )
    small = EventDecoder(registry, max_event_bytes=200)
    ok = _with(PAGE_VIEW)
    assert len(ok) <= 200 and small.validate(ok) is None
    longer = _with(PAGE_VIEW, page_url="/" + "y" * 100)
    assert small.validate(longer) == f"event is {len(longer)} bytes, over the 200-byte limit"


def _nested_before_tag(depth: int, base: bytes = VALID) -> bytes:
    """``{"a":{"a":...1}...,"event_type":...}``: ``depth`` objects, the deep part before the tag."""
    return b'{"a":' * depth + b"1" + b"}" * (depth - 1) + b"," + base[1:]


@pytest.mark.parametrize(
    ("line", "depth"),
    [
        (_nested_before_tag(1000), 1000),  # msgspec raises RecursionError on this one
        (_nested_before_tag(MAX_NESTING_DEPTH + 1), MAX_NESTING_DEPTH + 1),
        (b'{"x":' + b"[" * 999 + b"]" * 999 + b"," + VALID[1:], 1000),
        (b"[" * 5000 + b"]" * 5000, 5000),  # not an object either: the depth is named first
        (b"[" * 5000, 5000),  # truncated too
        (VALID[:-1] + b',"x":' + b"[" * 2000 + b"]" * 2000 + b"}", 2001),  # after the tag
        # The enum error comes first; naming its allowed symbols re-decodes the line (RecursionError there).
        (_with(PAGE_VIEW, device="tv")[:-1] + b',"x":' + b'{"a":' * 1000 + b"1" + b"}" * 1001, 1001),
    ],
    ids=["before-tag", "just-over", "arrays", "top-level", "unclosed", "after-tag", "after-enum-error"],
)
def test_a_line_nested_too_deeply_is_rejected_with_the_depth(
    decoder: EventDecoder, line: bytes, depth: int
) -> None:
    error = decoder.check(line)
    assert error is not None
    assert (error.kind, error.reason) == (
        TOO_DEEPLY_NESTED,
        f"JSON nested {depth} levels deep, over the {MAX_NESTING_DEPTH}-level limit",
    )
    with pytest.raises(InvalidEvent) as raised:
        decoder.decode(line)
    assert (raised.value.kind, raised.value.reason) == (error.kind, error.reason)


def test_nesting_up_to_the_limit_gets_the_usual_reason(decoder: EventDecoder) -> None:
    at_limit = _nested_before_tag(MAX_NESTING_DEPTH)
    assert nesting_depth(at_limit) == MAX_NESTING_DEPTH
    assert decoder.validate(at_limit) == "unknown field 'a'"
    # Brackets inside strings are text, not nesting, even escaped quotes and an unterminated string.
    assert decoder.validate(_with(PAGE_VIEW, page_url='/"[{' * 100)) is None
    assert decoder.validate(_with(PAGE_VIEW, campaign="[" * 100)) == "unknown field 'campaign'"
    assert decoder.validate(b'{"event_id": "' + b"[" * 100) == "malformed JSON: truncated"
    assert nesting_depth(b'[{"a": "]]\\\\", "b": "\\"[", "c": [[]]}]') == 4  # escaped \\ and "


def test_a_deep_line_from_a_nearly_full_stack_is_still_a_reason(decoder: EventDecoder) -> None:
    """msgspec's RecursionError comes at a depth that depends on the caller's stack; it is never raised."""
    line = _nested_before_tag(MAX_NESTING_DEPTH // 2)
    frames, frame = 0, sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + MAX_NESTING_DEPTH // 4)
    try:
        error = decoder.check(line)
        valid = decoder.check(VALID)
    finally:
        sys.setrecursionlimit(limit)
    assert valid is None
    assert error is not None
    assert (error.kind, error.reason) == (
        TOO_DEEPLY_NESTED,
        f"JSON nested too deeply to validate here ({MAX_NESTING_DEPTH // 2} levels)",
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            "\ufeff{}".encode("utf-16-le"),
            "file is UTF-16LE (byte order mark FF FE), not UTF-8: re-encode it as UTF-8 "
            "(e.g. iconv -f UTF-16 -t UTF-8)",
        ),
        (
            "\ufeff{}".encode("utf-16-be"),
            "file is UTF-16BE (byte order mark FE FF), not UTF-8: re-encode it as UTF-8 "
            "(e.g. iconv -f UTF-16 -t UTF-8)",
        ),
        (
            "\ufeff{}".encode("utf-32-le"),
            "file is UTF-32LE (byte order mark FF FE 00 00), not UTF-8: re-encode it as UTF-8 "
            "(e.g. iconv -f UTF-32 -t UTF-8)",
        ),
        (
            "\ufeff{}".encode("utf-32-be"),
            "file is UTF-32BE (byte order mark 00 00 FE FF), not UTF-8: re-encode it as UTF-8 "
            "(e.g. iconv -f UTF-32 -t UTF-8)",
        ),
    ],
)
def test_a_utf16_or_utf32_byte_order_mark_names_the_encoding_and_the_fix(data: bytes, reason: str) -> None:
    bom = foreign_bom(data)
    assert bom is not None
    error = wrong_encoding(bom)
    assert (error.kind, error.reason) == (WRONG_ENCODING, reason)


def test_utf8_and_plain_input_have_no_foreign_byte_order_mark() -> None:
    for data in (b"", b"{}", "\ufeff{}".encode("utf-8"), b"\xff", b"\x00\x00\xfe"):
        assert foreign_bom(data) is None


def test_timestamps_keep_their_instant(decoder: EventDecoder) -> None:
    for text in ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00+01:00", "2026-11-24T05:00:00.000-05:00"):
        _, record = decoder.decode(_with(PAGE_VIEW, event_time=text))
        assert record["event_time"].tzinfo is not None
        assert record["event_time"] == dt.datetime(2026, 11, 24, 10, tzinfo=UTC)


def test_unknown_fields_and_naive_times_are_stricter_than_fastavro(
    registry: SchemaRegistry, decoder: EventDecoder
) -> None:
    """The two documented divergences: the reference accepts both, the intake must not."""
    extra = json.loads(_with(PAGE_VIEW, campaign="x"))
    extra["event_time"] = dt.datetime(2026, 11, 24, tzinfo=UTC)
    assert registry.validate("page_view", extra) == []
    assert decoder.check(_with(PAGE_VIEW, campaign="x")).kind == UNKNOWN_FIELD  # type: ignore[union-attr]
    naive = {**json.loads(_with(PAGE_VIEW)), "event_time": dt.datetime(2026, 11, 24)}
    assert registry.validate("page_view", naive) == []
    assert decoder.check(_with(PAGE_VIEW, event_time="2026-11-24T00:00:00")).kind == NAIVE_TIMESTAMP  # type: ignore[union-attr]


# -- schemas using the rest of Avro -------------------------------------------------------------------------

RICH_SCHEMA = {
    "type": "record",
    "name": "Rich",
    "namespace": "t",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "event_type", "type": {"type": "enum", "name": "RichType", "symbols": ["rich"]}},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "flag", "type": "boolean"},
        {"name": "ratio", "type": "double"},
        {"name": "small", "type": "float", "default": 1.5},
        {"name": "blob", "type": "bytes", "default": "\u00ff"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "tags", "type": {"type": "map", "values": "long"}, "default": {}},
        {"name": "where", "type": {"type": "record", "name": "Place", "fields": [
            {"name": "city", "type": "string", "default": "Paris"},
            {"name": "zip", "type": ["null", "int"], "default": None},
        ]}},
        {"name": "other_place", "type": ["null", "Place"], "default": None},
        {"name": "home", "type": "t.Place", "default": {"city": "Rome"}},
        {"name": "id_or_name", "type": ["int", "string"]},
        {"name": "from", "type": "string", "default": "web"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}, "default": 0},
        {"name": "scores", "type": {"type": "array", "items": "int"}, "default": [1, 2]},
    ],
}  # fmt: skip


def _registry_with(tmp_path: Path, subject: str, schema: dict[str, Any]) -> SchemaRegistry:
    folder = tmp_path / "schemas" / "events" / subject
    folder.mkdir(parents=True)
    (folder / "v1.avsc").write_text(json.dumps(schema))
    return SchemaRegistry.from_directory(tmp_path / "schemas")


def test_rich_schema_types_and_defaults(tmp_path: Path) -> None:
    registry = _registry_with(tmp_path, "rich", RICH_SCHEMA)
    decoder = EventDecoder(registry)
    base = {
        "event_id": "e",
        "event_type": "rich",
        "event_time": "2026-11-24T10:00:00Z",
        "flag": True,
        "ratio": 3,
        "digest": "AAECAw==",
        "where": {},
        "id_or_name": "x",
    }
    version, record = decoder.decode(_line(base))
    assert record == {
        **base,
        "event_time": dt.datetime(2026, 11, 24, 10, tzinfo=UTC),
        "ratio": 3.0,
        "small": 1.5,
        "blob": b"\xff",
        "digest": b"\x00\x01\x02\x03",
        "tags": {},
        "where": {"city": "Paris", "zip": None},
        "other_place": None,
        "home": {"city": "Rome", "zip": None},
        "from": "web",
        "day": dt.date(1970, 1, 1),
        "scores": [1, 2],
    }
    assert registry.validate("rich", record) == []
    _, again = decoder.decode(_line(base))
    assert again["scores"] is not record["scores"]  # mutable defaults are not shared between events
    full = {**base, "other_place": {"city": "Oslo", "zip": 150}, "tags": {"a": 2**62}, "id_or_name": 4,
            "from": "app", "day": "2026-11-24", "blob": "aGk="}  # fmt: skip
    _, record = decoder.decode(_line(full))
    assert record["other_place"] == {"city": "Oslo", "zip": 150}
    assert record["day"] == dt.date(2026, 11, 24) and record["blob"] == b"hi" and record["id_or_name"] == 4
    assert registry.validate("rich", record) == []
    bad = {
        "digest": ("AAEC", "field $.digest: expected bytes of length >= 4"),
        "tags": ({"a": "x"}, "field $.tags[...]: expected int, got str"),
        "other_place": ({"city": "Oslo", "country": "NO"}, "unknown field 'other_place.country'"),
        "id_or_name": (1.5, "field $.id_or_name: expected int | str, got float"),
        "flag": (1, "field $.flag: expected bool, got int"),
        "where": ({"zip": 2**31}, "field $.where.zip: out of range for Avro int (must be <= 2147483647)"),
    }
    for name, (value, reason) in bad.items():
        assert decoder.validate(_line({**base, name: value})) == reason, name


def test_schemas_the_validator_cannot_express_fail_at_start(tmp_path: Path) -> None:
    two_records = copy.deepcopy(RICH_SCHEMA)
    two_records["fields"].append(
        {"name": "either", "type": ["Place", {"type": "record", "name": "Other", "fields": []}]}
    )
    with pytest.raises(SchemaCompileError, match=r"rich: \$\.either: union"):
        EventDecoder(_registry_with(tmp_path / "a", "rich", two_records))
    wrong_tag = copy.deepcopy(RICH_SCHEMA)
    wrong_tag["fields"][1]["type"]["symbols"] = ["rich", "poor"]
    with pytest.raises(SchemaCompileError, match="single symbol 'rich'"):
        EventDecoder(_registry_with(tmp_path / "b", "rich", wrong_tag))
    with pytest.raises(SchemaCompileError, match="no subjects in group 'events'"):
        EventDecoder(SchemaRegistry({}))
