"""What every raw Avro file carries, and the read-back check every raw layer runs before it publishes.

Events, file/API sources and CDC tables all write raw as Avro with the schema id and fingerprint in the file
metadata, and all hold staged files to the same rules, so the rules live here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from lake_assets.registry import SchemaVersion

SCHEMA_ID_KEY = "lake.schema_id"
FINGERPRINT_KEY = "lake.schema_fingerprint"
SOURCE_OBJECT_KEY = "lake.source_object"
AVRO_CODEC = "deflate"  # readable by every Avro implementation without extra codecs


@dataclass
class RawVerification:
    records: int
    schema_problems: list[str]
    count_problems: list[str]

    @property
    def passed(self) -> bool:
        return not (self.schema_problems or self.count_problems)

    @property
    def problems(self) -> list[str]:
        return self.schema_problems + self.count_problems


def staged_avro_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.avro")) if folder.is_dir() else []


def verify_avro_files(
    files: Iterable[Path], allowed: Mapping[str, SchemaVersion], expected: int, expected_from: str
) -> RawVerification:
    """Read staged files back as any Avro reader would and hold them to the registered schemas.

    Each file's ``lake.schema_id`` must name one of the ``allowed`` versions, its embedded writer schema (and
    the fingerprint written beside it) must be exactly that version's, every record must decode, and the
    total must equal ``expected`` (what ``expected_from`` counted: the landing index, the converter).
    """
    schema_problems: list[str] = []
    total = 0
    for path in files:
        with open(path, "rb") as handle:
            try:
                reader = fastavro.reader(handle)
                schema_id = reader.metadata.get(SCHEMA_ID_KEY)
                version = allowed.get(schema_id or "")
                if version is None:
                    known = ", ".join(sorted(allowed))
                    schema_problems.append(
                        f"{path.name}: {SCHEMA_ID_KEY} {schema_id!r} is not one of {known}"
                    )
                    continue
                embedded = fingerprint(to_parsing_canonical_form(reader.writer_schema), "CRC-64-AVRO")
                if embedded != version.fingerprint or reader.metadata.get(FINGERPRINT_KEY) != embedded:
                    schema_problems.append(
                        f"{path.name}: the embedded schema (fingerprint {embedded}) is not {schema_id} "
                        f"({version.fingerprint})"
                    )
                total += sum(1 for _ in reader)
            except (ValueError, EOFError) as exc:  # not Avro, or cut short
                schema_problems.append(f"{path.name}: cannot be read back: {exc}")
    count_problems = (
        [] if total == expected else [f"raw holds {total} records but {expected_from} {expected}"]
    )
    return RawVerification(total, schema_problems, count_problems)
