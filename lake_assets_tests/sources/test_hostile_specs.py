"""Hostile spec files: every mistake is reported with the file, the field path and a fix, all at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lake_assets.sources.cdc import specs as cdc
from lake_assets.sources.specs import KINDS, Pagination, SpecError, check_specs, json_schema, load_specs

API = "name: x\nkind: http_api\napi:\n  url: https://h/v1\n"


@pytest.mark.parametrize(
    ("text", "field", "what", "fix"),
    [
        # wrong types
        (
            "name: x\nkind: csv\nformat: {header: 'yes'}\n",
            "format.header",
            "must be true or false, got 'yes'",
            "write true or false",
        ),
        (
            API + "  retries: {max_attempts: 1.5}\n",
            "api.retries.max_attempts",
            "must be a whole number, got 1.5",
            "write a whole number",
        ),
        (
            "name: x\nkind: csv\nprimary_key: 7\n",
            "primary_key",
            "must be a list, got 7",
            "write e.g. [product_id]",
        ),
        (
            "name: x\nkind: csv\nschema: 5\n",
            "schema",
            "must be a mapping, got 5",
            "write schema: infer or schema: {subject: NAME}",
        ),
        (
            API + "  incremental: {param: since, field: at, initial: 2026-01-01}\n",
            "api.incremental.initial",
            "must be text",
            "quote it",
        ),
        # unknown keys with a typo
        (
            "name: x\nkind: csv\nformat: {delimeter: ';'}\n",
            "format.delimeter",
            "unknown field",
            "remove it (did you mean 'delimiter'?)",
        ),
        (
            API + "  pagination: {stlye: page}\n",
            "api.pagination.stlye",
            "unknown field",
            "did you mean 'style'?",
        ),
        ("name: x\nkind: csv\nevent_tme: ts\n", "event_tme", "unknown field", "did you mean 'event_time'?"),
        (
            "name: x\nkind: jsonl\nformat: {delimiter: ','}\n",
            "format.delimiter",
            "unknown field",
            "allowed: encoding",
        ),
        # missing required fields
        ("kind: csv\n", "name", "missing", "use lower case letters"),
        ("name: x\nkind: http_api\n", "api", "missing", "write api: {url: "),
        ("name: x\n", "kind", "missing", "use one of csv, tsv, jsonl, xlsx, log, http_api"),
        (
            "name: x\nkind: csv\nevent_time: {timezone: UTC}\n",
            "event_time.column",
            "missing",
            "name the column holding the event time",
        ),
        (API + "  incremental: {param: since}\n", "api.incremental.field", "missing", "field: updated_at}"),
        # bad enum values
        (
            API + "  pagination: {style: pages}\n",
            "api.pagination.style",
            "'pages' is not known",
            "use one of 'none', 'page' or 'cursor'",
        ),
        (
            "name: x\nkind: csv\npartitioning: hourly\n",
            "partitioning",
            "'hourly' is not known",
            "'daily' or 'none'",
        ),
        ("name: x\nkind: parquet\n", "kind", "'parquet' is not a source kind", "use one of csv, tsv"),
        (
            "name: x\nkind: log\nformat: {preset: nginx}\n",
            "format.preset",
            "'nginx' is not a preset",
            "use one of nginx_combined",
        ),
        # patterns and other rules
        (
            "name: x\nkind: log\nformat: {pattern: '(?P<a>[0-9'}\n",
            "format.pattern",
            "not a valid regex",
            "fix the regular expression",
        ),
        (
            "name: x\nkind: csv\ntrigger: {schedule: '61 * *'}\n",
            "trigger.schedule",
            "5-field cron",
            "'0 * * * *'",
        ),
        (
            "name: x\nkind: csv\ntrigger: {}\n",
            "trigger",
            "exactly one of sensor or schedule",
            "write trigger:",
        ),
        (
            API + "trigger: {sensor: {}}\n",
            "trigger.sensor",
            "an API has no landing files to watch",
            "use trigger: {schedule:",
        ),
        (
            API + "  rate_limit: {requests_per_second: 0}\n",
            "api.rate_limit.requests_per_second",
            "must be greater than 0, got 0",
            "use a number above 0",
        ),
        (
            "name: x\nkind: csv\nlanding: landing/api/x/\n",
            "landing",
            "not under landing/files/",
            "use landing/files/x/",
        ),
        # not a spec at all
        ("- name: x\n- kind: csv\n", "<top>", "a spec must be a mapping", "start the file with 'name: ...'"),
        ("", "<top>", "a spec must be a mapping", "start the file with 'name: ...'"),
        ("# only a comment\n", "<top>", "a spec must be a mapping", "start the file with 'name: ...'"),
    ],
)
def test_a_hostile_spec_names_file_field_and_fix(
    tmp_path: Path, text: str, field: str, what: str, fix: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    problems = check_specs(tmp_path)
    assert problems, text
    assert any(
        p.startswith(f"{path}: field '{field}': ")
        and what in p.split(". Fix: ")[0]
        and fix in p.split(". Fix: ")[1]
        for p in problems
    ), problems


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "name: a\nkind: csv\nformat: {delimiter: ';;', quotechar: 5}\nextra: 1\n"
    )
    (tmp_path / "b.yaml").write_text("name: b\nkind: http_api\napi: {url: ftp://h, max_pages: 0}\n")
    (tmp_path / "c.yaml").write_text("name: c\nkind: csv\n")  # valid
    problems = check_specs(tmp_path)
    fields = sorted(p.split("'")[1] for p in problems)
    assert fields == ["api.max_pages", "api.url", "extra", "format.delimiter", "format.quotechar"], problems
    with pytest.raises(SpecError) as err:
        load_specs(tmp_path)
    assert str(err.value).count("\n") == len(problems) - 1


def test_a_duplicate_name_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nkind: csv\n")
    (tmp_path / "a.yml").write_text("name: a\nkind: tsv\n")
    problems = check_specs(tmp_path)
    assert problems == [
        f"{tmp_path / 'a.yml'}: field 'name': 'a' is also defined in {tmp_path / 'a.yaml'}. Fix: rename one."
    ]


def test_specs_are_frozen_hashable_values_with_tuples(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: x\nkind: csv\nprimary_key: id\nformat: {null_values: ['', NA]}\n")
    (spec,) = load_specs(tmp_path)
    assert spec.primary_key == ("id",) and spec.format.null_values == ("", "NA")
    assert {spec: 1}[spec] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "y"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Pagination().style = "page"  # type: ignore[misc]
    assert hash(Pagination(style="cursor")) == hash(Pagination(style="cursor"))


def test_the_json_schema_lists_the_kinds_and_their_options() -> None:
    schema = json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(KINDS)
    defs = schema["$defs"]
    csv = defs["csv_source"]
    assert csv["additionalProperties"] is False and csv["properties"]["kind"]["const"] == "csv"
    assert {"name", "kind"} <= set(csv["required"]) and "api" not in csv["properties"]
    assert {"delimiter", "header", "columns"} <= set(
        defs[csv["properties"]["format"]["$ref"].split("/")[-1]]["properties"]
    )
    assert "api" in defs["http_api_source"]["required"]
    assert "tables" in cdc.json_schema()["required"]


def _tables(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "tables.yaml"
    path.write_text("tables:\n" + "".join(f"  - {e}\n" for e in entries))
    return path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{source: s, schema: p, table: t, primary_key: [id], buckets: '8'}",
            "tables[0].buckets: must be a whole number, got '8'; write a whole number",
        ),
        (
            "{source: s, schema: p, table: t, primary_key: [id], partitoning: day}",
            "tables[0].partitoning: unknown field; remove it (did you mean 'partitioning'?)",
        ),
        ("{source: s, schema: p, primary_key: [id]}", "tables[0].table: missing; name the source table"),
        (
            "{source: s, schema: p, table: t, primary_key: [id], partitioning: week}",
            "tables[0].partitioning: 'week' is not known; use one of 'day'",
        ),
        (
            "{source: s, schema: p, table: t, primary_key: [id, id]}",
            "tables[0].primary_key: ['id', 'id'] names a column twice; list each column once",
        ),
        (
            "{source: s, schema: p, table: t, primary_key: [id], columns: [a]}",
            "tables[0].columns: lacks key columns ['id']; add them",
        ),
        ("just text", "tables[0]: must be a mapping, got 'just text'; write key: value pairs"),
    ],
)
def test_a_hostile_cdc_entry_names_file_field_and_fix(tmp_path: Path, entry: str, message: str) -> None:
    path = _tables(tmp_path, entry)
    with pytest.raises(cdc.CdcSpecError) as err:
        cdc.load_specs(path)
    assert f"{path}: {message}" in str(err.value).splitlines()


@pytest.mark.parametrize("text", ["", "tables: {a: 1}\n", "- a\n"])
def test_a_cdc_file_without_a_tables_list_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tables.yaml"
    path.write_text(text)
    with pytest.raises(cdc.CdcSpecError, match="expected a top-level 'tables:' list"):
        cdc.load_specs(path)


def test_all_bad_cdc_entries_are_reported_at_once(tmp_path: Path) -> None:
    path = _tables(tmp_path, "{source: 1s, schema: p, table: t, primary_key: [id]}", "{source: s, table: u}")
    with pytest.raises(cdc.CdcSpecError) as err:
        cdc.load_specs(path)
    lines = str(err.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "tables[0].source",
        "tables[1].schema",
        "tables[1].primary_key",
    ]


def test_cdc_specs_are_typed_frozen_dict_keys() -> None:
    spec = cdc.CdcTableSpec("s", "p", "t", ("k",), buckets=4)
    assert {spec: 1}[cdc.CdcTableSpec("s", "p", "t", ("k",), buckets=4)] == 1
    assert dataclasses.replace(spec, buckets=8).buckets == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.buckets = 2  # type: ignore[misc]
    with pytest.raises(ValueError, match="buckets"):
        cdc.CdcTableSpec("s", "p", "t", ("k",), buckets=0)
