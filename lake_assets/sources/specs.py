"""Declarative source specs: one YAML file per file/log/API source, validated when loaded.

A source is data, not code: adding one is adding ``sources/specs/<name>.yaml`` (and, when the schema is
declared rather than inferred, a registry subject). Every problem names the file, the field and the fix, and
all problems of a folder are reported at once, so ``lake sources check`` can be a CI gate.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SPECS_DIR = Path(__file__).parent / "specs"
FILE_KINDS = ("csv", "tsv", "jsonl", "xlsx", "log")
KINDS = (*FILE_KINDS, "http_api")
PARTITIONINGS = ("daily", "none")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?]+$")


class SpecError(ValueError):
    """One or more source specs are invalid; the message lists every problem with file, field and fix."""


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


@dataclass(frozen=True)
class Pagination:
    style: str = "none"  # none | page | cursor
    page_param: str = "page"
    first_page: int = 1
    page_size_param: str | None = None
    page_size: int | None = None
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"


@dataclass(frozen=True)
class Incremental:
    """Pull only records newer than the watermark: send ``param=<watermark>``, advance it by ``field``."""

    param: str
    field: str
    initial: str | None = None


@dataclass(frozen=True)
class Auth:
    token_env: str  # the NAME of the environment variable holding the token, never the token
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


class _Checker:
    """Reads one spec dict, collecting problems instead of stopping at the first one."""

    def __init__(self, path: Path | None) -> None:
        self.where = str(path) if path else "<spec>"
        self.problems: list[str] = []

    def problem(self, field_name: str, what: str, fix: str) -> None:
        self.problems.append(f"{self.where}: field '{field_name}': {what}. Fix: {fix}.")

    def mapping(self, data: Any, field_name: str) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(
                field_name, f"must be a mapping, got {type(data).__name__}", "write key: value pairs"
            )
            return {}
        return data

    def known(self, data: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                self.problem(f"{prefix}{key}", "unknown field", f"remove it ({hint})")

    def typed(
        self, data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, prefix: str
    ) -> Any:
        value = data.get(key, default)
        if value is default:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.problem(f"{prefix}{key}", f"must be {names}, got {value!r}", f"write a {names}")
            return default
        return value

    def positive(self, data: dict[str, Any], key: str, default: Any, prefix: str) -> Any:
        value = self.typed(data, key, (int, float), default, prefix)
        if value is not None and value <= 0:
            self.problem(f"{prefix}{key}", f"must be positive, got {value}", "use a number above 0")
            return default
        return value


def parse_spec(data: Any, path: Path | None = None) -> tuple[SourceSpec | None, list[str]]:
    """A spec from its YAML data, or None and the problems (each naming file, field and fix)."""
    c = _Checker(path)
    if not isinstance(data, dict):
        c.problem("<top>", "a spec must be a mapping", "start the file with 'name: ...' and 'kind: ...'")
        return None, c.problems
    c.known(
        data,
        (
            "name", "kind", "description", "landing", "format", "schema", "event_time", "primary_key",
            "partitioning", "trigger", "api",
        ),
        "",
    )  # fmt: skip
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        c.problem(
            "name", f"{name!r} is not a source name", "use lower case letters, digits and _ (e.g. products)"
        )
        name = "invalid"
    elif path is not None and path.stem != name:
        c.problem(
            "name", f"{name!r} differs from the file name {path.name}", f"rename the file to {name}.yaml"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        c.problem("kind", f"{kind!r} is not a source kind", f"use one of {', '.join(KINDS)}")
        kind = "csv"
    folder = f"{'api' if kind == 'http_api' else 'files'}/{name}"
    landing = data.get("landing", f"landing/{folder}/")
    if not isinstance(landing, str) or not landing.startswith(f"landing/{folder.split('/')[0]}/"):
        c.problem(
            "landing", f"{landing!r} is not under landing/{folder.split('/')[0]}/", f"use landing/{folder}/"
        )
        landing = f"landing/{folder}/"
    landing = landing.rstrip("/") + "/"

    fmt = _format(c, c.mapping(data.get("format"), "format"), kind)
    subject, infer_rows = _schema(c, data.get("schema", "infer"))
    event_time, time_format, tz = _event_time(c, data.get("event_time"))
    pk = data.get("primary_key", [])
    if isinstance(pk, str):
        pk = [pk]
    if not isinstance(pk, list) or not all(isinstance(k, str) and k for k in pk):
        c.problem("primary_key", f"{pk!r} is not a list of column names", "write e.g. [product_id]")
        pk = []
    partitioning = data.get("partitioning", "daily" if event_time else "none")
    if partitioning not in PARTITIONINGS:
        c.problem("partitioning", f"{partitioning!r} is not known", f"use one of {', '.join(PARTITIONINGS)}")
        partitioning = "none"
    if partitioning == "daily" and not event_time:
        c.problem(
            "partitioning", "daily partitions need an event time", "set event_time or partitioning: none"
        )
    trigger = _trigger(c, data.get("trigger"), kind)
    api = None
    if kind == "http_api":
        api = _api(c, c.mapping(data.get("api"), "api"))
    elif "api" in data:
        c.problem(
            "api", f"only http_api sources take api options, this one is {kind}", "remove the api block"
        )
    if c.problems:
        return None, c.problems
    return (
        SourceSpec(
            name=name,
            kind=kind,
            spec_path=path,
            landing_prefix=landing,
            format=fmt,
            schema_subject=subject,
            infer_rows=infer_rows,
            event_time=event_time,
            event_time_format=time_format,
            timezone=tz,
            primary_key=tuple(pk),
            partitioning=partitioning,
            trigger=trigger,
            api=api,
            description=str(data.get("description", "")),
        ),
        [],
    )


def _format(c: _Checker, data: dict[str, Any], kind: str) -> FormatOptions:
    p = "format."
    allowed: dict[str, tuple[str, ...]] = {
        "csv": (
            "encoding",
            "delimiter",
            "quotechar",
            "escapechar",
            "header",
            "columns",
            "skip_rows",
            "null_values",
        ),
        "tsv": (
            "encoding",
            "delimiter",
            "quotechar",
            "escapechar",
            "header",
            "columns",
            "skip_rows",
            "null_values",
        ),
        "jsonl": ("encoding",),
        "xlsx": ("sheet", "range", "header", "columns", "null_values"),
        "log": ("encoding", "pattern", "preset", "null_values"),
        "http_api": (),
    }
    c.known(data, allowed[kind], p)
    defaults = FormatOptions(delimiter="\t" if kind == "tsv" else ",")
    encoding = c.typed(data, "encoding", str, defaults.encoding, p)
    try:
        import codecs

        codecs.lookup(encoding)
    except LookupError:
        c.problem(
            "format.encoding", f"{encoding!r} is not a known encoding", "use e.g. utf-8, latin-1, cp1252"
        )
        encoding = "utf-8"
    values: dict[str, Any] = {"encoding": encoding}
    for key in ("delimiter", "quotechar", "escapechar"):
        value = c.typed(data, key, str, getattr(defaults, key), p)
        if value is not None and len(value) != 1:
            c.problem(
                f"format.{key}", f"must be one character, got {value!r}", "write one character, e.g. ';'"
            )
            value = getattr(defaults, key)
        values[key] = value
    values["header"] = c.typed(data, "header", bool, True, p)
    columns = data.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(x, str) and x for x in columns):
        c.problem("format.columns", f"{columns!r} is not a list of names", "write e.g. [id, name, price]")
        columns = []
    if not values["header"] and not columns:
        c.problem(
            "format.columns", "a file without a header needs column names", "list them in format.columns"
        )
    values["columns"] = tuple(columns)
    skip = c.typed(data, "skip_rows", int, 0, p)
    values["skip_rows"] = max(0, skip)
    nulls = data.get("null_values", ["-"] if kind == "log" else [""])
    if not isinstance(nulls, list) or not all(isinstance(x, str) for x in nulls):
        c.problem("format.null_values", f"{nulls!r} is not a list of strings", "write e.g. ['', 'NULL']")
        nulls = [""]
    values["null_values"] = tuple(nulls)
    values["sheet"] = c.typed(data, "sheet", str, None, p)
    cell_range = c.typed(data, "range", str, None, p)
    if cell_range is not None and not re.fullmatch(
        r"[A-Z]{1,3}[1-9][0-9]*(:[A-Z]{1,3}[1-9][0-9]*)?", cell_range
    ):
        c.problem("format.range", f"{cell_range!r} is not a cell range", "write e.g. A1:F500 or B3")
        cell_range = None
    values["cell_range"] = cell_range
    if kind == "log":
        from lake_assets.sources.files.logs import LOG_PRESETS

        pattern = c.typed(data, "pattern", str, None, p)
        preset = c.typed(data, "preset", str, None, p)
        if (pattern is None) == (preset is None):
            c.problem(
                "format.pattern",
                "a log source needs exactly one of pattern or preset",
                "set one, e.g. preset: nginx_combined",
            )
        if preset is not None and preset not in LOG_PRESETS:
            c.problem("format.preset", f"{preset!r} is not a preset", f"use one of {', '.join(LOG_PRESETS)}")
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
                if not compiled.groupindex:
                    c.problem(
                        "format.pattern",
                        "the pattern has no named groups",
                        "name each field: (?P<status>\\d+)",
                    )
            except re.error as exc:
                c.problem("format.pattern", f"not a valid regex ({exc})", "fix the regular expression")
        values["pattern"], values["preset"] = pattern, preset
    return FormatOptions(**values)


def _schema(c: _Checker, data: Any) -> tuple[str | None, int]:
    if data == "infer":
        return None, 1000
    if isinstance(data, dict):
        c.known(data, ("subject", "infer_rows"), "schema.")
        rows = c.positive(data, "infer_rows", 1000, "schema.")
        subject = data.get("subject")
        if subject is not None and not isinstance(subject, str):
            c.problem(
                "schema.subject", f"{subject!r} is not a subject name", "write the registry subject name"
            )
            subject = None
        return subject, int(rows)
    c.problem(
        "schema",
        f"{data!r} is neither 'infer' nor a mapping",
        "write schema: infer or schema: {subject: NAME}",
    )
    return None, 1000


def _event_time(c: _Checker, data: Any) -> tuple[str | None, str | None, str]:
    if data is None:
        return None, None, "UTC"
    if isinstance(data, str):
        return data, None, "UTC"
    body = c.mapping(data, "event_time")
    c.known(body, ("column", "format", "timezone"), "event_time.")
    column = c.typed(body, "column", str, None, "event_time.")
    if not column:
        c.problem("event_time.column", "missing", "name the column holding the event time")
    tz = c.typed(body, "timezone", str, "UTC", "event_time.")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        c.problem(
            "event_time.timezone",
            f"{tz!r} is not a time zone",
            "use an IANA name such as UTC or Europe/Paris",
        )
        tz = "UTC"
    return column, c.typed(body, "format", str, None, "event_time."), tz


def _trigger(c: _Checker, data: Any, kind: str) -> Trigger:
    if data is None:
        return Trigger("schedule", "0 * * * *") if kind == "http_api" else Trigger("sensor")
    body = c.mapping(data, "trigger")
    c.known(body, ("sensor", "schedule"), "trigger.")
    if len(body) != 1:
        c.problem(
            "trigger", "needs exactly one of sensor or schedule", "write trigger: {schedule: '0 * * * *'}"
        )
        return Trigger("sensor")
    if "schedule" in body:
        cron = body["schedule"]
        if (
            not isinstance(cron, str)
            or len(cron.split()) != 5
            or not all(map(_CRON_FIELD.match, cron.split()))
        ):
            c.problem(
                "trigger.schedule", f"{cron!r} is not a 5-field cron expression", "write e.g. '0 * * * *'"
            )
            cron = "0 * * * *"
        return Trigger("schedule", cron)
    if kind == "http_api":
        c.problem(
            "trigger.sensor", "an API has no landing files to watch", "use trigger: {schedule: '0 * * * *'}"
        )
    sensor = c.mapping(body.get("sensor"), "trigger.sensor")
    c.known(sensor, ("minimum_interval_seconds",), "trigger.sensor.")
    return Trigger("sensor", None, int(c.positive(sensor, "minimum_interval_seconds", 30, "trigger.sensor.")))


def _api(c: _Checker, data: dict[str, Any]) -> ApiOptions | None:
    p = "api."
    c.known(
        data,
        (
            "url", "records_path", "params", "pagination", "incremental", "auth", "retries", "rate_limit",
            "timeout_seconds", "max_pages",
        ),
        p,
    )  # fmt: skip
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        c.problem("api.url", f"{url!r} is not an http(s) URL", "write e.g. https://api.example.com/v1/orders")
        url = "http://invalid"
    params = c.mapping(data.get("params"), "api.params")
    pag = c.mapping(data.get("pagination"), "api.pagination")
    pag_fields = ("style", "page_param", "first_page", "page_size_param", "page_size", "cursor_param")
    c.known(pag, (*pag_fields, "next_cursor_path"), "api.pagination.")
    style = pag.get("style", "none")
    if style not in ("none", "page", "cursor"):
        c.problem("api.pagination.style", f"{style!r} is not a style", "use page, cursor or none")
        style = "none"
    pagination = Pagination(
        style=style,
        page_param=c.typed(pag, "page_param", str, "page", "api.pagination."),
        first_page=c.typed(pag, "first_page", int, 1, "api.pagination."),
        page_size_param=c.typed(pag, "page_size_param", str, None, "api.pagination."),
        page_size=c.positive(pag, "page_size", None, "api.pagination."),
        cursor_param=c.typed(pag, "cursor_param", str, "cursor", "api.pagination."),
        next_cursor_path=c.typed(pag, "next_cursor_path", str, "next_cursor", "api.pagination."),
    )
    incremental = None
    if "incremental" in data:
        inc = c.mapping(data["incremental"], "api.incremental")
        c.known(inc, ("param", "field", "initial"), "api.incremental.")
        if not isinstance(inc.get("param"), str) or not isinstance(inc.get("field"), str):
            c.problem(
                "api.incremental", "needs param and field", "write {param: updated_since, field: updated_at}"
            )
        else:
            incremental = Incremental(
                inc["param"], inc["field"], c.typed(inc, "initial", str, None, "api.incremental.")
            )
    auth = None
    if "auth" in data:
        body = c.mapping(data["auth"], "api.auth")
        c.known(body, ("token_env", "header", "scheme"), "api.auth.")
        token_env = body.get("token_env")
        if not isinstance(token_env, str) or not _ENV_NAME.match(token_env):
            c.problem(
                "api.auth.token_env", f"{token_env!r} is not an environment variable name",
                "name the variable holding the token (e.g. LAKE_API_SHOP_TOKEN); never write the token here",
            )  # fmt: skip
        else:
            auth = Auth(
                token_env,
                c.typed(body, "header", str, "Authorization", "api.auth."),
                c.typed(body, "scheme", str, "Bearer", "api.auth."),
            )
    retries = c.mapping(data.get("retries"), "api.retries")
    c.known(retries, ("max_attempts", "backoff_seconds", "max_backoff_seconds"), "api.retries.")
    rate = c.mapping(data.get("rate_limit"), "api.rate_limit")
    c.known(rate, ("requests_per_second", "max_retry_after_seconds"), "api.rate_limit.")
    return ApiOptions(
        url=url,
        records_path=c.typed(data, "records_path", str, "", p),
        params={str(k): str(v) for k, v in params.items()},
        pagination=pagination,
        incremental=incremental,
        auth=auth,
        max_attempts=int(c.positive(retries, "max_attempts", 5, "api.retries.")),
        backoff_seconds=float(c.positive(retries, "backoff_seconds", 1.0, "api.retries.")),
        max_backoff_seconds=float(c.positive(retries, "max_backoff_seconds", 30.0, "api.retries.")),
        requests_per_second=c.positive(rate, "requests_per_second", None, "api.rate_limit."),
        max_retry_after_seconds=float(c.positive(rate, "max_retry_after_seconds", 300.0, "api.rate_limit.")),
        timeout_seconds=float(c.positive(data, "timeout_seconds", 30.0, p)),
        max_pages=int(c.positive(data, "max_pages", 10_000, p)),
    )


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
