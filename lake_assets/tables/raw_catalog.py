"""raw in the catalog: each raw folder an Avro table ``raw.<kind>_<name>`` whose partitions its commits add.

raw stays Avro files (the architecture), so it is not an Iceberg table: on Glue it is an external table with
Hive's Avro SerDe (what Athena and Glue jobs read), its ``dt`` partitions added as raw publishes them.
Locally ``lake query`` derives the same names from the folders (``query.raw_tables``). No Dagster import.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from lake_assets.tables.catalog import CatalogConfig, CatalogError

RAW_DATABASE = "raw"
_AVRO_SERDE = "org.apache.hadoop.hive.serde2.avro.AvroSerDe"
_AVRO_INPUT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat"
_AVRO_OUTPUT = "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat"
_PRIMITIVES = {
    "int": "int",
    "long": "bigint",
    "string": "string",
    "boolean": "boolean",
    "float": "float",
    "double": "double",
    "bytes": "binary",
    "null": "void",
}


def hive_type(avro: Any) -> str:
    """The Hive type Glue and Athena read an Avro type as (nullable unions become their one other type)."""
    if isinstance(avro, list):
        others = [t for t in avro if t != "null"]
        if len(others) == 1:
            return hive_type(others[0])
        return "uniontype<" + ",".join(hive_type(t) for t in others) + ">"
    if isinstance(avro, str):
        return _PRIMITIVES.get(avro, "string")
    logical = avro.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return "timestamp"
    if logical == "date":
        return "date"
    if logical == "decimal":
        return f"decimal({avro['precision']},{avro.get('scale', 0)})"
    kind = avro["type"]
    if kind == "record":
        return "struct<" + ",".join(f"{f['name']}:{hive_type(f['type'])}" for f in avro["fields"]) + ">"
    if kind == "array":
        return f"array<{hive_type(avro['items'])}>"
    if kind == "map":
        return f"map<string,{hive_type(avro['values'])}>"
    if kind == "enum":
        return "string"
    if kind == "fixed":
        return "binary"
    return hive_type(kind)


def raw_table_input(
    name: str, location: str, avro_schema: dict[str, Any], partitioned: bool
) -> dict[str, Any]:
    """A Glue ``TableInput``: columns from the Avro schema, Avro SerDe, ``dt`` as a string partition key."""
    literal = json.dumps(avro_schema, separators=(",", ":"))
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "avro", "avro.schema.literal": literal, "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}] if partitioned else [],
        "StorageDescriptor": {
            "Columns": [{"Name": f["name"], "Type": hive_type(f["type"])} for f in avro_schema["fields"]],
            "Location": location.rstrip("/") + "/",
            "InputFormat": _AVRO_INPUT,
            "OutputFormat": _AVRO_OUTPUT,
            "SerdeInfo": {
                "SerializationLibrary": _AVRO_SERDE,
                "Parameters": {"avro.schema.literal": literal},
            },
        },
    }


def register_raw_partitions(
    catalog: CatalogConfig,
    name: str,
    location: str,
    avro_schema: dict[str, Any],
    days: Sequence[str] | None,
) -> list[str]:
    """Create or update ``raw.<name>`` and add the ``dt=<day>`` partitions not yet there; returns those added.

    ``days`` None: an unpartitioned raw table. Only the Glue catalog holds raw tables; the local SQL catalog
    holds Iceberg tables only, and ``lake query`` names raw by its folders.
    """
    if catalog.kind != "glue":
        return []
    import boto3

    glue = boto3.session.Session().client(
        "glue", region_name=catalog.region, endpoint_url=catalog.glue_endpoint
    )
    table = raw_table_input(name, location, avro_schema, days is not None)
    try:
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": RAW_DATABASE, "Description": "raw Avro, as landed"})
        try:
            glue.create_table(DatabaseName=RAW_DATABASE, TableInput=table)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=RAW_DATABASE, TableInput=table)  # a newer schema version
        if not days:
            return []
        wanted = sorted(set(days))
        found = glue.batch_get_partition(
            DatabaseName=RAW_DATABASE, TableName=name, PartitionsToGet=[{"Values": [d]} for d in wanted]
        )
        have = {p["Values"][0] for p in found.get("Partitions", [])}
        new = [d for d in wanted if d not in have]
        for start in range(0, len(new), 100):  # BatchCreatePartition takes at most 100
            descriptor = table["StorageDescriptor"]
            glue.batch_create_partition(
                DatabaseName=RAW_DATABASE,
                TableName=name,
                PartitionInputList=[
                    {
                        "Values": [d],
                        "StorageDescriptor": {**descriptor, "Location": f"{descriptor['Location']}dt={d}/"},
                    }
                    for d in new[start : start + 100]
                ],
            )
        return new
    except glue.exceptions.ClientError as exc:  # type: ignore[attr-defined]
        raise CatalogError(f"{catalog.describe()}: cannot register raw.{name}: {exc}") from None
