"""The policy's words in the catalog (local SQLite and Glue) and in Dagster's asset specs.

Glue is moto's Glue API (the Glue Data Catalog cannot run here); the Iceberg tables it points at are real
files on moto's S3.
"""

# ruff: noqa: E501 - expected words kept whole

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.access.descriptions import asset_words, dagster_owner, describe_tables
from lake_assets.access.policy import load_policy, parse_policy
from lake_assets.tables.catalog import CatalogConfig
from lake_assets_tests.access.conftest import SALES, Lake
from lake_assets_tests.fixtures.moto import MOTO_REGION, moto_client, moto_env

POLICY = load_policy()


def test_the_catalog_gets_descriptions_owners_and_column_docs_once(lake: Lake) -> None:
    changed = describe_tables(POLICY, lake.catalog)
    assert changed == [
        "final.shop_daily_funnel: description, owner",
        "final.shop_daily_product_sales: description, owner, 5 column description(s)",
        "intermediate.cdc_shop_customers: description, owner, 1 column description(s)",
    ]
    assert describe_tables(POLICY, lake.catalog) == []  # the catalog says the same now: nothing to do
    table = lake.catalog.pyiceberg().load_table("final.shop_daily_product_sales")
    assert (
        table.properties["Description"]
        == table.properties["comment"]
        == ("Units, orders and revenue per product and day, from the order events.")
    )
    assert table.properties["owner"] == "analytics"
    assert table.schema().find_field("revenue_cents").doc == "Revenue in cents (quantity times unit price)."
    rows = len(table.scan().to_arrow())
    assert rows == 4  # words only: the data and its snapshots are as they were


def test_glue_shows_the_same_words_to_athena(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-words-{uuid.uuid4().hex[:8]}"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    catalog = CatalogConfig.for_lake(
        f"s3://{bucket}/lake", "glue", s3_endpoint=moto_server, glue_endpoint=moto_server, region=MOTO_REGION
    )
    glue_catalog = catalog.pyiceberg()
    if "final" not in {ns[0] for ns in glue_catalog.list_namespaces()}:
        glue_catalog.create_namespace("final")
    name = f"shop_daily_product_sales_{uuid.uuid4().hex[:6]}"
    glue_catalog.create_table(f"final.{name}", SALES, location=catalog.table_location("final", name))
    try:
        text = POLICY.text.replace("final.shop_daily_product_sales:", f"final.{name}:")
        policy = parse_policy(text, POLICY.path)
        assert describe_tables(policy, catalog) == [
            f"final.{name}: description, owner, 5 column description(s)"
        ]
        glue = moto_client("glue", moto_server).get_table(DatabaseName="final", Name=name)["Table"]
        assert glue["Description"] == "Units, orders and revenue per product and day, from the order events."
        comments = {c["Name"]: c.get("Comment") for c in glue["StorageDescriptor"]["Columns"]}
        assert comments["revenue_cents"] == "Revenue in cents (quantity times unit price)."
        assert comments["dt"] == "The UTC day of the orders."
    finally:  # moto is shared by the test session: other tests list the final database's tables
        glue_catalog.drop_table(f"final.{name}")


def test_dagster_assets_carry_the_policy_s_owners_and_descriptions() -> None:
    @dg.asset(
        key=["final", "shop", "daily_product_sales"],
        metadata={"dagster/table_name": "final.shop_daily_product_sales"},
        description="Sorted by dt.",
    )
    def sales() -> None: ...

    @dg.asset(key=["final", "other"], owners=["me@example.com"])
    def other() -> None: ...

    specs = {s.key.to_user_string(): s for a in asset_words([sales, other], POLICY) for s in a.specs}
    described = specs["final/shop/daily_product_sales"]
    assert described.owners == ["team:analytics"]
    assert (
        described.description
        == "Units, orders and revenue per product and day, from the order events.\n\nSorted by dt."
    )
    assert specs["final/other"].owners == ["me@example.com"]  # not in the policy: as it was


def test_owners_are_what_dagster_accepts() -> None:
    assert dagster_owner("analytics") == "team:analytics"
    assert dagster_owner("ana@example.com") == "ana@example.com"
    assert dagster_owner("team:data-platform") == "team:data-platform"


def test_the_lake_s_definitions_carry_them(tmp_path: Path) -> None:
    from lake_assets.definitions import build_definitions
    from lake_assets.settings import load_settings

    defs = build_definitions(load_settings({"LAKE_ROOT": str(tmp_path)}))
    spec = next(
        s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["final", "shop", "daily_funnel"])
    )
    assert spec.owners == ["team:analytics"]
    assert spec.description.startswith("Sessions per day, and how many viewed a product")


def test_tables_the_policy_does_not_describe_get_their_spec_s_words(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from lake_assets_tests.access.conftest import lake as build_lake  # a lake of its own: words change it

    lake = build_lake.__wrapped__(tmp_path_factory)
    policy = parse_policy(
        "principals: {a: {}}\ntables:\n  final.shop_daily_funnel: {description: The policy's words.}\n",
        POLICY.path,
    )
    specs = {
        "final.shop_daily_funnel": "The asset's words.",
        "final.shop_daily_product_sales": "Sales per day.",
    }
    assert describe_tables(policy, lake.catalog, specs) == [
        "final.shop_daily_funnel: description",
        "final.shop_daily_product_sales: description",
    ]
    cat = lake.catalog.pyiceberg()
    assert cat.load_table("final.shop_daily_funnel").properties["Description"] == "The policy's words."
    assert cat.load_table("final.shop_daily_product_sales").properties["Description"] == "Sales per day."
