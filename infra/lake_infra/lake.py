"""What the lake defines, as the stacks may name it: zones, databases, CDC tables, layers, the access policy.

Every name a stack gives a resource comes from here, and here from the lake's own code and specs (zones from
``storage/zones.py``, databases from ``access/policy.py``, CDC tables from ``sources/cdc/tables.yaml``, the
events landing layout from ``sources/events/landing_index.py``, ...). A stack asking for a name the lake does
not define gets ``UndefinedResource``, whose one line names the stack, the resource, the name and the names
that exist: synth stops there, before any template is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lake_assets.access.policy import DATABASES, Policy, load_policy
from lake_assets.settings import LakeSettings
from lake_assets.sources.cdc.specs import CdcTableSpec, load_specs
from lake_assets.sources.events.landing_index import EVENTS_LANDING_PREFIX
from lake_assets.storage.zones import Zone, zone_prefix


class UndefinedResource(ValueError):
    """A stack names something the lake's settings and specs do not define."""


def undefined(where: str, kind: str, name: str, known: Iterable[str], source: str) -> UndefinedResource:
    names = ", ".join(sorted(known)) or "none"
    return UndefinedResource(f"{where}: {kind} {name!r} is not defined by the lake ({source}: {names})")


@dataclass(frozen=True)
class Layer:
    """What one Spark layer reads and writes: zone-relative key prefixes and Glue catalog tables.

    Keys are relative to the lake root; ``*`` ends a prefix pattern. Tables are ``<database>/<name pattern>``.
    """

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    read_tables: tuple[str, ...]
    write_tables: tuple[str, ...]


# The layers that run as Glue jobs (lake_assets/layers/, through Dagster Pipes), and what each touches: the
# intermediate event, file and API tables from raw Avro (intermediate.events_*, files_*, api_*), the final
# tables from the intermediate ones, and the CDC merge from raw CDC files into intermediate.cdc_* with its
# manifests under _system/cdc/ (layers/cdc.py). Table locations are <root>/<database>/<table>
# (tables/catalog.py).
LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "intermediate",
            reads=(
                zone_prefix(Zone.RAW, "events") + "*",
                zone_prefix(Zone.SYSTEM, "index", "events") + "*",
                zone_prefix(Zone.RAW, "files") + "*",
                zone_prefix(Zone.RAW, "api") + "*",
                zone_prefix(Zone.SYSTEM, "schemas") + "*",  # the schemas inferred for file sources
            ),
            writes=tuple(zone_prefix(Zone.INTERMEDIATE) + f"{kind}_*" for kind in ("events", "files", "api")),
            read_tables=("raw/*",),
            write_tables=tuple(f"intermediate/{kind}_*" for kind in ("events", "files", "api")),
        ),
        Layer(
            "final",
            reads=(zone_prefix(Zone.INTERMEDIATE) + "*",),
            writes=(zone_prefix(Zone.FINAL) + "*",),
            read_tables=("intermediate/*",),
            write_tables=("final/*",),
        ),
        Layer(
            "cdc_merge",
            reads=(zone_prefix(Zone.RAW, "cdc") + "*",),
            writes=(zone_prefix(Zone.INTERMEDIATE) + "cdc_*", zone_prefix(Zone.SYSTEM, "cdc") + "*"),
            read_tables=("raw/*",),
            write_tables=("intermediate/cdc_*",),
        ),
    )
}


@dataclass(frozen=True)
class Lake:
    settings: LakeSettings
    bucket_name: str
    root: str  # the lake root's key prefix in the bucket: "" or "lake/"
    cdc_tables: tuple[CdcTableSpec, ...]
    policy: Policy

    @classmethod
    def from_settings(cls, settings: LakeSettings) -> Lake:
        bucket, _, prefix = settings.lake_root.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        return cls(
            settings,
            bucket,
            f"{prefix}/" if prefix else "",
            tuple(load_specs(settings.cdc_tables)),
            load_policy(settings.access_policy),
        )

    # -- zones and keys ---------------------------------------------------------------------------------

    def zone(self, name: str, where: str) -> Zone:
        try:
            return Zone(name)
        except ValueError:
            raise undefined(
                where, "zone", name, (z.value for z in Zone), "lake_assets/storage/zones.py"
            ) from None

    def key(self, zone: str, *parts: str, where: str) -> str:
        """``<root>landing/events/`` style key prefix (ends in a slash)."""
        return self.root + zone_prefix(self.zone(zone, where), *parts)

    def rooted(self, relative: str) -> str:
        """A key relative to the lake root, as a key in the bucket."""
        return self.root + relative

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket_name}/{self.root}"

    @property
    def events_landing(self) -> str:
        """Where Firehose delivers: the prefix the landing sensor lists (``landing/events/``)."""
        return self.root + EVENTS_LANDING_PREFIX

    # -- catalog ----------------------------------------------------------------------------------------

    def database(self, name: str, where: str) -> str:
        if name not in DATABASES:
            raise undefined(where, "database", name, DATABASES, "lake_assets/access/policy.py DATABASES")
        return name

    @property
    def databases(self) -> tuple[str, ...]:
        return DATABASES

    def database_location(self, name: str, where: str) -> str:
        return self.key(self.database(name, where), where=where)  # the database is its zone

    # -- CDC --------------------------------------------------------------------------------------------

    @property
    def cdc_sources(self) -> tuple[str, ...]:
        return tuple(sorted({t.source for t in self.cdc_tables}))

    def cdc_source(self, name: str, where: str) -> tuple[CdcTableSpec, ...]:
        tables = tuple(t for t in self.cdc_tables if t.source == name)
        if not tables:
            raise undefined(where, "CDC source", name, self.cdc_sources, self.settings.cdc_tables)
        return tables

    # -- layers -----------------------------------------------------------------------------------------

    def layers(self, names: Sequence[str], where: str) -> tuple[Layer, ...]:
        for name in names:
            if name not in LAYERS:
                raise undefined(where, "layer", name, LAYERS, "infra/lake_infra/lake.py LAYERS")
        return tuple(LAYERS[n] for n in names)

    def table_pattern(self, pattern: str, where: str) -> tuple[str, str]:
        database, _, table = pattern.partition("/")
        return self.database(database, where), table
