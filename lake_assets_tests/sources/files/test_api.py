"""API pulls against a real HTTP server on 127.0.0.1: pagination, retries, 429, timeouts, the watermark."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import fastavro
import pytest

from lake_assets.sources.api.pull import (
    ApiPullError,
    PullResult,
    load_watermark,
    pull_api,
    read_api_token,
    watermark_key,
)
from lake_assets.sources.files.raw import land_object_to_raw
from lake_assets.sources.specs import SourceSpec, parse_spec
from lake_assets.storage.object_store import LocalObjectStore

T = TypeVar("T")
TOKEN = "s3cr3t-token"
NOW = dt.datetime(2026, 11, 24, 13, 5, tzinfo=dt.UTC)
ORDERS = [
    {
        "order_id": f"o-{i:03d}",
        "amount": round(10 + i * 1.5, 2),
        "customer": {"id": i % 7, "tier": "gold" if i % 5 == 0 else "basic"},
        "updated_at": (dt.datetime(2026, 11, 20, tzinfo=dt.UTC) + dt.timedelta(hours=3 * i)).isoformat(),
    }
    for i in range(25)
]


@dataclass
class Api:
    """What the server does: a queue of faults consumed one per request, and a log of what it was asked."""

    url: str
    faults: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    api: Api

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self.api.lock:
            self.api.requests.append(
                {"path": parts.path, "query": query, "auth": self.headers.get("Authorization")}
            )
            fault = self.api.faults.pop(0) if self.api.faults else ""
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, b'{"error": "unauthorized"}')
        if fault == "500":
            return self._send(500, b"internal error")
        if fault == "timeout":
            time.sleep(1.0)
            return self._send(200, b"{}")
        if fault.startswith("429:"):
            return self._send(429, b"slow down", {"Retry-After": fault[4:]})
        if fault == "notjson":
            return self._send(200, b"<html>maintenance</html>")
        since = query.get("updated_since")
        rows = [o for o in ORDERS if since is None or o["updated_at"] > since]
        size = int(query.get("limit", "10"))
        if parts.path == "/page":
            start = (int(query.get("page", "1")) - 1) * size
            return self._send(200, json.dumps({"data": rows[start : start + size]}).encode())
        start = int(query.get("cursor", "0"))
        nxt = start + size if start + size < len(rows) else None
        body = {
            "data": rows[start : start + size],
            "meta": {"next_cursor": None if nxt is None else str(nxt)},
        }
        return self._send(200, json.dumps(body).encode())


@pytest.fixture
def api() -> Iterator[Api]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    state = Api(f"http://127.0.0.1:{server.server_address[1]}")
    _Handler.api = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _bounded(fn: Callable[[], T], seconds: float = 20) -> T:
    """Every HTTP test ends within ``seconds`` whatever the client does."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=seconds)


def _spec(api: Api, style: str, **extra: Any) -> SourceSpec:
    pagination = (
        {"style": "page", "page_param": "page", "page_size_param": "limit", "page_size": 10}
        if style == "page"
        else {
            "style": "cursor",
            "next_cursor_path": "meta.next_cursor",
            "page_size_param": "limit",
            "page_size": 10,
        }
    )
    data = {
        "name": "orders_api",
        "kind": "http_api",
        "event_time": "updated_at",
        "primary_key": ["order_id"],
        "api": {
            "url": f"{api.url}/{style}",
            "records_path": "data",
            "pagination": pagination,
            "incremental": {"param": "updated_since", "field": "updated_at"},
            "auth": {"token_env": "LAKE_TEST_API_TOKEN"},
            "retries": {"max_attempts": 3, "backoff_seconds": 0.5, "max_backoff_seconds": 2},
            "timeout_seconds": 0.3,
            **extra,
        },
    }
    spec, problems = parse_spec(data)
    assert spec is not None, problems
    return spec


def _pull(store: LocalObjectStore, spec: SourceSpec, sleeps: list[float], run_id: str = "run1") -> PullResult:
    return _bounded(
        lambda: pull_api(
            store, spec, run_id=run_id, token=TOKEN, now=NOW, sleep=sleeps.append, clock=time.monotonic
        )
    )


@pytest.mark.parametrize("style", ["page", "cursor"])
def test_pagination_lands_every_page_and_advances_the_watermark(
    api: Api, local_store: LocalObjectStore, style: str
) -> None:
    spec = _spec(api, style)
    sleeps: list[float] = []
    result = _pull(local_store, spec, sleeps)
    assert result.records == 25 and sleeps == []
    assert result.pages == 3  # page style stops at the short page, cursor style at a null cursor
    assert result.landed_keys[0] == "landing/api/orders_api/2026/11/24/13/run1-00001.json"
    assert [json.loads(local_store.get_bytes(k))["data"] for k in result.landed_keys] == [
        ORDERS[0:10],
        ORDERS[10:20],
        ORDERS[20:25],
    ]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in api.requests)
    assert load_watermark(local_store, spec) == ORDERS[-1]["updated_at"]
    # the next pull asks only for what is newer
    again = _pull(local_store, spec, sleeps, run_id="run2")
    assert again.records == 0 and api.requests[-1]["query"]["updated_since"] == ORDERS[-1]["updated_at"]


def test_500s_and_timeouts_are_retried_with_backoff(api: Api, local_store: LocalObjectStore) -> None:
    spec = _spec(api, "cursor")
    api.faults = ["500", "timeout", ""]  # page 1: two failures then success
    sleeps: list[float] = []
    started = time.monotonic()
    result = _pull(local_store, spec, sleeps)
    assert result.records == 25 and result.retries == 2 and result.requests == 5
    assert sleeps == [0.5, 1.0]  # exponential
    assert time.monotonic() - started < 5


def test_429_waits_for_retry_after(api: Api, local_store: LocalObjectStore) -> None:
    spec = _spec(api, "page", rate_limit={"requests_per_second": 50, "max_retry_after_seconds": 10})
    api.faults = ["", "429:7"]  # page 2 is rate-limited once
    sleeps: list[float] = []
    result = _pull(local_store, spec, sleeps)
    assert result.records == 25 and 7.0 in sleeps
    api.faults = ["429:3600"]
    local_store.delete(watermark_key(spec))
    with pytest.raises(ApiPullError, match="asks to wait 3600s"):
        _pull(local_store, spec, sleeps, run_id="run2")


def test_rate_limit_spaces_requests(api: Api, local_store: LocalObjectStore) -> None:
    spec = _spec(api, "cursor", rate_limit={"requests_per_second": 20})
    started = time.monotonic()
    result = _bounded(lambda: pull_api(local_store, spec, run_id="r", token=TOKEN, now=NOW))
    assert result.pages == 3 and time.monotonic() - started >= 2 / 20


def test_failed_pull_keeps_the_watermark(api: Api, local_store: LocalObjectStore) -> None:
    spec = _spec(api, "cursor")
    sleeps: list[float] = []
    _pull(local_store, spec, sleeps)
    mark = load_watermark(local_store, spec)
    ORDERS_MORE = {"order_id": "o-999", "updated_at": "2026-12-30T00:00:00+00:00"}  # noqa: N806
    ORDERS.append(ORDERS_MORE)
    try:
        api.faults = ["500", "500", "500"]
        with pytest.raises(ApiPullError, match=r"HTTP 500 .* after 3 attempts"):
            _pull(local_store, spec, sleeps, run_id="run2")
        assert load_watermark(local_store, spec) == mark
        api.faults = ["timeout", "timeout", "timeout"]
        with pytest.raises(ApiPullError, match="timed out"):
            _pull(local_store, spec, sleeps, run_id="run3")
        assert load_watermark(local_store, spec) == mark
        result = _pull(local_store, spec, sleeps, run_id="run4")
        assert result.records == 1 and load_watermark(local_store, spec) == ORDERS_MORE["updated_at"]
    finally:
        ORDERS.remove(ORDERS_MORE)


def test_a_page_that_is_not_json_is_quarantined_and_fails_the_pull(
    api: Api, local_store: LocalObjectStore
) -> None:
    spec = _spec(api, "page")
    api.faults = ["", "notjson"]
    with pytest.raises(ApiPullError, match="page 2 .* not a JSON page"):
        _pull(local_store, spec, [])
    assert not local_store.exists(watermark_key(spec))
    assert local_store.list_keys("landing/api/orders_api/") == [
        "landing/api/orders_api/2026/11/24/13/run1-00001.json"
    ]
    (qkey,) = local_store.list_keys("quarantine/api/orders_api/")
    assert qkey == "quarantine/api/orders_api/2026/11/24/13/run1-00002.jsonl"
    record = json.loads(local_store.get_bytes(qkey))
    assert record["payload"] == "<html>maintenance</html>" and record["page"] == 2


def test_auth_errors_are_not_retried_and_the_token_comes_from_the_named_variable(
    api: Api, local_store: LocalObjectStore
) -> None:
    spec = _spec(api, "cursor")
    assert read_api_token(spec, {"LAKE_TEST_API_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(ApiPullError, match="LAKE_TEST_API_TOKEN is not set"):
        read_api_token(spec, {})
    with pytest.raises(ApiPullError, match="HTTP 401 .*check the token.*not retried"):
        _bounded(
            lambda: pull_api(local_store, spec, run_id="r", token="wrong", now=NOW, sleep=lambda s: None)
        )
    assert len(api.requests) == 1


def test_landed_pages_become_raw_avro(api: Api, local_store: LocalObjectStore, tmp_path: Path) -> None:
    spec = _spec(api, "cursor")
    result = _pull(local_store, spec, [])
    total = 0
    for key in result.landed_keys:
        out = tmp_path / key.replace("/", "_")
        out.mkdir()
        raw = land_object_to_raw(local_store, spec, key, out)
        assert raw.rows_read == raw.rows_written
        for rel in raw.files:
            with open(out / rel, "rb") as handle:
                records = list(fastavro.reader(handle))
            assert json.loads(records[0]["customer"]) in [
                o["customer"] for o in ORDERS
            ]  # nested kept as JSON
            total += len(records)
    assert total == 25
    assert json.loads(local_store.get_bytes("_system/schemas/orders_api/v1.avsc"))["namespace"] == "lake.api"
