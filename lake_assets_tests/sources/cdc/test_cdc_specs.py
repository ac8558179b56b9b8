"""tables.yaml: the shipped example loads; a bad entry is refused naming the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.sources.cdc.specs import CdcSpecError, load_specs


def test_the_shipped_example_loads() -> None:
    specs = load_specs()
    assert [(s.source, s.qualified, s.primary_key) for s in specs] == [
        ("shop", "public.customers", ("customer_id",)),
        ("shop", "public.orders", ("order_id",)),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{source: shop, schema: public, table: t}", "tables[0].primary_key: missing; name the table's"),
        ("{source: shop, schema: public, table: t, primary_key: [id], buckets: 0}", "tables[0].buckets:"),
        ("{source: shop, schema: public, table: t, primary_key: [id], partitoning: day}", "unknown field"),
        ("{source: 1x, schema: public, table: t, primary_key: [id]}", "tables[0].source: '1x' is not a name"),
        (
            "{source: s, schema: p, table: t, primary_key: [id], compact_ratio: 0.1}",
            "tables[0].compact_ratio: is no longer a setting",
        ),
        ("{source: s, schema: p, table: t, primary_key: [id], max_pending_merges: 3}", "remove it"),
    ],
)
def test_a_bad_entry_names_file_field_and_fix(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "tables.yaml"
    path.write_text(f"tables:\n  - {entry}\n")
    with pytest.raises(CdcSpecError) as err:
        load_specs(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_two_entries_for_one_lake_table_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tables.yaml"
    path.write_text(
        "tables:\n  - {source: s, schema: a, table: t, primary_key: [id]}\n"
        "  - {source: s, schema: b, table: t, primary_key: [id]}\n"
    )
    with pytest.raises(CdcSpecError, match=r"tables\[1\]\.table: s/t is already defined by tables\[0\]"):
        load_specs(path)
