"""A stand-in for the marketplace partner's orders API, served on loopback for the demo.

It speaks what `specs/shop_orders_api.yaml` expects: bearer token, records under ``data``, cursor pagination
through ``meta.next_cursor``, ``limit`` and ``updated_since`` parameters. Orders are generated from a seed, so
the demo lands the same pages every time. No Dagster import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random
from urllib.parse import parse_qs, urlparse

STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")


def sample_orders(n: int, start: dt.date, days: int, seed: int = 1) -> list[dict[str, object]]:
    """Orders updated over ``days`` days from ``start``, oldest first (the order an API pages them in)."""
    rng = Random(seed)
    base = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    orders = []
    for i in range(n):
        updated = base + dt.timedelta(seconds=rng.randrange(days * 86_400))
        orders.append(
            {
                "order_id": f"mp-{i:06d}",
                "updated_at": updated.isoformat(timespec="seconds"),
                "customer_id": f"c-{rng.randrange(5000):05d}",
                "status": rng.choice(STATUSES),
                "items": rng.randint(1, 6),
                "total": round(rng.uniform(5, 400), 2),
                "currency": "EUR",
            }
        )
    return sorted(orders, key=lambda o: (o["updated_at"], o["order_id"]))


@contextlib.contextmanager
def serve_orders(orders: list[dict[str, object]], token: str) -> Iterator[str]:
    """Serve ``orders`` on 127.0.0.1 (a free port); yields the endpoint URL, stops the server on exit."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # the demo prints its own summary
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._send(401, {"error": "bad token"})
            query = parse_qs(urlparse(self.path).query)
            since = query.get("updated_since", [""])[0]
            offset = int(query.get("cursor", ["0"])[0] or 0)
            limit = int(query.get("limit", ["100"])[0])
            matching = [o for o in orders if str(o["updated_at"]) > since] if since else orders
            page = matching[offset : offset + limit]
            more = offset + limit < len(matching)
            self._send(200, {"data": page, "meta": {"next_cursor": str(offset + limit) if more else None}})

        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/orders"
    finally:
        server.shutdown()
        server.server_close()
