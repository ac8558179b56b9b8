"""Pull a paginated HTTP JSON API into landing: raw responses first, watermark last.

Each page's body lands unchanged at ``landing/api/<source>/YYYY/MM/DD/HH/<run>-<page>.json`` (the hour of
the pull), so raw can be rebuilt from landing like any file. The watermark (``_system/api/<source>/
watermark.json``) moves only after every page of a pull has landed: a pull that fails part-way leaves it
where it was, and the next pull asks again from there (pages already landed are pulled again; intermediate
deduplicates by the primary key). Retries: 5xx, timeouts and connection errors back off exponentially; 429
waits for ``Retry-After``; other 4xx fail at once (retrying a bad token does not help). Standard library
only (``urllib``): one request at a time, which is what a rate-limited API wants anyway.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from lake_assets.sources.files import records_at
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore


class ApiPullError(RuntimeError):
    """The pull stopped; the watermark was not advanced. The message names the URL, page and cause."""


@dataclass
class PullResult:
    source: str
    run_id: str
    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    landed_keys: list[str] = field(default_factory=list)
    watermark_before: str | None = None
    watermark_after: str | None = None


def read_api_token(spec: SourceSpec, environ: Mapping[str, str]) -> str | None:
    """The spec's token from the variable it names (the one environment read; settings.py may own it)."""
    if spec.api is None or spec.api.auth is None:
        return None
    token = environ.get(spec.api.auth.token_env) or ""
    if not token:
        raise ApiPullError(
            f"source {spec.name}: environment variable {spec.api.auth.token_env} is not set "
            f"(the spec {spec.spec_path} reads the API token from it)"
        )
    return token


def watermark_key(spec: SourceSpec) -> str:
    return f"_system/api/{spec.name}/watermark.json"


def load_watermark(store: ObjectStore, spec: SourceSpec) -> str | None:
    key = watermark_key(spec)
    if store.exists(key):
        return json.loads(store.get_bytes(key))["watermark"]
    return spec.api.incremental.initial if spec.api and spec.api.incremental else None


def landing_key(spec: SourceSpec, when: dt.datetime, run_id: str, page: int) -> str:
    return f"{spec.landing_prefix}{when:%Y/%m/%d/%H}/{run_id}-{page:05d}.json"


def _later(a: str | None, b: Any) -> str | None:
    """The later of two watermark values: as timestamps when both parse, else as numbers or text."""
    if b is None:
        return a
    b_text = b if isinstance(b, str) else json.dumps(b)
    if a is None:
        return b_text
    try:
        return b_text if dt.datetime.fromisoformat(b_text) > dt.datetime.fromisoformat(a) else a
    except (ValueError, TypeError):
        pass
    try:
        return b_text if float(b_text) > float(a) else a
    except ValueError:
        return max(a, b_text)


class _Client:
    """One request at a time, with the spec's rate limit, retries and backoff; clock and sleep injectable."""

    def __init__(
        self,
        spec: SourceSpec,
        token: str | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        result: PullResult,
    ) -> None:
        assert spec.api is not None
        self.api = spec.api
        self.headers = {"Accept": "application/json", "User-Agent": "lake_assets"}
        if spec.api.auth is not None and token:
            auth = spec.api.auth
            self.headers[auth.header] = f"{auth.scheme} {token}".strip() if auth.scheme else token
        self.sleep, self.clock, self.result = sleep, clock, result
        self.last_request: float | None = None

    def _pace(self) -> None:
        rps = self.api.requests_per_second
        if rps and self.last_request is not None:
            wait = self.last_request + 1.0 / rps - self.clock()
            if wait > 0:
                self.sleep(wait)
        self.last_request = self.clock()

    def get(self, url: str, page: int) -> bytes:
        api = self.api
        problem = ""
        for attempt in range(1, api.max_attempts + 1):
            if attempt > 1:
                self.result.retries += 1
            self._pace()
            self.result.requests += 1
            wait = min(api.max_backoff_seconds, api.backoff_seconds * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=self.headers), timeout=api.timeout_seconds
                ) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code == 429:
                    retry_after = _retry_after(exc.headers.get("Retry-After"))
                    if retry_after is not None:
                        if retry_after > api.max_retry_after_seconds:
                            raise ApiPullError(
                                f"page {page} {url}: HTTP 429 asks to wait {retry_after:.0f}s, more than "
                                f"rate_limit.max_retry_after_seconds={api.max_retry_after_seconds:.0f}"
                            ) from None
                        wait = retry_after
                elif exc.code < 500:
                    hint = " (check the token)" if exc.code in (401, 403) else ""
                    raise ApiPullError(f"page {page} {url}: {problem}{hint}; not retried") from None
            except TimeoutError as exc:
                problem = f"timed out after {api.timeout_seconds}s ({exc})"
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    problem = f"timed out after {api.timeout_seconds}s"
                else:
                    problem = f"cannot connect: {exc.reason}"
            except (ConnectionError, OSError, http.client.HTTPException) as exc:  # reset or cut short
                problem = f"connection failed: {exc}"
            if attempt < api.max_attempts:
                self.sleep(wait)
        raise ApiPullError(f"page {page} {url}: {problem} after {api.max_attempts} attempts")


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _url(base: str, params: Mapping[str, str]) -> str:
    parts = urllib.parse.urlsplit(base)
    query = urllib.parse.parse_qsl(parts.query) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def pull_api(
    store: ObjectStore,
    spec: SourceSpec,
    *,
    run_id: str,
    token: str | None = None,
    now: dt.datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> PullResult:
    """Pull every page after the watermark, land each body, then advance the watermark; see the module doc.

    ``run_id`` names the landed pages (use the Dagster run id). Raises ``ApiPullError`` on any failure,
    after landing the pages that arrived, without moving the watermark. A body that is not JSON is written
    to ``quarantine/api/<source>/...`` with the reason before the error is raised.
    """
    api = spec.api
    if api is None:
        raise ValueError(f"source {spec.name} is a {spec.kind} source, not http_api")
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    watermark = load_watermark(store, spec)
    result = PullResult(spec.name, run_id, watermark_before=watermark)
    client = _Client(spec, token, sleep, clock, result)
    params = dict(api.params)
    if api.incremental and watermark is not None:
        params[api.incremental.param] = watermark
    pag = api.pagination
    newest = watermark
    page_number, cursor = pag.first_page, None
    for page in range(1, api.max_pages + 2):
        if page > api.max_pages:
            raise ApiPullError(
                f"source {spec.name}: more than api.max_pages={api.max_pages} pages; not finished"
            )
        query = dict(params)
        if pag.page_size_param and pag.page_size:
            query[pag.page_size_param] = str(pag.page_size)
        if pag.style == "page":
            query[pag.page_param] = str(page_number)
        elif pag.style == "cursor" and cursor is not None:
            query[pag.cursor_param] = str(cursor)
        url = _url(api.url, query)
        body = client.get(url, page)
        key = landing_key(spec, when, run_id, page)
        try:
            document = orjson.loads(body)
            records = records_at(document, api.records_path)
            if not isinstance(records, list):
                raise ValueError(f"{api.records_path or 'the page'} is not a list")
        except (orjson.JSONDecodeError, KeyError, ValueError) as exc:
            reason = f"page {page} {url}: not a JSON page with a list at {api.records_path!r}: {exc}"
            _quarantine_page(store, spec, key, body, reason, page)
            raise ApiPullError(
                f"source {spec.name}: {reason}; the watermark stays at {watermark!r}"
            ) from None
        store.put_bytes(key, body)
        result.landed_keys.append(key)
        result.pages += 1
        result.records += len(records)
        if api.incremental:
            for record in records:
                if isinstance(record, dict):
                    newest = _later(newest, record.get(api.incremental.field))
        if pag.style == "none":
            break
        if pag.style == "page":
            if not records or (pag.page_size and len(records) < pag.page_size):
                break
            page_number += 1
        else:
            try:
                cursor = records_at(document, pag.next_cursor_path)
            except KeyError:
                cursor = None
            if not cursor:
                break
    result.watermark_after = newest
    if api.incremental and newest != watermark:
        store.put_bytes(
            watermark_key(spec),
            orjson.dumps(
                {"watermark": newest, "run_id": run_id, "pages": result.pages, "records": result.records}
            ),
        )
    return result


def _quarantine_page(
    store: ObjectStore, spec: SourceSpec, landing: str, body: bytes, reason: str, page: int
) -> None:
    key = "quarantine/" + landing.removeprefix("landing/").removesuffix(".json") + ".jsonl"
    record: dict[str, Any] = {"reason": reason, "kind": "malformed_page", "source": spec.name, "page": page}
    try:
        record["payload"] = body.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        record["payload_base64"] = base64.b64encode(body).decode("ascii")
    store.put_bytes(key, orjson.dumps(record) + b"\n")
