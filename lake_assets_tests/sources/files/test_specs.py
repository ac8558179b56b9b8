"""Source specs: the shipped ones load, and every kind of mistake is named with file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.sources.specs import DEFAULT_SPECS_DIR, KINDS, SpecError, check_specs, load_specs


def test_shipped_specs_cover_every_kind_and_are_valid(registry: SchemaRegistry) -> None:
    assert check_specs(DEFAULT_SPECS_DIR, registry) == []
    specs = load_specs()
    assert {s.kind for s in specs} == set(KINDS)
    by_name = {s.name: s for s in specs}
    assert by_name["products"].landing_prefix == "landing/files/products/"
    assert by_name["products"].trigger.kind == "sensor"
    api = by_name["shop_orders_api"]
    assert api.landing_prefix == "landing/api/shop_orders_api/"
    assert api.trigger.cron == "15 * * * *"
    assert api.api is not None and api.api.auth is not None
    assert api.api.auth.token_env == "LAKE_API_SHOP_ORDERS_TOKEN"
    assert by_name["stores"].format.delimiter == "\t" and by_name["stores"].partitioning == "none"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_problems_name_file_field_and_fix(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "orders",
        "name: orders\nkind: csv\nformat: {delimiter: ';;', encodng: utf-8}\n"
        "event_time: ts\npartitioning: hourly\n",
    )
    problems = check_specs(tmp_path)
    text = "\n".join(problems)
    assert all(p.startswith(f"{path}: field '") and "Fix: " in p for p in problems), problems
    assert "field 'format.delimiter': must be one character" in text
    assert "field 'format.encodng': unknown field. Fix: remove it (did you mean 'encoding'?)" in text
    assert "field 'partitioning': 'hourly' is not known" in text
    with pytest.raises(SpecError, match="format.delimiter"):
        load_specs(tmp_path)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("name: Bad-Name\nkind: csv\n", "name", "is not a source name"),
        ("name: other\nkind: csv\n", "name", "differs from the file name"),
        ("name: x\nkind: parquet\n", "kind", "is not a source kind"),
        ("name: x\nkind: csv\npartitioning: daily\n", "partitioning", "need an event time"),
        ("name: x\nkind: csv\nformat: {header: false}\n", "format.columns", "needs column names"),
        ("name: x\nkind: log\n", "format.pattern", "exactly one of pattern or preset"),
        ("name: x\nkind: log\nformat: {pattern: '(\\d+'}\n", "format.pattern", "not a valid regex"),
        ("name: x\nkind: log\nformat: {pattern: '\\d+'}\n", "format.pattern", "no named groups"),
        ("name: x\nkind: xlsx\nformat: {range: A0:B}\n", "format.range", "is not a cell range"),
        ("name: x\nkind: csv\nformat: {encoding: klingon}\n", "format.encoding", "not a known encoding"),
        ("name: x\nkind: csv\ntrigger: {schedule: 'every hour'}\n", "trigger.schedule", "5-field cron"),
        ("name: x\nkind: http_api\napi: {url: ftp://x}\n", "api.url", "not an http(s) URL"),
        (
            "name: x\nkind: http_api\napi: {url: 'http://h/', auth: {token_env: 'abc123secret'}}\n",
            "api.auth.token_env",
            "never write the token here",
        ),
        ("name: x\nkind: csv\napi: {url: 'http://h/'}\n", "api", "only http_api sources"),
        (
            "name: x\nkind: csv\nevent_time: {column: t, timezone: Mars/Olympus}\n",
            "event_time.timezone",
            "time zone",
        ),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    _write(tmp_path, "x", text)
    problems = check_specs(tmp_path)
    assert any(f"field '{field}'" in p and fragment in p for p in problems), problems


def test_broken_yaml_duplicate_names_and_unknown_subject(tmp_path: Path, registry: SchemaRegistry) -> None:
    _write(tmp_path, "a", "name: a\nkind: csv\nschema: {subject: no_such_subject}\n")
    (tmp_path / "b.yml").write_text("name: a\nkind: csv\n")  # same name, other file
    _write(tmp_path, "c", "name: c\nkind: [csv\n")
    problems = check_specs(tmp_path, registry)
    assert any("b.yml: field 'name': 'a' differs from the file name b.yml" in p for p in problems)
    assert any("c.yaml: not readable YAML" in p for p in problems)
    assert any("field 'schema.subject': unknown subject 'no_such_subject'" in p for p in problems)
    assert check_specs(tmp_path / "missing")[0].endswith("Fix: create it or pass the right folder.")
