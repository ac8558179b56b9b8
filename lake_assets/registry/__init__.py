"""Schema registry: subjects, numbered versions, compatibility rules, validation."""

from lake_assets.registry.registry import (
    COMPATIBILITY_MODES,
    DEFAULT_SCHEMAS_DIR,
    RegistryError,
    SchemaRegistry,
    SchemaVersion,
    Subject,
)

__all__ = [
    "COMPATIBILITY_MODES",
    "DEFAULT_SCHEMAS_DIR",
    "RegistryError",
    "SchemaRegistry",
    "SchemaVersion",
    "Subject",
]
