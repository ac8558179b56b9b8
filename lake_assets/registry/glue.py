"""The repository's schema registry published to (and read back from) the AWS Glue Schema Registry.

The files under ``registry/schemas/`` stay the source of truth (reviewed, gated by ``lake schemas check``);
Glue holds a copy so AWS-side consumers (Firehose record conversion, Glue jobs, other teams' producers) can
resolve the same schemas. Publishing is idempotent: a version already in Glue is recognised by comparing
definitions, so re-publishing registers nothing; a Glue version that differs from the repository's stops
the publish, because published versions are never edited.

Glue names the transitive modes ``*_ALL``. moto 5.2.5 (used in tests) implements neither ``ListSchemas`` nor
``ListSchemaVersions`` (HTTP 500), so versions are read with ``GetSchema`` + ``GetSchemaVersion`` per number
(which works on both) and ``registry_from_glue`` takes the schema names when listing is unavailable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from lake_assets.registry.registry import RegistryError, SchemaRegistry, SchemaVersion, Subject

DEFAULT_GLUE_REGISTRY = "lake-events"
TO_GLUE_COMPATIBILITY = {
    "NONE": "NONE",
    "BACKWARD": "BACKWARD",
    "BACKWARD_TRANSITIVE": "BACKWARD_ALL",
    "FORWARD": "FORWARD",
    "FORWARD_TRANSITIVE": "FORWARD_ALL",
    "FULL": "FULL",
    "FULL_TRANSITIVE": "FULL_ALL",
}
FROM_GLUE_COMPATIBILITY = {glue: ours for ours, glue in TO_GLUE_COMPATIBILITY.items()}
_PENDING_TIMEOUT_SECONDS = 60.0


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _definition(version: SchemaVersion) -> str:
    # Field order matters in Avro, so no key sorting; compact, far below Glue's 170,000-character limit.
    return json.dumps(version.schema, separators=(",", ":"))


def _same_definition(a: str, b: str) -> bool:
    """Glue may re-serialise a definition; two definitions are the same when they parse to the same JSON."""
    return json.loads(a) == json.loads(b)


def _ensure_registry(glue: Any, name: str) -> None:
    try:
        glue.get_registry(RegistryId={"RegistryName": name})
    except ClientError as exc:
        if _code(exc) != "EntityNotFoundException":
            raise
        glue.create_registry(RegistryName=name, Description="lake_assets event schemas (from the repository)")


def _remote_versions(glue: Any, schema_id: dict[str, str], latest: int) -> dict[int, str]:
    """Version number -> definition for 1..latest; a deleted number is simply absent."""
    found: dict[int, str] = {}
    for number in range(1, latest + 1):
        try:
            answer = glue.get_schema_version(
                SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number}
            )
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":
                continue
            raise
        found[number] = answer["SchemaDefinition"]
    return found


def _wait_available(glue: Any, answer: dict[str, Any], schema_id_text: str) -> None:
    """Glue checks compatibility asynchronously: PENDING, then AVAILABLE or FAILURE."""
    deadline = time.monotonic() + _PENDING_TIMEOUT_SECONDS
    status = answer.get("Status", "AVAILABLE")
    while status == "PENDING" and time.monotonic() < deadline:
        time.sleep(1.0)
        status = glue.get_schema_version(SchemaVersionId=answer["SchemaVersionId"]).get("Status")
    if status != "AVAILABLE":
        raise RegistryError(f"Glue did not accept {schema_id_text}: version status {status}")


def publish_registry(
    glue_client: Any, registry: SchemaRegistry, registry_name: str = DEFAULT_GLUE_REGISTRY
) -> list[str]:
    """Register every subject's versions in Glue; returns what changed (``subject:vN``, mode updates).

    Creates the registry when missing. A subject's Glue schema is created with v1 and its compatibility mode;
    later versions are registered in order. Idempotent: an empty list when Glue already has everything.
    """
    glue = glue_client
    _ensure_registry(glue, registry_name)
    changes: list[str] = []
    for name in registry.subjects():
        subject = registry.subject(name)
        mode = TO_GLUE_COMPATIBILITY[subject.compatibility]
        schema_id = {"RegistryName": registry_name, "SchemaName": name}
        try:
            current = glue.get_schema(SchemaId=schema_id)
        except ClientError as exc:
            if _code(exc) != "EntityNotFoundException":
                raise
            first = subject.versions[0]
            glue.create_schema(
                RegistryId={"RegistryName": registry_name},
                SchemaName=name,
                DataFormat="AVRO",
                Compatibility=mode,
                SchemaDefinition=_definition(first),
                Description=f"lake_assets subject {subject.group}/{name}",
            )
            changes.append(first.schema_id)
            current = glue.get_schema(SchemaId=schema_id)
        if current.get("DataFormat") != "AVRO":
            raise RegistryError(
                f"Glue schema {registry_name}/{name} is {current.get('DataFormat')}, not AVRO"
            )
        if current.get("Compatibility") != mode:
            # The repository decides the mode (and `lake schemas check` has validated it).
            glue.update_schema(
                SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True}, Compatibility=mode
            )
            changes.append(f"{name}:compatibility={subject.compatibility}")
        remote = _remote_versions(glue, schema_id, int(current.get("LatestSchemaVersion") or 0))
        extra = sorted(set(remote) - {v.version for v in subject.versions})
        if extra:
            raise RegistryError(
                f"Glue schema {registry_name}/{name} has version(s) {extra} that the repository does not; "
                "add them to the repository or remove them from Glue"
            )
        for version in subject.versions:
            definition = _definition(version)
            if version.version in remote:
                if not _same_definition(remote[version.version], definition):
                    raise RegistryError(
                        f"Glue has a different {version.schema_id} than the repository; published versions "
                        "are never edited: add a new version instead"
                    )
                continue
            answer = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=definition)
            if int(answer.get("VersionNumber", 0)) != version.version:
                # Glue returns an existing version when the definition is already registered under it.
                raise RegistryError(
                    f"Glue registered {version.schema_id} as version {answer.get('VersionNumber')}; "
                    "is it identical to an earlier version?"
                )
            _wait_available(glue, answer, version.schema_id)
            changes.append(version.schema_id)
    return changes


def _schema_names(glue: Any, registry_name: str) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"RegistryId": {"RegistryName": registry_name}, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        try:
            page = glue.list_schemas(**kwargs)
        except ClientError as exc:
            if _code(exc) in {"500", "InternalFailure", "InternalServiceException"}:
                raise RegistryError(
                    f"listing the schemas of Glue registry {registry_name} failed ({_code(exc)}); "
                    "moto does not implement ListSchemas: pass schema_names"
                ) from None
            raise
        names += [s["SchemaName"] for s in page.get("Schemas", [])]
        token = page.get("NextToken")
        if not token:
            return sorted(names)


def registry_from_glue(
    glue_client: Any,
    registry_name: str = DEFAULT_GLUE_REGISTRY,
    schema_names: Iterable[str] | None = None,
    group: str = "events",
) -> SchemaRegistry:
    """Every schema and version of a Glue registry as a ``SchemaRegistry`` (group ``events``).

    ``schema_names`` restricts the read (and replaces ``ListSchemas``, which moto lacks). Versions must be
    numbered 1..N without gaps, as in the repository; a deleted version in Glue is reported, not skipped.
    """
    glue = glue_client
    names = sorted(schema_names) if schema_names is not None else _schema_names(glue, registry_name)
    subjects: dict[str, Subject] = {}
    for name in names:
        schema_id = {"RegistryName": registry_name, "SchemaName": name}
        try:
            current = glue.get_schema(SchemaId=schema_id)
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":
                raise RegistryError(f"Glue registry {registry_name} has no schema {name!r}") from None
            raise
        glue_mode = current.get("Compatibility")
        if glue_mode not in FROM_GLUE_COMPATIBILITY:
            raise RegistryError(
                f"Glue schema {registry_name}/{name} has compatibility {glue_mode}, unsupported"
            )
        latest = int(current.get("LatestSchemaVersion") or 0)
        remote = _remote_versions(glue, schema_id, latest)
        if sorted(remote) != list(range(1, latest + 1)) or not remote:
            raise RegistryError(
                f"Glue schema {registry_name}/{name} has versions {sorted(remote)}, not 1..{latest}"
            )
        versions = tuple(SchemaVersion(name, n, json.loads(remote[n])) for n in sorted(remote))
        subjects[name] = Subject(name, group, FROM_GLUE_COMPATIBILITY[glue_mode], versions)
    return SchemaRegistry(subjects)
