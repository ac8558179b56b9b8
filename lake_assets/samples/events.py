"""A seeded, realistic online-shop event stream as JSON lines, with the faults a real intake sees.

Shoppers open sessions over several days (more by day than by night); a session browses pages, some product
views lead to cart updates, some carts lead to an order whose total is the sum of its items. Sessions overlap,
so the stream interleaves them in time order. Into that stream go a few percent of invalid lines (each of a
known reason kind, see ``lake_assets.registry.validation``), exact re-sends of recent events, and late events
(held back by a device and sent a day or two after their ``event_time``). ``SampleStats`` counts all of it so
a test or the demo can reconcile an intake run line for line.

Same arguments, same bytes: everything comes from one ``random.Random(seed)``; no clock, no global state.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import orjson

from lake_assets.registry import validation as v

DEFAULT_START = dt.date(2026, 11, 20)
DAY_MS = 86_400_000
LARGE_EVENT_BYTES = 300_000  # over the 256 KiB event limit
_HOURLY_WEIGHT = (2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 12, 12, 11, 10, 10, 11, 13, 15, 15, 12, 8, 4)
_EVENTS_PER_SESSION = 8.0  # lines per session, measured; sets the arrival rate so the stream spans ~days
_CATEGORIES = (
    "shoes", "shirts", "trousers", "jackets", "bags", "hats", "socks", "watches", "kitchen", "garden",
    "books", "toys",
)  # fmt: skip
_SEARCH_TERMS = (
    "running shoes", "rain jacket", "linen shirt", "gift", "sale", "wool socks", "backpack", "kids toys",
    "teapot", "garden hose", "novel", "smart watch",
)  # fmt: skip
_COUPONS = ("WELCOME10", "BLACKFRIDAY", "FREESHIP")
_EXTERNAL_REFERRERS = (
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://newsletter.example.com/",
)
_SITE = "https://shop.example.com"
# Invalid kinds and their share of invalid lines; too_large is rare because each one is 300 KB.
_INVALID_WEIGHTS = {
    v.MALFORMED_JSON: 20,
    v.UNKNOWN_EVENT_TYPE: 12,
    v.MISSING_FIELD: 15,
    v.WRONG_TYPE: 15,
    v.OUT_OF_RANGE: 8,
    v.INVALID_UTF8: 8,
    v.NAIVE_TIMESTAMP: 12,
    v.INVALID_VALUE: 5,
    v.UNKNOWN_FIELD: 5,
    v.TOO_LARGE: 0.2,
}
_REQUIRED = {
    "page_view": ("event_id", "event_time", "session_id", "page_url", "page_type", "device"),
    "cart_update": ("event_id", "event_time", "session_id", "product_id", "action", "quantity"),
    "order_placed": ("event_id", "event_time", "session_id", "user_id", "order_id", "items", "total_cents"),
}


@dataclass
class SampleStats:
    """What a generated stream holds; valid counts include duplicates and late events (they are valid)."""

    total: int = 0
    valid: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    late: int = 0
    by_event_type: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    orders: int = 0
    first_event_time: str | None = None
    last_event_time: str | None = None

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())

    @property
    def distinct_valid(self) -> int:
        """Valid events once duplicates are removed (what intermediate should hold)."""
        return self.valid - self.duplicates


@dataclass(frozen=True)
class _Product:
    product_id: str
    category: str
    price_cents: int


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class _Stream:
    """The generator's state; ``lines()`` yields exactly ``n_events`` lines and fills ``stats`` as it goes."""

    def __init__(
        self,
        n_events: int,
        days: int,
        start: dt.date,
        seed: int,
        invalid_rate: float,
        duplicate_rate: float,
        late_rate: float,
    ) -> None:
        if n_events < 0 or days < 1:
            raise ValueError("n_events must be >= 0 and days >= 1")
        if not 0 <= invalid_rate + duplicate_rate + late_rate < 1:
            raise ValueError("invalid_rate + duplicate_rate + late_rate must be in [0, 1)")
        self.n_events = n_events
        self.rng = Random(seed)
        self.start_ms = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp() * 1000)
        self.span_ms = days * DAY_MS
        self.invalid_rate, self.duplicate_rate, self.late_rate = invalid_rate, duplicate_rate, late_rate
        self.stats = SampleStats()
        self.products = [
            _Product(
                f"p-{i:05d}",
                self.rng.choice(_CATEGORIES),
                self.rng.choice((499, 999, 1499, 2499, 4999, 8999)),
            )
            for i in range(400)
        ]
        self.n_users = max(50, n_events // 25)
        self._seq = 0
        self._kinds = list(_INVALID_WEIGHTS)
        self._kind_cum = list(itertools.accumulate(_INVALID_WEIGHTS.values()))

    # -- ids -----------------------------------------------------------------------------------------
    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    # -- valid events in time order -------------------------------------------------------------------
    def _session_starts(self) -> Iterator[int]:
        """Session start times (ms): a Poisson process thinned by the hour-of-day weight."""
        rng = self.rng
        wanted = max(1.0, self.n_events * (1 - self.duplicate_rate) / _EVENTS_PER_SESSION)
        mean_weight = sum(_HOURLY_WEIGHT) / 24
        max_weight = max(_HOURLY_WEIGHT)
        rate_per_ms = wanted * max_weight / (self.span_ms * mean_weight)
        t = float(self.start_ms)
        while True:
            t += rng.expovariate(rate_per_ms)
            hour = int(t // 3_600_000) % 24
            if rng.random() * max_weight < _HOURLY_WEIGHT[hour]:
                yield int(t)

    def _session(self, t: int) -> list[tuple[int, dict[str, Any]]]:
        """One shopper's visit: page views, cart updates and maybe an order, with realistic gaps."""
        rng = self.rng
        self.stats.sessions += 1
        session_id = f"s-{self._uuid()}"
        known_user = rng.random() < 0.7
        user_id = f"u-{rng.randrange(self.n_users):06d}"
        device = rng.choices(("desktop", "mobile", "tablet"), cum_weights=(45, 90, 100))[0]
        events: list[tuple[int, dict[str, Any]]] = []
        cart: dict[str, list[Any]] = {}  # product_id -> [quantity, unit price]

        def emit(event_type: str, **fields: Any) -> None:
            nonlocal t
            event = {"event_id": self._uuid(), "event_type": event_type, "event_time": _iso(t)}
            event["session_id"] = session_id
            if event_type != "order_placed":
                event["user_id"] = user_id if known_user else None
            event.update(fields)
            events.append((t, event))
            t += 1000 + int(rng.expovariate(1 / 25_000))

        referrer: str | None = rng.choice((*_EXTERNAL_REFERRERS, None))
        page = rng.choices(("home", "category", "product", "search"), cum_weights=(40, 65, 85, 100))[0]
        product: _Product | None = None
        for _step in range(40):
            if page == "product" or product is None:
                product = rng.choice(self.products)
            url, product_id = self._url(page, product)
            emit(
                "page_view",
                page_url=url,
                page_type=page,
                product_id=product_id,
                referrer=referrer,
                device=device,
            )
            referrer = _SITE + url
            if page == "product" and rng.random() < 0.3:
                quantity = rng.choices((1, 2, 3), cum_weights=(70, 90, 100))[0]
                cart.setdefault(product.product_id, [0, product.price_cents])[0] += quantity
                emit(
                    "cart_update",
                    product_id=product.product_id,
                    action="add",
                    quantity=quantity,
                    unit_price_cents=product.price_cents,
                )
            elif page == "cart" and cart and rng.random() < 0.2:
                removed = rng.choice(sorted(cart))
                quantity, price = cart.pop(removed)
                emit(
                    "cart_update",
                    product_id=removed,
                    action="remove",
                    quantity=quantity,
                    unit_price_cents=price,
                )
            elif page == "checkout" and cart and rng.random() < 0.5:
                items = [
                    {"product_id": pid, "quantity": q, "unit_price_cents": price}
                    for pid, (q, price) in sorted(cart.items())
                ]
                order = {
                    "user_id": user_id,
                    "order_id": f"o-{self._uuid()}",
                    "currency": "EUR",
                    "items": items,
                    "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                }
                if rng.random() < 0.1:
                    order["coupon_code"] = rng.choice(_COUPONS)
                known_user = True  # checkout needs a login
                emit("order_placed", **order)
                self.stats.orders += 1
                break
            if rng.random() < 0.12:
                break
            page = self._next_page(page, bool(cart))
        return events

    def _url(self, page: str, product: _Product) -> tuple[str, str | None]:
        if page == "product":
            return f"/p/{product.product_id}", product.product_id
        if page == "category":
            return f"/c/{product.category}", None
        if page == "search":
            return "/search?q=" + self.rng.choice(_SEARCH_TERMS).replace(" ", "+"), None
        return {"home": "/", "cart": "/cart", "checkout": "/checkout"}.get(page, "/help"), None

    def _next_page(self, page: str, has_cart: bool) -> str:
        rng = self.rng
        if page == "checkout":
            return rng.choices(("checkout", "cart", "product"), cum_weights=(60, 85, 100))[0]
        if page == "cart" and has_cart:
            return rng.choices(("checkout", "product", "category"), cum_weights=(60, 85, 100))[0]
        if has_cart and rng.random() < 0.25:
            return "cart"
        return rng.choices(
            ("product", "category", "search", "home", "other"), cum_weights=(55, 75, 87, 97, 100)
        )[0]

    def _valid_events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Events of overlapping sessions merged into time order (only open sessions are held)."""
        pending: list[tuple[int, int, dict[str, Any]]] = []
        for start in self._session_starts():
            while pending and pending[0][0] <= start:
                t, _, event = heapq.heappop(pending)
                yield t, event
            for t, event in self._session(start):
                self._seq += 1
                heapq.heappush(pending, (t, self._seq, event))

    # -- faults ---------------------------------------------------------------------------------------
    def _invalid(self, event: dict[str, Any]) -> tuple[str, bytes]:
        """The event spoiled in one way; returns the reason kind the validator will report and the line."""
        rng = self.rng
        kind = rng.choices(self._kinds, cum_weights=self._kind_cum)[0]
        event = dict(event)
        etype = event["event_type"]
        if kind == v.OUT_OF_RANGE and etype == "page_view":
            kind = v.WRONG_TYPE  # a page view has no integer field to overflow
        if kind == v.MALFORMED_JSON:
            line = orjson.dumps(event)
            if rng.random() < 0.7:
                return kind, line[: rng.randrange(1, len(line) - 1)]  # cut off in transit
            return kind, line[:-1] + b",}"  # a hand-rolled serializer's trailing comma
        if kind == v.UNKNOWN_EVENT_TYPE:
            event["event_type"] = rng.choice(("wishlist_add", "page_vew", "PageView", "checkout_started"))
        elif kind == v.MISSING_FIELD:
            del event[rng.choice(_REQUIRED[etype])]
        elif kind == v.WRONG_TYPE:
            if etype == "cart_update":
                event["quantity"] = str(event["quantity"])
            elif etype == "order_placed":
                event["total_cents"] = event["total_cents"] / 100
            else:
                event["session_id"] = rng.randrange(10**6)
        elif kind == v.OUT_OF_RANGE:
            big = 2**31 + rng.randrange(10**6)
            if etype == "cart_update":
                event["quantity"] = big
            else:
                event["items"] = [dict(event["items"][0], quantity=big), *event["items"][1:]]
        elif kind == v.INVALID_UTF8:
            line = orjson.dumps(event)
            return kind, line.replace(
                b'"event_id":"', b'"event_id":"caf\xe9-', 1
            )  # latin-1 from a legacy app
        elif kind == v.NAIVE_TIMESTAMP:
            event["event_time"] = event["event_time"].removesuffix("Z")
        elif kind == v.INVALID_VALUE:
            if etype == "cart_update":
                event["action"] = "update"
            else:
                event["device"] = "smart_tv"
                if etype == "order_placed":
                    kind = v.UNKNOWN_FIELD  # orders carry no device field
        elif kind == v.UNKNOWN_FIELD:
            event["campaign"] = "winter-sale"
        elif kind == v.TOO_LARGE:
            padding = "x" * LARGE_EVENT_BYTES  # a runaway tracking parameter copied into an id
            field_name = {"page_view": "page_url", "cart_update": "product_id"}.get(etype, "order_id")
            event[field_name] = f"{event[field_name]}?utm={padding}"
        return kind, orjson.dumps(event)

    # -- the stream -----------------------------------------------------------------------------------
    def lines(self) -> Iterator[bytes]:
        rng, stats = self.rng, self.stats
        recent: deque[bytes] = deque(maxlen=500)
        held: list[tuple[int, int, bytes, str]] = []  # late events: (release ms, seq, line, event_type)
        end_ms = self.start_ms + self.span_ms
        # Only events that can still be released before the end are held; hold those a bit more often.
        late_p = min(1.0, self.late_rate * self.span_ms / max(self.span_ms - 1.5 * DAY_MS, DAY_MS / 2))
        p_invalid = self.invalid_rate
        p_late = p_invalid + late_p
        emitted = 0
        n = self.n_events

        first_ms, last_ms = None, None

        def valid(line: bytes, event_type: str, t: int) -> None:
            nonlocal first_ms, last_ms
            stats.valid += 1
            stats.by_event_type[event_type] += 1
            recent.append(line)
            first_ms = t if first_ms is None else min(first_ms, t)
            last_ms = t if last_ms is None else max(last_ms, t)

        for t, event in self._valid_events():
            if emitted >= n:
                break
            while held and held[0][0] <= t and emitted < n:
                _, event_t, line, event_type = heapq.heappop(held)
                stats.late += 1
                valid(line, event_type, event_t)
                emitted += 1
                yield line
            if emitted >= n:
                break
            if recent and rng.random() < self.duplicate_rate:
                line = rng.choice(recent)
                stats.duplicates += 1
                stats.valid += 1
                stats.by_event_type[orjson.loads(line)["event_type"]] += 1
                emitted += 1
                yield line
                if emitted >= n:
                    break
            r = rng.random()
            if r < p_invalid:
                kind, line = self._invalid(event)
                stats.invalid[kind] += 1
            else:
                line = orjson.dumps(event)
                delay = rng.randint(DAY_MS, 2 * DAY_MS)
                if r < p_late and t + delay < end_ms:
                    heapq.heappush(held, (t + delay, t, line, event["event_type"]))
                    continue
                valid(line, event["event_type"], t)
            emitted += 1
            yield line
        stats.total = emitted
        stats.first_event_time = None if first_ms is None else _iso(first_ms)
        stats.last_event_time = None if last_ms is None else _iso(last_ms)


def generate_events(
    n_events: int,
    days: int = 3,
    start: dt.date = DEFAULT_START,
    seed: int = 7,
    invalid_rate: float = 0.03,
    duplicate_rate: float = 0.015,
    late_rate: float = 0.02,
) -> Iterator[bytes]:
    """Exactly ``n_events`` JSON lines (bytes, no trailing newline), the same for the same arguments."""
    return _Stream(n_events, days, start, seed, invalid_rate, duplicate_rate, late_rate).lines()


def write_sample_file(path: str | Path, **kw: Any) -> SampleStats:
    """Write ``generate_events(**kw)`` to ``path`` as newline-terminated lines; return what it holds."""
    kw.setdefault("n_events", 10_000)
    stream = _Stream(
        kw.pop("n_events"),
        kw.pop("days", 3),
        kw.pop("start", DEFAULT_START),
        kw.pop("seed", 7),
        kw.pop("invalid_rate", 0.03),
        kw.pop("duplicate_rate", 0.015),
        kw.pop("late_rate", 0.02),
    )
    if kw:
        raise TypeError(f"write_sample_file() got unexpected arguments: {', '.join(sorted(kw))}")
    with open(path, "wb") as out:
        buffer: list[bytes] = []
        for line in stream.lines():
            buffer.append(line)
            if len(buffer) >= 10_000:
                out.write(b"\n".join(buffer) + b"\n")
                buffer.clear()
        if buffer:
            out.write(b"\n".join(buffer) + b"\n")
    return stream.stats
