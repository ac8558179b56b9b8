"""Declarative source specs: one YAML file per file/log/API source, validated when loaded.

A source is data, not code: adding one is adding ``sources/specs/<name>.yaml`` (and, when the schema is
declared rather than inferred, a registry subject). The file's shape is the pydantic models below (one per
section, so editors can get a JSON Schema); ``explain`` turns pydantic's errors into messages naming the
file, the field and the fix, and all problems of a folder are reported at once, so ``lake sources check``
can be a CI gate.
"""

from __future__ import annotations

import codecs
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from lake_assets.spec_model import Problems, Section, bad, checked, explain, found_by

DEFAULT_SPECS_DIR = Path(__file__).parent / "specs"
FILE_KINDS = ("csv", "tsv", "jsonl", "xlsx", "log")
KINDS = (*FILE_KINDS, "http_api")
PARTITIONINGS = ("daily", "none")
_CRON_FIELD = re.compile(r"[0-9*/,\-A-Za-z?]+")


class SpecError(ValueError):
    """One or more source specs are invalid; the message lists every problem with file, field and fix."""


_Char = checked(lambda v: len(v) == 1, "must be one character, got {v!r}", "write one character, e.g. ';'")
_Encoding = checked(
    found_by(codecs.lookup), "{v!r} is not a known encoding", "use e.g. utf-8, latin-1, cp1252"
)
_Zone = checked(
    found_by(zoneinfo.ZoneInfo),
    "{v!r} is not a time zone",
    "use an IANA name such as UTC or Europe/Paris",
)
_Cron = checked(
    lambda v: len(v.split()) == 5 and all(map(_CRON_FIELD.fullmatch, v.split())),
    "{v!r} is not a 5-field cron expression",
    "write e.g. '0 * * * *'",
)
_Url = checked(
    lambda v: v.startswith(("http://", "https://")),
    "{v!r} is not an http(s) URL",
    "write e.g. https://api.example.com/v1/orders",
)
_EnvName = checked(
    re.compile(r"[A-Z_][A-Z0-9_]*").fullmatch,
    "{v!r} is not an environment variable name",
    "name the variable holding the token (e.g. LAKE_API_SHOP_TOKEN); never write the token here",
)
_Cells = checked(
    re.compile(r"[A-Z]{1,3}[1-9][0-9]*(:[A-Z]{1,3}[1-9][0-9]*)?").fullmatch,
    "{v!r} is not a cell range",
    "write e.g. A1:F500 or B3",
)
_SourceName = checked(
    re.compile(r"[a-z][a-z0-9_]{0,62}").fullmatch,
    "{v!r} is not a source name",
    "use lower case letters, digits and _ (e.g. products)",
)
_Strings = Annotated[tuple[str, ...], Field(strict=False)]  # YAML lists become tuples: specs are hashable
_Names = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(strict=False)]


# -- the values the lake uses --------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatOptions:
    """How to read a file; only the options of the spec's kind are used (the rest keep their defaults)."""

    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    escapechar: str | None = None
    header: bool = True
    columns: tuple[str, ...] = ()  # column names when the file has no header row
    skip_rows: int = 0  # lines before the header (titles, notes)
    null_values: tuple[str, ...] = ("",)
    sheet: str | None = None  # xlsx: a sheet name; None = the first sheet
    cell_range: str | None = None  # xlsx: "B2:F500" or "B2" (from there to the end)
    pattern: str | None = None  # log: a regex with named groups
    preset: str | None = None  # log: a ready pattern (see LOG_PRESETS)


class Pagination(Section):
    style: Literal["none", "page", "cursor"] = "none"
    page_param: str = "page"
    first_page: int = 1
    page_size_param: str | None = None
    page_size: PositiveInt | None = None
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"


class Incremental(Section):
    """Pull only records newer than the watermark: send ``param=<watermark>``, advance it by ``field``."""

    param: str
    field: str
    initial: str | None = None


class Auth(Section):
    token_env: _EnvName  # the NAME of the environment variable holding the token, never the token
    header: str = "Authorization"
    scheme: str = "Bearer"


@dataclass(frozen=True)
class ApiOptions:
    url: str
    records_path: str = ""  # dotted path to the list of records in a page; "" = the page is the list
    params: Mapping[str, str] = field(default_factory=dict)
    pagination: Pagination = Pagination()
    incremental: Incremental | None = None
    auth: Auth | None = None
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    requests_per_second: float | None = None
    max_retry_after_seconds: float = 300.0
    timeout_seconds: float = 30.0
    max_pages: int = 10_000


@dataclass(frozen=True)
class Trigger:
    """``sensor`` (watch the landing prefix) or ``schedule`` (a cron expression, for APIs)."""

    kind: str
    cron: str | None = None
    minimum_interval_seconds: int = 30


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    spec_path: Path | None
    landing_prefix: str
    format: FormatOptions
    schema_subject: str | None  # a registry subject, or None when the schema is inferred
    infer_rows: int
    event_time: str | None
    event_time_format: str | None  # strptime format; None = ISO 8601
    timezone: str  # applied to timestamps that carry none
    primary_key: tuple[str, ...]
    partitioning: str
    trigger: Trigger
    api: ApiOptions | None = None
    description: str = ""

    @property
    def zone_folder(self) -> str:
        """``files/<name>`` or ``api/<name>``: the same folder under landing, raw and quarantine."""
        return f"{'api' if self.kind == 'http_api' else 'files'}/{self.name}"

    @property
    def infers_schema(self) -> bool:
        return self.schema_subject is None


# -- the file's sections (its shape differs from the values where YAML is terser) ----------------------


class _Headed(Section):
    header: bool = True
    columns: _Names = ()
    null_values: _Strings = ("",)

    @model_validator(mode="after")
    def _named(self) -> Self:
        if not self.header and not self.columns:
            raise bad("a file without a header needs column names", "list them in format.columns", "columns")
        return self


class _Text(Section):
    encoding: _Encoding = "utf-8"


class _Delimited(_Text, _Headed):
    delimiter: _Char = ","
    quotechar: _Char = '"'
    escapechar: _Char | None = None
    skip_rows: Annotated[int, Field(ge=0)] = 0


class _Tsv(_Delimited):
    delimiter: _Char = "\t"


class _Xlsx(_Headed):
    sheet: str | None = None
    range: _Cells | None = None


def _regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise bad(f"not a valid regex ({exc})", "fix the regular expression") from None
    if not compiled.groupindex:
        raise bad("the pattern has no named groups", "name each field: (?P<status>\\d+)")
    return pattern


def _preset(preset: str) -> str:
    from lake_assets.sources.files.logs import LOG_PRESETS  # logs.py imports this module

    if preset not in LOG_PRESETS:
        raise bad(f"{preset!r} is not a preset", f"use one of {', '.join(LOG_PRESETS)}")
    return preset


class _Log(_Text):
    pattern: Annotated[str, AfterValidator(_regex)] | None = None
    preset: Annotated[str, AfterValidator(_preset)] | None = None
    null_values: _Strings = ("-",)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.pattern is None) == (self.preset is None):
            fix = "set one, e.g. preset: nginx_combined"
            raise bad("a log source needs exactly one of pattern or preset", fix, "pattern")
        return self


class _Schema(Section):
    subject: str | None = None  # a registry subject; None = inferred
    infer_rows: PositiveInt = 1000


class _EventTime(Section):
    column: Annotated[str, Field(min_length=1)]
    format: str | None = None  # strptime format; None = ISO 8601
    timezone: _Zone = "UTC"


class _Sensor(Section):
    minimum_interval_seconds: PositiveInt = 30


class _Trigger(Section):
    sensor: _Sensor | None = None
    schedule: _Cron | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = self.model_fields_set
        if len(given) != 1 or given == {"schedule"} and self.schedule is None:
            raise bad("needs exactly one of sensor or schedule", "write trigger: {schedule: '0 * * * *'}")
        return self

    def value(self) -> Trigger:
        if self.schedule is not None:
            return Trigger("schedule", self.schedule)
        return Trigger("sensor", None, (self.sensor or _Sensor()).minimum_interval_seconds)


class _Retries(Section):
    max_attempts: PositiveInt = 5
    backoff_seconds: PositiveFloat = 1.0
    max_backoff_seconds: PositiveFloat = 30.0


class _RateLimit(Section):
    requests_per_second: PositiveFloat | None = None
    max_retry_after_seconds: PositiveFloat = 300.0


class _Api(Section):
    url: _Url
    records_path: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    pagination: Pagination = Pagination()
    incremental: Incremental | None = None
    auth: Auth | None = None
    retries: _Retries = _Retries()
    rate_limit: _RateLimit = _RateLimit()
    timeout_seconds: PositiveFloat = 30.0
    max_pages: PositiveInt = 10_000

    def value(self) -> ApiOptions:
        return ApiOptions(
            **{k: v for k, v in self if k not in ("params", "retries", "rate_limit")},
            params={k: str(v) for k, v in self.params.items()},
            **dict(self.retries),
            **dict(self.rate_limit),
        )


def _shorthand(expand: Callable[[str], Any], accepts: Any) -> BeforeValidator:
    """YAML shorthands: ``event_time: ts`` for ``{column: ts}``, ``primary_key: id`` for ``[id]``..."""
    return BeforeValidator(lambda v: expand(v) if isinstance(v, str) else v, json_schema_input_type=accepts)


class _NoFormat(Section):
    pass


class _Spec(Section):
    """A spec file; each kind's subclass fixes ``kind`` and the format (or api) block that kind takes."""

    name: _SourceName
    kind: str
    description: str = ""
    landing: str | None = None  # default landing/<files|api>/<name>/
    format: Section = _NoFormat()
    schema_: Annotated[
        _Schema, _shorthand(lambda v: {} if v == "infer" else v, Literal["infer"] | _Schema)
    ] = Field(default_factory=_Schema, alias="schema")
    event_time: Annotated[_EventTime | None, _shorthand(lambda v: {"column": v}, str | _EventTime | None)] = (
        None
    )
    primary_key: Annotated[_Names, _shorthand(lambda v: (v,), str | list[str])] = ()
    partitioning: Literal["daily", "none"] | None = None  # default daily with an event time, else none
    trigger: _Trigger | None = None  # default a sensor, or an hourly schedule for an API
    api: _Api | None = None

    @field_validator("name")
    @classmethod
    def _file_name(cls, name: str, info: ValidationInfo) -> str:
        path = (info.context or {}).get("path")
        if path is not None and path.stem != name:
            raise bad(f"{name!r} differs from the file name {path.name}", f"rename the file to {name}.yaml")
        return name

    @field_validator("api", mode="before")
    @classmethod
    def _only_apis(cls, api: Any, info: ValidationInfo) -> Any:
        if (kind := info.data.get("kind")) != "http_api":
            raise bad(f"only http_api sources take api options, this one is {kind}", "remove the api block")
        return api

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        zone, issues = self.zone, []
        if self.landing is not None and not self.landing.startswith(f"landing/{zone}/"):
            where, fix = f"landing/{zone}/", f"use landing/{zone}/{self.name}/"
            issues.append(("landing", f"{self.landing!r} is not under {where}", fix))
        if self.partitioning == "daily" and self.event_time is None:
            fix = "set event_time or partitioning: none"
            issues.append(("partitioning", "daily partitions need an event time", fix))
        if zone == "api" and self.trigger is not None and "sensor" in self.trigger.model_fields_set:
            fix = "use trigger: {schedule: '0 * * * *'}"
            issues.append(("trigger.sensor", "an API has no landing files to watch", fix))
        if issues:
            raise Problems(*issues)
        return self

    @property
    def zone(self) -> str:
        return "api" if self.kind == "http_api" else "files"

    def value(self, path: Path | None) -> SourceSpec:
        when, api = self.event_time, self.api
        default_trigger = Trigger("schedule", "0 * * * *") if api else Trigger("sensor")
        return SourceSpec(
            name=self.name,
            kind=self.kind,
            spec_path=path,
            landing_prefix=(self.landing or f"landing/{self.zone}/{self.name}").rstrip("/") + "/",
            format=FormatOptions(**{("cell_range" if k == "range" else k): v for k, v in self.format}),
            schema_subject=self.schema_.subject,
            infer_rows=self.schema_.infer_rows,
            event_time=when.column if when else None,
            event_time_format=when.format if when else None,
            timezone=when.timezone if when else "UTC",
            primary_key=self.primary_key,
            partitioning=self.partitioning or ("daily" if when else "none"),
            trigger=self.trigger.value() if self.trigger else default_trigger,
            api=api.value() if api else None,
            description=self.description,
        )


_FORMATS = {"csv": _Delimited, "tsv": _Tsv, "jsonl": _Text, "xlsx": _Xlsx, "log": _Log, "http_api": _NoFormat}
_BY_KIND: dict[str, type[_Spec]] = {
    kind: create_model(
        f"{kind}_source",
        __base__=_Spec,
        kind=(Literal[kind], ...),
        format=(fmt, Field(default_factory=dict, validate_default=True)),  # the kind's rules hold when absent
        api=(_Api, ...) if kind == "http_api" else (SkipJsonSchema[None], None),
    )
    for kind, fmt in _FORMATS.items()
}
_HINTS = {
    "name": "use lower case letters, digits and _ (e.g. products)",
    "schema": "write schema: infer or schema: {subject: NAME}",
    "event_time": "write event_time: COLUMN or event_time: {column: COLUMN, timezone: UTC}",
    "event_time.column": "name the column holding the event time",
    "primary_key": "write e.g. [product_id]",
    "format.columns": "write e.g. [id, name, price]",
    "format.null_values": "write e.g. ['', 'NULL']",
    "trigger": "write trigger: {schedule: '0 * * * *'} or trigger: {sensor: {}}",
    "api": "write api: {url: https://api.example.com/v1/orders}",
    "api.incremental": "write {param: updated_since, field: updated_at}",
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a source spec file, for editors (e.g. yaml-language-server's ``$schema``)."""
    spec = Annotated[Union[tuple(_BY_KIND.values())], Field(discriminator="kind")]  # noqa: UP007
    return {"title": "Lake source spec", **TypeAdapter(spec).json_schema()}


# -- loading -------------------------------------------------------------------------------------------


def parse_spec(data: Any, path: Path | None = None) -> tuple[SourceSpec | None, list[str]]:
    """A spec from its YAML data, or None and the problems (each naming file, field and fix)."""
    where = str(path) if path else "<spec>"

    def message(at: str, what: str, fix: str) -> str:
        return f"{where}: field '{at or '<top>'}': {what}. Fix: {fix}."

    if not isinstance(data, dict):
        return None, [
            message("", "a spec must be a mapping", "start the file with 'name: ...' and 'kind: ...'")
        ]
    kind = data.get("kind")
    model = _BY_KIND.get(kind) if isinstance(kind, str) else None
    if model is None:
        what = "missing" if kind is None else f"{kind!r} is not a source kind"
        return None, [message("kind", what, f"use one of {', '.join(KINDS)}")]
    try:
        return model.model_validate(data, context={"path": path}).value(path), []
    except ValidationError as exc:
        return None, [message(*problem) for problem in explain(exc, model, _HINTS)]


def _read(path: Path) -> tuple[SourceSpec | None, list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, [f"{path}: not readable YAML ({exc}). Fix: correct the YAML syntax."]
    return parse_spec(data, path)


def _scan(folder: Path | str, registry: Any = None) -> tuple[list[SourceSpec], list[str]]:
    folder = Path(folder)
    if not folder.is_dir():
        return [], [f"{folder}: no such folder of source specs. Fix: create it or pass the right folder."]
    specs: list[SourceSpec] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        spec, found = _read(path)
        problems += found
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(
                f"{path}: field 'name': {spec.name!r} is also defined in {seen[spec.name]}. Fix: rename one."
            )
            continue
        seen[spec.name] = path
        if registry is not None and spec.schema_subject is not None:
            try:
                registry.subject(spec.schema_subject)
            except ValueError as exc:
                problems.append(
                    f"{path}: field 'schema.subject': {exc}. Fix: add the subject or use schema: infer."
                )
        specs.append(spec)
    return specs, problems


def load_specs(folder: Path | str = DEFAULT_SPECS_DIR, registry: Any = None) -> list[SourceSpec]:
    """Every spec of ``folder`` sorted by name; raises ``SpecError`` listing all problems if any."""
    specs, problems = _scan(folder, registry)
    if problems:
        raise SpecError("\n".join(problems))
    return sorted(specs, key=lambda s: s.name)


def check_specs(folder: Path | str = DEFAULT_SPECS_DIR, registry: Any = None) -> list[str]:
    """Problems of the specs in ``folder`` (empty when all are valid); for ``lake sources check``."""
    return _scan(folder, registry)[1]
