"""The lake as a Dagster resource: settings in, object store and registry out."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.settings import LakeSettings
from lake_assets.storage import ObjectStore, open_store
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.raw_catalog import register_raw_partitions


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives. Built from ``LakeSettings`` in definitions; tests pass a temporary root."""

    env: str = "local"
    lake_root: str
    s3_endpoint_url: str | None = None
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    max_event_bytes: int = 256 * 1024
    sensor_lookback_seconds: int = 600
    catalog_uri: str | None = None

    _store: ObjectStore | None = PrivateAttr(default=None)
    _registry: SchemaRegistry | None = PrivateAttr(default=None)
    _decoder: EventDecoder | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: LakeSettings) -> LakeResource:
        return cls(
            env=settings.env,
            lake_root=settings.lake_root,
            s3_endpoint_url=settings.s3_endpoint_url,
            aws_endpoint_url=settings.aws_endpoint_url,
            aws_region=settings.aws_region,
            max_event_bytes=settings.max_event_bytes,
            sensor_lookback_seconds=settings.sensor_lookback_seconds,
            catalog_uri=settings.catalog_uri,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A wrong root or an unreachable endpoint fails the run at its start with one clear message.
        self.store.check_reachable()

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            # Credentials come from the standard AWS chain (environment, profile, role), never from config.
            self._store = open_store(
                self.lake_root, endpoint_url=self.s3_endpoint_url, region=self.aws_region
            )
        return self._store

    @property
    def catalog(self) -> CatalogConfig:
        """The lake's table catalog (SQLite under ``_system/`` unless ``LAKE_CATALOG_URI`` says otherwise)."""
        return CatalogConfig.for_settings(self)

    def register_raw(self, name: str, prefix: str, avro_schema: dict, days: list[str] | None) -> list[str]:
        """Add raw's new partitions to the Glue catalog (``raw.<name>``); other catalogs hold no raw."""
        if self.catalog_uri != "glue":
            return []
        return register_raw_partitions(self.catalog, name, self.store.uri(prefix), avro_schema, days)

    @property
    def registry(self) -> SchemaRegistry:
        if self._registry is None:
            self._registry = SchemaRegistry.from_directory()
        return self._registry

    @property
    def decoder(self) -> EventDecoder:
        if self._decoder is None:
            self._decoder = EventDecoder(self.registry, max_event_bytes=self.max_event_bytes)
        return self._decoder
