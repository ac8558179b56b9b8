"""Realistic, seeded sample inputs for the shipped file specs: same seed, same rows.

Each writer streams to a path (the benchmark writes a 1 GB CSV with it) and returns the number of data rows
or lines. ``write_samples`` lays one file per shipped file source out under ``landing/files/<source>/`` of a
lake root, where the landing sensor looks.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from random import Random

from openpyxl import Workbook

_START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
_CATEGORIES = (
    "shoes",
    "shirts",
    "trousers",
    "jackets",
    "bags",
    "hats",
    "socks",
    "watches",
    "kitchen",
    "toys",
)
_ADJECTIVES = ("Classic", "Trail", "Linen", "Wool", "Rain", "Urban", "Summit", "Coastal", "Nordic", "Studio")
_NOUNS = (
    "Runner",
    "Shirt",
    "Chino",
    "Parka",
    "Backpack",
    "Beanie",
    "Sock 3-Pack",
    "Chrono",
    "Teapot",
    "Kite",
)
_CITIES = (("Berlin", "DE"), ("München", "DE"), ("Köln", "DE"), ("Paris", "FR"), ("Besançon", "FR"),
           ("Zürich", "CH"), ("Genève", "CH"), ("Wien", "AT"), ("Málaga", "ES"), ("Århus", "DK"))  # fmt: skip
_PATHS = ("/", "/search?q=rain+jacket", "/c/shoes", "/c/bags", "/cart", "/checkout", "/account/orders")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.5.0",
)
_WORDS = (
    "great",
    "fit",
    "comfortable",
    "small",
    "large",
    "colour",
    "quality",
    "fast",
    "delivery",
    "returned",
)


def _stamp(rng: Random, days: int) -> dt.datetime:
    return _START + dt.timedelta(seconds=rng.randrange(days * 86_400), milliseconds=rng.randrange(1000))


def products_csv(path: Path, rows: int = 1000, seed: int = 1, days: int = 3) -> int:
    """Catalogue export: quoted names with commas, prices with two decimals, ISO timestamps in UTC."""
    rng = Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["product_id", "sku", "name", "category", "unit_price", "currency", "in_stock", "updated_at"]
        )
        for i in range(rows):
            name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
            if rng.random() < 0.1:
                name += ', "limited" edition'
            writer.writerow(
                [
                    100_000 + i,
                    f"SKU-{rng.randrange(16**6):06X}",
                    name,
                    rng.choice(_CATEGORIES),
                    f"{rng.randrange(199, 49_999) / 100:.2f}",
                    "EUR",
                    "true" if rng.random() < 0.85 else "false",
                    _stamp(rng, days).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                ]
            )
    return rows


def stores_tsv(path: Path, rows: int = 40, seed: int = 1) -> int:
    """Legacy store master: tab-separated, Latin-1 city names, NULL for unknown floor space."""
    rng = Random(seed)
    with open(path, "w", encoding="latin-1", newline="") as out:
        out.write("store_id\tname\tcity\tcountry\topened_on\tfloor_sqm\n")
        for i in range(rows):
            city, country = rng.choice(_CITIES)
            opened = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(7000))
            sqm = "NULL" if rng.random() < 0.1 else str(rng.randrange(80, 2400))
            out.write(f"{i + 1}\tShop {city} {i + 1}\t{city}\t{country}\t{opened.isoformat()}\t{sqm}\n")
    return rows


def reviews_jsonl(path: Path, rows: int = 500, seed: int = 1, days: int = 3) -> int:
    """Vendor reviews: nested tags (kept as JSON text in raw), optional title, offsets in timestamps."""
    rng = Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            record = {
                "review_id": f"r-{seed}-{i:07d}",
                "product_id": 100_000 + rng.randrange(1000),
                "rating": rng.randint(1, 5),
                "title": None if rng.random() < 0.2 else " ".join(rng.sample(_WORDS, 3)).capitalize(),
                "body": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 30))),
                "tags": rng.sample(["fit", "quality", "price", "delivery", "gift"], rng.randint(0, 3)),
                "verified": rng.random() < 0.7,
                "created_at": _stamp(rng, days).astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat(),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return rows


def inventory_xlsx(path: Path, rows: int = 300, seed: int = 1, days: int = 3) -> int:
    """A stock-count workbook: a title block in rows 1-2, the table from A3, naive local datetimes."""
    rng = Random(seed)
    book = Workbook(write_only=True)
    book.properties.created = book.properties.modified = dt.datetime(2026, 11, 20)
    notes = book.create_sheet("Notes")
    notes.append(["Counted by the warehouse teams; see Stock."])
    sheet = book.create_sheet("Stock")
    sheet.append(["Stock count", None, None, "exported"])
    sheet.append([])
    sheet.append(["Warehouse", "SKU", "Quantity", "Unit Cost", "Counted At", "Counter"])
    for i in range(rows):
        counted = _stamp(rng, days).replace(tzinfo=None, microsecond=0)
        sheet.append(
            [
                rng.choice(("BER-1", "HAM-2", "MUC-1")),
                f"SKU-{i:06X}",
                rng.randrange(0, 500),
                round(rng.uniform(1, 120), 2),
                counted,
                rng.choice(("anna", "ben", "chris", "dana")),
            ]
        )
    book.save(path)
    return rows


def nginx_access_log(path: Path, lines: int = 2000, seed: int = 1, days: int = 1) -> int:
    """nginx combined format: bots, 404s, a few requests without a method (scanners), '-' for no referer."""
    rng = Random(seed)
    stamps = sorted(_stamp(rng, days) for _ in range(min(lines, 100_000)))
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            when = stamps[i % len(stamps)].strftime("%d/%b/%Y:%H:%M:%S +0000")
            ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            status = rng.choices((200, 304, 301, 404, 500), (85, 5, 3, 6, 1))[0]
            size = "-" if status == 304 else str(rng.randrange(200, 90_000))
            request = "\\x16\\x03\\x01" if rng.random() < 0.002 else f"GET {rng.choice(_PATHS)} HTTP/1.1"
            referer = "-" if rng.random() < 0.4 else "https://shop.example.com/"
            out.write(f'{ip} - - [{when}] "{request}" {status} {size} "{referer}" "{rng.choice(_AGENTS)}"\n')
    return lines


def write_samples(lake_root: Path, seed: int = 1) -> dict[str, Path]:
    """One sample per shipped file source under ``landing/files/<source>/2026/11/20/``; returns the paths."""
    writers = {
        "products": (products_csv, "products-0001.csv"),
        "stores": (stores_tsv, "stores.tsv"),
        "reviews": (reviews_jsonl, "reviews-0001.jsonl"),
        "inventory": (inventory_xlsx, "stock-count.xlsx"),
        "web_access": (nginx_access_log, "access.log"),
    }
    paths = {}
    for source, (write, name) in writers.items():
        path = lake_root / "landing" / "files" / source / "2026" / "11" / "20" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, seed=seed)
        paths[source] = path
    return paths
