"""The DMS landing format: our writer, the parser on both CSV variants and Parquet, and the merge rule."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake_assets.sources.cdc.dms_format import (
    NOT_CARRIED_KEY,
    UNCHANGED,
    ChangeRow,
    DmsFormatError,
    DmsOptions,
    cdc_file_name,
    current_state,
    in_landing_order,
    is_dms_name,
    is_not_carried_name,
    load_file_name,
    not_carried_key,
    parse_dms_file,
    parse_key,
    read_dms_file,
    read_not_carried,
    table_prefix,
    write_changes,
    write_full_load,
)
from lake_assets.storage.object_store import LocalObjectStore

FIXTURES = Path(__file__).parent / "dms_fixtures"
TS = dt.datetime(2026, 11, 24, 22, 15, 30, 123456)
COLUMNS = ["id", "name", "note"]


def _rows() -> list[ChangeRow]:
    return [
        ChangeRow("I", TS, "0001", {"id": "1", "name": "a,b", "note": None}),
        ChangeRow("I", TS, "0002", {"id": "2", "name": "", "note": 'say "hi"\nbye'}),
        ChangeRow("U", TS, "0003", {"id": "1", "name": "NULL", "note": "x"}),
        ChangeRow("D", TS, "0004", {"id": "2", "name": None, "note": None}),
    ]


def _land_fixtures(store: LocalObjectStore, variant: str, source: str) -> list[str]:
    for path in sorted((FIXTURES / variant).rglob("*.csv")):
        rel = path.relative_to(FIXTURES / variant).as_posix()
        store.put_bytes(f"landing/cdc/{source}/{rel}", path.read_bytes())
    keys = store.list_keys(f"landing/cdc/{source}/")
    assert keys[0].endswith(".csv") and "LOAD" not in keys[0]  # a listing puts change files first
    return in_landing_order(keys)


def test_names_follow_dms() -> None:
    assert load_file_name(1) == "LOAD00000001.csv"
    assert load_file_name(10, "parquet") == "LOAD0000000A.parquet"
    assert cdc_file_name(TS) == "20261124-221530123.csv"
    assert table_prefix("pg", "public", "orders") == "landing/cdc/pg/public/orders/"
    key = parse_key("landing/cdc/pg/public/orders/20141029-1134010000.csv")
    assert (key.source, key.schema, key.table, key.full_load, key.data_format) == (
        "pg",
        "public",
        "orders",
        False,
        "csv",
    )
    assert parse_key("landing/cdc/pg/public/orders/LOAD0000001F.parquet").full_load
    with pytest.raises(DmsFormatError, match="neither"):
        parse_key("landing/cdc/pg/public/orders/part-0001.csv")


@pytest.mark.parametrize("header", [True, False])
def test_csv_round_trip_keeps_nulls_empty_strings_and_quotes(
    local_store: LocalObjectStore, header: bool
) -> None:
    options = DmsOptions(add_column_name=header)
    key = write_changes(local_store, "src", "public", "t", COLUMNS, _rows(), options)
    assert key == "landing/cdc/src/public/t/20261124-221530123.csv"
    text = local_store.get_bytes(key).decode()
    assert text.startswith("Op,dms_commit_ts,id,name,note,AR_H_CHANGE_SEQ\n") is header
    assert 'I,2026-11-24 22:15:30.123456,1,"a,b",,0001' in text
    assert ',2,"",' in text  # an empty string is quoted, NULL is not
    parsed = parse_dms_file(
        key, local_store.get_bytes(key), None if header else [*COLUMNS, "AR_H_CHANGE_SEQ"]
    )
    assert parsed == _rows()


def test_full_load_without_op_and_split_into_hex_counted_files(local_store: LocalObjectStore) -> None:
    options = DmsOptions(include_op_for_full_load=False, add_column_name=False, max_rows_per_load_file=2)
    rows = [ChangeRow("I", TS, f"{i:04d}", {"id": str(i), "name": f"n{i}", "note": None}) for i in range(5)]
    keys = write_full_load(local_store, "src", "public", "t", COLUMNS, rows, options)
    assert [k.rsplit("/", 1)[1] for k in keys] == ["LOAD00000001.csv", "LOAD00000002.csv", "LOAD00000003.csv"]
    assert local_store.get_bytes(keys[0]).decode().splitlines()[0] == "2026-11-24 22:15:30.123456,0,n0,,0000"
    parsed = [
        r for k in keys for r in parse_dms_file(k, local_store.get_bytes(k), [*COLUMNS, "AR_H_CHANGE_SEQ"])
    ]
    assert parsed == rows
    # A smaller reload leaves no stale LOAD file (nor a stale sidecar) behind.
    keys = write_full_load(local_store, "src", "public", "t", COLUMNS, rows[:1], options)
    assert local_store.list_keys("landing/cdc/src/public/t/") == [*keys, not_carried_key(keys[0])]
    # A reload to Parquet leaves no CSV sidecar behind: Parquet keeps its list inside the file.
    keys = write_full_load(
        local_store, "src", "public", "t", COLUMNS, rows[:1], DmsOptions(data_format="parquet")
    )
    assert local_store.list_keys("landing/cdc/src/public/t/") == keys


def test_parquet_round_trip_is_typed(local_store: LocalObjectStore) -> None:
    options = DmsOptions(data_format="parquet")
    rows = [
        ChangeRow("I", TS, "0001", {"id": "1", "ok": "t", "amount": "1.5"}),
        ChangeRow("U", TS, "0002", {"id": "1", "ok": "f", "amount": None}),
    ]
    types = {"id": pa.int64(), "ok": pa.bool_(), "amount": pa.float64()}
    key = write_changes(local_store, "src", "s", "t", ["id", "ok", "amount"], rows, options, types)
    assert key.endswith("/20261124-221530123.parquet")
    table = pq.read_table(io.BytesIO(local_store.get_bytes(key)))
    assert table.column_names == ["Op", "dms_commit_ts", "id", "ok", "amount", "AR_H_CHANGE_SEQ"]
    assert table.schema.field("id").type == pa.int64() and table.schema.field("Op").type == pa.string()
    parsed = parse_dms_file(key, local_store.get_bytes(key))
    assert [r.values for r in parsed] == [
        {"id": 1, "ok": True, "amount": 1.5},
        {"id": 1, "ok": False, "amount": None},
    ]
    assert [r.op for r in parsed] == ["I", "U"] and parsed[0].commit_ts == TS


def test_parquet_tells_a_null_from_a_value_not_carried(local_store: LocalObjectStore) -> None:
    """A text and a typed column, each once NULL and once not carried: the parser tells which is which."""
    options = DmsOptions(data_format="parquet")
    rows = [
        ChangeRow("I", TS, "0001", {"id": 1, "doc": "long text", "qty": 5}),
        ChangeRow("I", TS, "0002", {"id": 2, "doc": "<unchanged>", "qty": 7}),  # that text, as a value
        ChangeRow("U", TS, "0003", {"id": 1, "doc": UNCHANGED, "qty": None}),
        ChangeRow("U", TS, "0004", {"id": 2, "doc": None, "qty": UNCHANGED}),
    ]
    types = {"id": pa.int64(), "qty": pa.int32()}
    key = write_changes(local_store, "src", "s", "t", ["id", "doc", "qty"], rows, options, types)
    data = local_store.get_bytes(key)
    table = pq.read_table(io.BytesIO(data))
    # What any Parquet reader sees: CSV's marker in the text column, NULL in the typed one, and the list.
    assert table.column("doc").to_pylist() == ["long text", "<unchanged>", "<unchanged>", None]
    assert table.column("qty").to_pylist() == [5, 7, None, None]
    assert table.column_names == ["Op", "dms_commit_ts", "id", "doc", "qty", "AR_H_CHANGE_SEQ"]
    assert table.schema.metadata[NOT_CARRIED_KEY.encode()] == b'{"doc":[2],"qty":[3]}'
    assert parse_dms_file(key, data) == rows
    assert current_state(parse_dms_file(key, data), ["id"]) == {
        (1,): {"id": 1, "doc": "long text", "qty": None},
        (2,): {"id": 2, "doc": None, "qty": 7},
    }
    # The same batch again gives the same bytes, so re-delivery rewrites the same object.
    assert write_changes(local_store, "src", "s", "t", ["id", "doc", "qty"], rows, options, types) == key
    assert len(local_store.list_keys("landing/cdc/src/")) == 1


def test_parquet_without_values_not_carried_has_no_list(local_store: LocalObjectStore) -> None:
    options = DmsOptions(data_format="parquet")
    key = write_changes(local_store, "src", "s", "t", ["id"], [ChangeRow("I", TS, "1", {"id": "1"})], options)
    assert NOT_CARRIED_KEY.encode() not in (
        pq.read_schema(io.BytesIO(local_store.get_bytes(key))).metadata or {}
    )


def _parquet_with_list(listed: str) -> bytes:
    table = pa.table({"Op": ["U"], "id": pa.array([1], pa.int64()), "AR_H_CHANGE_SEQ": ["0001"]})
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({NOT_CARRIED_KEY: listed}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ("not json", "is not JSON"),
        ('["id"]', "must map column names to row numbers"),
        ('{"price": [0]}', "names 'price', which is not a data column"),
        ('{"Op": [0]}', "names 'Op', which is not a data column"),
        ('{"id": [1]}', r"for 'id' must list row numbers 0\.\.0 of the file"),
        ('{"id": ["0"]}', r"for 'id' must list row numbers 0\.\.0 of the file"),
    ],
)
def test_parquet_list_of_values_not_carried_is_checked(listed: str, message: str) -> None:
    key = "landing/cdc/src/s/t/20261124-221530123.parquet"
    with pytest.raises(DmsFormatError, match=f"{key}: metadata {NOT_CARRIED_KEY} {message}"):
        parse_dms_file(key, _parquet_with_list(listed))


def test_change_file_names_never_overwrite_another_batch(local_store: LocalObjectStore) -> None:
    first = write_changes(local_store, "src", "s", "t", COLUMNS, _rows()[:1])
    again = write_changes(local_store, "src", "s", "t", COLUMNS, _rows()[:1])  # re-delivery: same object
    other = write_changes(local_store, "src", "s", "t", COLUMNS, _rows()[1:2])  # same millisecond, new data
    assert first == again and other.endswith("20261124-221530124.csv")
    listed = local_store.list_keys("landing/cdc/src/")
    assert in_landing_order(listed) == [first, other]
    assert sorted(listed) == sorted([first, other, not_carried_key(first), not_carried_key(other)])


def test_merge_ignores_redelivery_and_arrival_order() -> None:
    rows = _rows() + [ChangeRow("I", TS, "0005", {"id": "3", "name": "c", "note": "n"})]
    expected = {
        ("1",): {"id": "1", "name": "NULL", "note": "x"},
        ("3",): {"id": "3", "name": "c", "note": "n"},
    }
    assert current_state(rows, ["id"]) == expected
    assert current_state(rows + rows, ["id"]) == expected
    assert current_state(list(reversed(rows)), ["id"]) == expected


def test_merge_keeps_a_value_the_source_did_not_send() -> None:
    rows = [
        ChangeRow("I", TS, "1", {"id": "1", "big": "long text", "n": "1"}),
        ChangeRow("U", TS, "2", {"id": "1", "big": UNCHANGED, "n": "2"}),
    ]
    assert current_state(rows, ["id"]) == {("1",): {"id": "1", "big": "long text", "n": "2"}}


def test_parser_rejects_what_dms_does_not_write() -> None:
    key = "landing/cdc/src/s/t/20261124-221530123.csv"
    with pytest.raises(DmsFormatError, match="operation 'X'"):
        parse_dms_file(key, b"Op,id\nX,1\n")
    with pytest.raises(DmsFormatError, match="do not fit"):
        parse_dms_file(key, b"I,1,2,3,4,5\n", ["id"], header=False, timestamp_column=None)
    with pytest.raises(DmsFormatError, match="needs the column names"):
        parse_dms_file(key, b"I,1\n", header=False)


def test_reads_dms_default_layout_without_header_op_or_timestamp(local_store: LocalObjectStore) -> None:
    keys = _land_fixtures(local_store, "default", "dms")
    columns = ["emp_id", "last_name", "first_name", "hire_date", "city"]
    rows = []
    for key in keys:
        rows += parse_dms_file(key, local_store.get_bytes(key), columns, header=False, timestamp_column=None)
    assert [r.op for r in rows[:3]] == ["I", "I", "I"]  # full load without Op
    assert rows[1].values["city"] is None  # an empty unquoted field is NULL
    state = current_state(rows, ["emp_id"])
    assert state == {
        ("101",): {
            "emp_id": "101",
            "last_name": "Smith",
            "first_name": "Bob",
            "hire_date": "2017-03-13",
            "city": "Dallas",
        },
        ("102",): {
            "emp_id": "102",
            "last_name": "Jones",
            "first_name": "Ann",
            "hire_date": "2015-01-12",
            "city": "Seattle",
        },
        ("104",): {
            "emp_id": "104",
            "last_name": "Lee, Jr.",
            "first_name": "Dan",
            "hire_date": "2016-05-05",
            "city": "Austin",
        },
    }
    # The same change file delivered again, under a later name, changes nothing... when positions come from
    # the data. DMS's default layout has no sequence column, so a copy under another name is a new change:
    # the reason our capture always adds AR_H_CHANGE_SEQ.
    assert current_state(rows + rows, ["emp_id"]) == state


def test_reads_dms_layout_with_header_op_timestamp_and_sequence(local_store: LocalObjectStore) -> None:
    keys = _land_fixtures(local_store, "with_header", "dms")
    data = {k: local_store.get_bytes(k) for k in keys}
    rows = [r for k in keys for r in parse_dms_file(k, data[k])]
    assert rows[0].commit_ts == dt.datetime(2026, 11, 24, 22, 0, 0, 1)
    assert rows[0].values["note"] == "first, with comma" and rows[1].values["note"] == ""
    assert rows[2].values["note"] is None
    state = current_state(rows, ["order_id"])
    assert state[("1",)]["note"] == 'said "hi"\non two lines'
    assert state[("2",)] == {"order_id": "2", "customer": "globex", "note": "NULL", "amount": "8.00"}
    assert sorted(state) == [("1",), ("2",), ("4",)]
    # A custom csvNullValue: the literal NULL is then a null.
    nulls = parse_dms_file(keys[2], data[keys[2]], null_value="NULL")
    assert nulls[0].values["note"] is None
    # Re-delivered under another name and read in reverse order: the sequence column makes both harmless.
    copy = keys[0].replace("20261124-221530123", "20261124-231530123")
    rows_again = rows + parse_dms_file(copy, data[keys[0]])
    assert current_state(list(reversed(rows_again)), ["order_id"]) == state


def test_reads_dms_parquet(local_store: LocalObjectStore) -> None:
    """A Parquet change file as DMS writes it: Op and the timestamp as strings, data typed."""
    table = pa.table(
        {
            "Op": pa.array(["I", "U", "D"]),
            "dms_commit_ts": pa.array(["2026-11-24 22:15:30.000001"] * 3),
            "id": pa.array([7, 7, 8], pa.int32()),
            "price": pa.array([1.25, 2.5, None], pa.float64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    key = "landing/cdc/dms/shop/items/20261124-221530000.parquet"
    local_store.put_bytes(key, sink.getvalue())
    rows = parse_dms_file(key, local_store.get_bytes(key))
    assert [r.op for r in rows] == ["I", "U", "D"]
    assert rows[1].values == {"id": 7, "price": 2.5}
    assert rows[0].position < rows[1].position < rows[2].position
    assert current_state(rows + [ChangeRow("I", None, "0-LOAD", {"id": 8, "price": 1.0})], ["id"]) == {
        (7,): {"id": 7, "price": 2.5}
    }


def test_dms_parquet_text_that_looks_like_the_marker_is_a_value(local_store: LocalObjectStore) -> None:
    """DMS's own Parquet files carry no list of values not carried: every cell is a value, NULL is NULL."""
    table = pa.table(
        {
            "Op": pa.array(["I", "U"]),
            "id": pa.array([7, 7], pa.int32()),
            "note": pa.array(["<unchanged>", None]),
            "qty": pa.array([None, 3], pa.int64()),
            "AR_H_CHANGE_SEQ": pa.array(["0001", "0002"]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    key = "landing/cdc/dms/shop/items/20261124-221530000.parquet"
    rows = parse_dms_file(key, sink.getvalue())
    assert [r.values for r in rows] == [
        {"id": 7, "note": "<unchanged>", "qty": None},
        {"id": 7, "note": None, "qty": 3},
    ]
    assert current_state(rows, ["id"]) == {(7,): {"id": 7, "note": None, "qty": 3}}


# ------------------------------------------------------------------------------ CSV: values not carried


def _rows_with_marker_text() -> list[ChangeRow]:
    """The text ``<unchanged>`` as a value (in a load and in an update) and a value the log did not carry."""
    return [
        ChangeRow("I", TS, "0001", {"id": "1", "name": "<unchanged>", "note": "long text"}),
        ChangeRow("U", TS, "0002", {"id": "1", "name": "a", "note": UNCHANGED}),
        ChangeRow("U", TS, "0003", {"id": "1", "name": "<unchanged>", "note": None}),
    ]


def test_sidecar_names_belong_to_their_csv_files() -> None:
    key = "landing/cdc/src/s/t/20261124-221530123.csv"
    sidecar = not_carried_key(key)
    assert sidecar == "landing/cdc/src/s/t/_20261124-221530123.csv.not-carried.json"
    assert is_not_carried_name(sidecar.rsplit("/", 1)[1]) and not is_dms_name(sidecar.rsplit("/", 1)[1])
    assert is_not_carried_name("_LOAD00000001.csv.not-carried.json")
    for name in ("_LOAD00000001.parquet.not-carried.json", "_notes.csv.not-carried.json", "LOAD00000001.csv"):
        assert not is_not_carried_name(name)
    assert in_landing_order([sidecar, key]) == [key]


@pytest.mark.parametrize("header", [True, False])
def test_csv_text_like_the_marker_is_data_when_the_sidecar_lists_what_was_not_carried(
    local_store: LocalObjectStore, header: bool
) -> None:
    options = DmsOptions(add_column_name=header)
    columns = None if header else [*COLUMNS, "AR_H_CHANGE_SEQ"]
    rows = _rows_with_marker_text()
    key = write_changes(local_store, "src", "s", "t", COLUMNS, rows, options)
    data = local_store.get_bytes(key)
    sidecar = local_store.get_bytes(not_carried_key(key))
    assert json.loads(sidecar) == {
        "csv_sha256": hashlib.sha256(data).hexdigest(),
        "not_carried": {"note": [1]},
        "column_types": {},
    }
    assert read_dms_file(local_store, key, columns) == rows
    assert current_state(read_dms_file(local_store, key, columns), ["id"]) == {
        ("1",): {"id": "1", "name": "<unchanged>", "note": None}
    }
    assert current_state(read_dms_file(local_store, key, columns)[:2], ["id"]) == {
        ("1",): {"id": "1", "name": "a", "note": "long text"}
    }
    # Without the sidecar the file reads as DMS's own would: the text cannot be told from the mark.
    as_dms = parse_dms_file(key, data, columns)
    assert as_dms[0].values["name"] is UNCHANGED and as_dms[1].values["note"] is UNCHANGED


def test_csv_sidecar_is_written_before_its_file_and_always(local_store: LocalObjectStore) -> None:
    puts: list[str] = []

    class Recording(LocalObjectStore):
        def put_bytes(self, key: str, data: bytes) -> None:
            puts.append(key.rsplit("/", 1)[1])
            super().put_bytes(key, data)

    store = Recording(local_store.root)
    load = write_full_load(store, "src", "s", "t", COLUMNS, _rows()[:1])
    change = write_changes(store, "src", "s", "t", COLUMNS, _rows()[1:2])
    assert puts == [
        "_LOAD00000001.csv.not-carried.json",
        "LOAD00000001.csv",
        "_20261124-221530123.csv.not-carried.json",
        "20261124-221530123.csv",
    ]
    for key in (*load, change):  # nothing was not carried: the sidecar says so, so every cell is data
        assert json.loads(read_not_carried(store, key))["not_carried"] == {}


def test_dms_csv_without_a_sidecar_reads_its_marker_text_as_not_carried(
    local_store: LocalObjectStore,
) -> None:
    key = "landing/cdc/dms/s/t/20261124-221530123.csv"
    local_store.put_bytes(
        key,
        b"Op,dms_commit_ts,id,note,AR_H_CHANGE_SEQ\n"
        b"I,2026-11-24 22:15:30.000001,1,long text,0001\n"
        b"U,2026-11-24 22:15:30.000002,1,<unchanged>,0002\n",
    )
    assert read_not_carried(local_store, key) is None
    rows = read_dms_file(local_store, key)
    assert rows[1].values == {"id": "1", "note": UNCHANGED}
    assert current_state(rows, ["id"]) == {("1",): {"id": "1", "note": "long text"}}


def test_a_change_file_name_whose_sidecar_differs_is_not_reused(local_store: LocalObjectStore) -> None:
    first = write_changes(local_store, "src", "s", "t", COLUMNS, _rows()[:1])
    local_store.put_bytes(not_carried_key(first), b'{"csv_sha256":"0","not_carried":{"note":[0]}}\n')
    again = write_changes(local_store, "src", "s", "t", COLUMNS, _rows()[:1])
    assert again.endswith("20261124-221530124.csv") and again != first


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        (b"not json", "is not JSON"),
        (
            b'{"not_carried": {}}',
            'must be {"csv_sha256": ..., "not_carried": {column: [rows]}, "column_types": {column: type}}',
        ),
        (
            b'{"csv_sha256": "SHA", "not_carried": {}, "column_types": {"id": "decimal"}}',
            "column_types must map column names to one of",
        ),
        (
            b'{"csv_sha256": "SHA", "not_carried": {}, "column_types": {"price": "int64"}}',
            "types 'price', which is not a column of the file",
        ),
        (
            b'{"csv_sha256": "SHA", "not_carried": {}, "column_types": {"Op": "int64"}}',
            "types 'Op', which is not a column of the file",
        ),
        (b'{"csv_sha256": "00", "not_carried": {}}', "was written for other content of the file"),
        (b'{"csv_sha256": "SHA", "not_carried": ["note"]}', "must map column names to row numbers"),
        (
            b'{"csv_sha256": "SHA", "not_carried": {"price": [0]}}',
            "names 'price', which is not a data column",
        ),
        (b'{"csv_sha256": "SHA", "not_carried": {"Op": [0]}}', "names 'Op', which is not a data column"),
        (b'{"csv_sha256": "SHA", "not_carried": {"note": [1]}}', r"for 'note' must list row numbers 0\.\.0"),
        (b'{"csv_sha256": "SHA", "not_carried": {"note": [-1]}}', r"for 'note' must list row numbers 0\.\.0"),
        (
            b'{"csv_sha256": "SHA", "not_carried": {"note": ["0"]}}',
            r"for 'note' must list row numbers 0\.\.0",
        ),
        (
            b'{"csv_sha256": "SHA", "not_carried": {"note": [true]}}',
            r"for 'note' must list row numbers 0\.\.0",
        ),
    ],
)
def test_csv_sidecar_content_is_checked(local_store: LocalObjectStore, sidecar: bytes, message: str) -> None:
    key = write_changes(local_store, "src", "s", "t", ["id", "note"], [ChangeRow("U", TS, "1", {"id": "1"})])
    data = local_store.get_bytes(key)
    local_store.put_bytes(
        not_carried_key(key), sidecar.replace(b"SHA", hashlib.sha256(data).hexdigest().encode())
    )
    where = re.escape(f"{key}: sidecar {not_carried_key(key)} ")
    with pytest.raises(DmsFormatError, match=where + message.replace("{", r"\{").replace("[", r"\[")):
        read_dms_file(local_store, key)


TYPED_COLUMNS = ["id", "ok", "amount", "ratio", "born", "note"]
TYPES = {
    "id": pa.int64(),
    "ok": pa.bool_(),
    "amount": pa.float64(),
    "ratio": pa.float32(),
    "born": pa.date32(),
    "note": pa.string(),
}


def _typed_rows() -> list[ChangeRow]:
    """Source values in the text form the captures give them; NULLs and a value not carried, typed."""
    return [
        ChangeRow(
            "I",
            TS,
            "0001",
            {"id": "1", "ok": "t", "amount": "1.5", "ratio": "0.1", "born": "2001-02-03", "note": "12"},
        ),
        ChangeRow(
            "U",
            TS,
            "0002",
            {"id": "1", "ok": "false", "amount": None, "ratio": UNCHANGED, "born": None, "note": None},
        ),
        ChangeRow(
            "I",
            TS,
            "0003",
            {
                "id": "-9223372036854775808",
                "ok": None,
                "amount": "-0.0",
                "ratio": "3e38",
                "born": "1970-01-01",
                "note": "",
            },
        ),
    ]


@pytest.mark.parametrize("header", [True, False])
def test_csv_columns_take_the_types_the_capture_carries_like_parquet(
    local_store: LocalObjectStore, header: bool
) -> None:
    """The same changes landed as CSV and as Parquet parse to the same typed values."""
    rows = _typed_rows()
    csv_key = write_changes(
        local_store, "a", "s", "t", TYPED_COLUMNS, rows, DmsOptions(add_column_name=header), TYPES
    )
    sidecar = json.loads(local_store.get_bytes(not_carried_key(csv_key)))
    assert sidecar["column_types"] == {
        "id": "int64",
        "ok": "bool",
        "amount": "double",
        "ratio": "float",
        "born": "date32[day]",
    }
    parquet_key = write_changes(
        local_store, "b", "s", "t", TYPED_COLUMNS, rows, DmsOptions(data_format="parquet"), TYPES
    )
    columns = None if header else [*TYPED_COLUMNS, "AR_H_CHANGE_SEQ"]
    from_csv = read_dms_file(local_store, csv_key, columns)
    from_parquet = read_dms_file(local_store, parquet_key)
    assert from_csv == from_parquet
    assert from_csv[0].values == {
        "id": 1,
        "ok": True,
        "amount": 1.5,
        "ratio": pytest.approx(0.1),
        "born": dt.date(2001, 2, 3),
        "note": "12",
    }
    assert from_csv[1].values["ratio"] is UNCHANGED and from_csv[1].values["amount"] is None
    assert from_csv[2].values["id"] == -9223372036854775808 and from_csv[2].values["note"] == ""


def test_a_csv_sidecar_from_before_column_types_reads_as_text(local_store: LocalObjectStore) -> None:
    key = write_changes(local_store, "src", "s", "t", TYPED_COLUMNS, _typed_rows()[:1], DmsOptions(), TYPES)
    data = local_store.get_bytes(key)
    old = {"csv_sha256": hashlib.sha256(data).hexdigest(), "not_carried": {}}
    local_store.put_bytes(not_carried_key(key), json.dumps(old).encode())
    assert read_dms_file(local_store, key)[0].values["id"] == "1"


def test_a_csv_value_that_is_not_of_its_carried_type_is_an_error_naming_it(
    local_store: LocalObjectStore,
) -> None:
    rows = [ChangeRow("I", TS, "0001", {"id": "1"}), ChangeRow("I", TS, "0002", {"id": "2"})]
    key = write_changes(local_store, "src", "s", "t", ["id"], rows, DmsOptions(), {"id": pa.int64()})
    data = local_store.get_bytes(key).replace(b",2,", b",two,")
    sidecar = json.loads(local_store.get_bytes(not_carried_key(key)))
    sidecar["csv_sha256"] = hashlib.sha256(data).hexdigest()
    with pytest.raises(
        DmsFormatError, match=re.escape(f"{key}: record 2 column id holds 'two', which is not a int64")
    ):
        parse_dms_file(key, data, not_carried=json.dumps(sidecar).encode())


def test_a_sidecar_belongs_to_csv_files_only() -> None:
    key = "landing/cdc/src/s/t/20261124-221530123.parquet"
    with pytest.raises(DmsFormatError, match="belongs to CSV files only"):
        parse_dms_file(key, b"", not_carried=b"{}")
