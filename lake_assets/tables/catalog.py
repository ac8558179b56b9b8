"""One catalog of every table: an Iceberg SQL catalog (SQLite file or PostgreSQL) locally, Glue on AWS.

Spark (Iceberg's JDBC catalog) and pyiceberg (its SQL catalog) share the same ``iceberg_tables`` rows, so both
see the same tables under the same catalog name, ``lake``. No Dagster import: a Glue job uses this too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyspark.sql import SparkSession

CATALOG_NAME = "lake"  # the catalog_name column of the SQL catalog; Spark's catalog plugin has the same name
CatalogKind = Literal["sqlite", "postgresql", "glue"]


class CatalogError(RuntimeError):
    """The catalog is missing, unreadable or unreachable; the message names it in one line."""


class LakeLocation(Protocol):
    """Where a lake is and which endpoints reach it: what settings and the lake resource both say."""

    lake_root: str
    catalog_uri: str | None
    s3_endpoint_url: str | None
    aws_endpoint_url: str | None
    aws_region: str


@dataclass(frozen=True)
class CatalogConfig:
    """Where the catalog lives (``uri``) and where table files go (``warehouse``, the lake root)."""

    kind: CatalogKind
    uri: str  # sqlite:////abs/path/catalog.db | postgresql://user[:pw]@host:port/db | glue
    warehouse: str  # file:///abs/lake or s3://bucket/prefix
    s3_endpoint: str | None = None  # an S3 API server other than AWS's (LAKE_S3_ENDPOINT_URL)
    glue_endpoint: str | None = None  # a stand-in for AWS Glue (LAKE_AWS_ENDPOINT_URL; tests use moto)
    region: str = "us-east-1"

    @staticmethod
    def for_settings(settings: LakeLocation) -> CatalogConfig:
        """The catalog of the lake ``settings`` describe (``LakeSettings`` or ``LakeResource``), with the same
        endpoints everywhere: the assets, the ``lake`` command and the Glue job build it alike."""
        return CatalogConfig.for_lake(
            settings.lake_root,
            settings.catalog_uri,
            s3_endpoint=settings.s3_endpoint_url,
            glue_endpoint=settings.aws_endpoint_url,
            region=settings.aws_region,
        )

    @staticmethod
    def for_lake(
        lake_root: str,
        catalog_uri: str | None = None,
        *,
        s3_endpoint: str | None = None,
        glue_endpoint: str | None = None,
        region: str = "us-east-1",
    ) -> CatalogConfig:
        """The lake's catalog: ``catalog_uri`` when given, else a SQLite file in the lake's ``_system/``."""
        warehouse = lake_root if "://" in lake_root else Path(lake_root).resolve().as_uri()
        s3 = {"s3_endpoint": s3_endpoint, "region": region}
        if catalog_uri is None:
            if "://" in lake_root:
                raise CatalogError(
                    f"a lake at {lake_root} needs LAKE_CATALOG_URI (postgresql://... or glue): a SQLite "
                    "catalog must be a local file"
                )
            path = Path(lake_root).resolve() / "_system" / "catalog.db"
            return CatalogConfig("sqlite", f"sqlite:///{path}", warehouse, **s3)
        if catalog_uri == "glue":
            if not warehouse.startswith("s3://"):
                raise CatalogError(f"the Glue catalog keeps tables on S3: LAKE_ROOT={lake_root} is not s3://")
            return CatalogConfig("glue", "glue", warehouse, glue_endpoint=glue_endpoint, **s3)
        scheme = urlsplit(catalog_uri).scheme
        if scheme == "sqlite":
            return CatalogConfig("sqlite", catalog_uri, warehouse, **s3)
        if scheme in ("postgresql", "postgres"):
            return CatalogConfig("postgresql", catalog_uri, warehouse, **s3)
        raise CatalogError(
            f"LAKE_CATALOG_URI={catalog_uri!r}: use sqlite:////path/catalog.db, "
            "postgresql://user@host:port/db or glue"
        )

    @property
    def sqlite_path(self) -> Path:
        """``sqlite:////abs/catalog.db`` -> ``/abs/catalog.db`` (SQLAlchemy: three slashes + the path)."""
        return Path(self.uri.removeprefix("sqlite:///"))

    def describe(self) -> str:
        """The catalog in one line, for messages (no password)."""
        if self.kind == "postgresql":
            parts = urlsplit(self.uri)
            return f"PostgreSQL catalog {parts.hostname}:{parts.port or 5432}{parts.path}"
        if self.kind == "sqlite":
            return f"SQLite catalog {self.sqlite_path}"
        return "AWS Glue Data Catalog"

    def table_location(self, database: str, name: str) -> str:
        """``<lake root>/<zone>/<table>``: tables live in their zone's prefix, whoever creates them."""
        return f"{self.warehouse.rstrip('/')}/{database}/{name}"

    # ------------------------------------------------------------------------------------------- Spark
    def spark_conf(self) -> dict[str, str]:
        """The ``spark.sql.catalog.lake.*`` settings for Iceberg's Spark catalog."""
        prefix = f"spark.sql.catalog.{CATALOG_NAME}"
        conf = {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.warehouse": self.warehouse,
            # Every query loads the table's current metadata: a write that retries after another commit
            # won, or a check of what was just published, must not see a cached older snapshot.
            f"{prefix}.cache-enabled": "false",
        }
        if self.kind == "sqlite":
            conf |= {
                f"{prefix}.type": "jdbc",
                f"{prefix}.uri": f"jdbc:sqlite:{self.sqlite_path}",
                # V1 adds the view and namespace-property tables pyiceberg also writes.
                f"{prefix}.jdbc.schema-version": "V1",
            }
        elif self.kind == "postgresql":
            parts = urlsplit(self.uri)
            conf |= {
                f"{prefix}.type": "jdbc",
                f"{prefix}.uri": f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}",
                f"{prefix}.jdbc.user": parts.username or "",
                f"{prefix}.jdbc.password": parts.password or "",
                f"{prefix}.jdbc.schema-version": "V1",
            }
        else:
            conf[f"{prefix}.type"] = "glue"
            if self.glue_endpoint:
                conf[f"{prefix}.glue.endpoint"] = self.glue_endpoint
        if self.on_s3:
            conf |= {
                f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                f"{prefix}.client.region": self.region,
            }
            if self.s3_endpoint:
                conf |= {f"{prefix}.s3.endpoint": self.s3_endpoint, f"{prefix}.s3.path-style-access": "true"}
            conf |= self.s3a_conf()
        return conf

    def s3a_conf(self) -> dict[str, str]:
        """Spark's S3A connector for the same bucket (Spark reads raw Avro in place): session settings, which
        Spark hands to the file system of the session's reads."""
        if not self.on_s3:
            return {}
        conf = {"fs.s3a.endpoint.region": self.region}
        if self.s3_endpoint:
            conf |= {
                "fs.s3a.endpoint": self.s3_endpoint,
                "fs.s3a.path.style.access": "true",
                "fs.s3a.connection.ssl.enabled": str(self.s3_endpoint.startswith("https://")).lower(),
            }
        return conf

    @property
    def on_s3(self) -> bool:
        return self.warehouse.startswith("s3://")

    def s3_credentials(self) -> dict[str, str]:
        """Credentials from the standard AWS chain (environment, profile, role), read when a session starts:
        a Spark JVM started earlier does not see variables set since."""
        if not self.on_s3:
            return {}
        import boto3

        found = boto3.session.Session().get_credentials()
        if found is None:
            return {}
        frozen = found.get_frozen_credentials()
        out = {"s3.access-key-id": frozen.access_key, "s3.secret-access-key": frozen.secret_key}
        if frozen.token:
            out["s3.session-token"] = frozen.token
        return out

    # --------------------------------------------------------------------------------------- pyiceberg
    def pyiceberg(self) -> Catalog:
        """The same catalog through pyiceberg (``lake catalog``, ``lake query``, independent reads)."""
        if self.kind == "sqlite":
            if not self.sqlite_path.is_file():
                raise CatalogError(f"{self.describe()} does not exist yet: materialize a table first")
            try:
                with sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True) as con:
                    con.execute("SELECT count(*) FROM iceberg_tables").fetchone()
            except sqlite3.Error as exc:
                raise CatalogError(
                    f"{self.describe()} is not readable as an Iceberg catalog: {exc}"
                ) from None
        from pyiceberg.catalog.sql import SqlCatalog

        properties = self._pyiceberg_s3_properties()
        if self.kind == "glue":
            from pyiceberg.catalog.glue import GlueCatalog

            properties["glue.region"] = self.region
            if self.glue_endpoint:
                properties["glue.endpoint"] = self.glue_endpoint
            for name in ("access-key-id", "secret-access-key", "session-token"):
                if f"s3.{name}" in properties:
                    properties[f"glue.{name}"] = properties[f"s3.{name}"]
            try:
                return GlueCatalog(CATALOG_NAME, warehouse=self.warehouse, **properties)
            except Exception as exc:
                raise CatalogError(f"{self.describe()} cannot be opened: {exc}") from None
        uri = self.uri
        if self.kind == "postgresql":
            uri = "postgresql+psycopg2://" + uri.split("://", 1)[1]
        try:
            return SqlCatalog(CATALOG_NAME, uri=uri, warehouse=self.warehouse, **properties)
        except Exception as exc:  # a driver or connection error: one line naming the catalog
            raise CatalogError(f"{self.describe()} cannot be opened: {exc}") from None

    def _pyiceberg_s3_properties(self) -> dict[str, str]:
        """pyiceberg's file IO on S3: region, endpoint and the chain's credentials (read once)."""
        if not self.on_s3:
            return {}
        properties = {"s3.region": self.region, **self.s3_credentials()}
        if self.s3_endpoint:
            properties["s3.endpoint"] = self.s3_endpoint
        return properties


def catalog_session(spark: SparkSession, catalog: CatalogConfig) -> SparkSession:
    """A session of ``spark`` whose ``lake`` catalog is this one.

    Catalog settings are per session, so one Spark (one JVM, one set of jars) serves several lakes, as the
    tests do; a run uses one session throughout, since a DataFrame writes through its own session's catalogs.
    """
    key = (id(spark), catalog)
    session = _SESSIONS.get(key)
    if session is None:
        session = spark.newSession()
        found = catalog.s3_credentials()
        credentials = {f"spark.sql.catalog.{CATALOG_NAME}.{k}": v for k, v in found.items()}
        if found:  # the same credentials for the S3A reads of raw
            credentials |= {
                "fs.s3a.access.key": found["s3.access-key-id"],
                "fs.s3a.secret.key": found["s3.secret-access-key"],
            }
            if "s3.session-token" in found:
                credentials |= {
                    "fs.s3a.session.token": found["s3.session-token"],
                    "fs.s3a.aws.credentials.provider": (
                        "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
                    ),
                }
        for name, value in (catalog.spark_conf() | credentials).items():
            session.conf.set(name, value)
        if catalog.kind == "sqlite":
            catalog.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        _SESSIONS[key] = session
    return session


_SESSIONS: dict[tuple[int, CatalogConfig], SparkSession] = {}
