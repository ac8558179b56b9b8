"""Lake root, zones, partition paths, object stores (local folder and S3), atomic publish."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lake_assets.storage.object_store import ObjectInfo, ObjectStore, StorageError, open_store
from lake_assets.storage.zones import Zone, parse_partition, partition_prefix, table_prefix, zone_prefix

if TYPE_CHECKING:
    from lake_assets.settings import LakeSettings

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "StorageError",
    "Zone",
    "open_lake_store",
    "open_store",
    "parse_partition",
    "partition_prefix",
    "table_prefix",
    "zone_prefix",
]


def open_lake_store(settings: LakeSettings) -> ObjectStore:
    """The lake's store from its settings, checked reachable: how every ``lake`` command opens the lake."""
    store = open_store(
        settings.lake_root,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
        access_key_id=settings.aws_access_key_id,
        secret_access_key=settings.aws_secret_access_key,
    )
    store.check_reachable()
    return store
