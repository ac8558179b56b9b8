"""Lake root, zones, partition paths, object stores (local folder and S3), atomic publish."""

from lake_assets.storage.object_store import ObjectInfo, ObjectStore, StorageError, open_store
from lake_assets.storage.zones import Zone, parse_partition, partition_prefix, table_prefix, zone_prefix

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "StorageError",
    "Zone",
    "open_store",
    "parse_partition",
    "partition_prefix",
    "table_prefix",
    "zone_prefix",
]
