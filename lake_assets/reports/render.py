"""Vega-Lite spec -> PNG and a self-contained HTML page (vl-convert), written under ``final/reports/<name>/``.

vl-convert renders Vega-Lite in an embedded JavaScript engine: no browser, no Node.js, no network. The HTML
page inlines the Vega libraries (``bundle=True``), so it opens offline and from S3 alike.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass

import vl_convert as vlc

from lake_assets.reports.charts import VL_VERSION
from lake_assets.storage import ObjectStore, Zone, zone_prefix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_FILE, HTML_FILE, SPEC_FILE = "chart.png", "index.html", "chart.vl.json"
SCALE = 1.0  # PNG pixels per chart pixel: 1 keeps the metadata small enough for the Dagster UI


class ReportError(RuntimeError):
    """A report cannot be found or rendered; the message says which and why."""


def render_png(spec: dict, scale: float = SCALE) -> bytes:
    """The chart as a PNG, recompressed (``compact_png``): it travels in every materialization's metadata."""
    return compact_png(vlc.vegalite_to_png(spec, scale=scale, vl_version=VL_VERSION))


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk; ValueError when the bytes are not a whole PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image (no signature)")
    chunks, at = [], len(PNG_SIGNATURE)
    while at < len(png):
        if at + 12 > len(png):
            raise ValueError("truncated PNG chunk")
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if len(data) != length:
            raise ValueError("truncated PNG chunk")
        chunks.append((kind, data))
        at += 12 + length
    return chunks


def compact_png(png: bytes) -> bytes:
    """The same image with its pixel data deflated at level 9 (lossless: the same pixel bytes).

    vl-convert writes the image data barely compressed: a 720x400 chart of 90 days of stacked bars is about
    400 KB as rendered and under 20 KB recompressed (30 ms): small enough to ride inline in the metadata.
    """
    chunks = png_chunks(png)
    pixels = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    out, idat_written = [PNG_SIGNATURE], False
    for kind, data in chunks:
        if kind == b"IDAT":
            if idat_written:
                continue
            kind, data, idat_written = b"IDAT", zlib.compress(pixels, 9), True
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        out.append(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc))
    return b"".join(out)


def render_html(spec: dict) -> str:
    """An interactive page (tooltips, the Vega actions menu) with the Vega JavaScript inlined."""
    return vlc.vegalite_to_html(spec, bundle=True, vl_version=VL_VERSION)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk; ValueError when the bytes are not a PNG."""
    if len(png) < 24 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image (no signature and IHDR chunk)")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_prefix(name: str) -> str:
    """``final/reports/<name>/``: beside the final tables, in the zone readers are given."""
    return zone_prefix(Zone.FINAL, "reports", name)


@dataclass(frozen=True)
class RenderedReport:
    name: str
    png: bytes
    keys: dict[str, str]  # png / html / spec -> object key

    @property
    def size(self) -> tuple[int, int]:
        return png_size(self.png)


def write_report(store: ObjectStore, name: str, spec: dict) -> RenderedReport:
    """Render ``spec`` and replace the report's folder with the PNG, the page and the spec in one publish
    (a reader never finds a page of one run beside the image of another)."""
    png = render_png(spec)
    html = render_html(spec)
    files = {PNG_FILE: png, HTML_FILE: html.encode("utf-8"), SPEC_FILE: json.dumps(spec, indent=1).encode()}
    prefix = report_prefix(name)
    with store.staging_dir() as staging:
        for file, data in files.items():
            (staging / file).write_bytes(data)
        store.publish_dir(staging, prefix)
    keys = {"png": prefix + PNG_FILE, "html": prefix + HTML_FILE, "spec": prefix + SPEC_FILE}
    return RenderedReport(name, png, keys)


def report_files(store: ObjectStore) -> dict[str, list[str]]:
    """Report name -> its object keys, for every report written under ``final/reports/``."""
    out: dict[str, list[str]] = {}
    base = zone_prefix(Zone.FINAL, "reports")
    for info in store.list(base):
        name, _, rest = info.key[len(base) :].partition("/")
        if rest:
            out.setdefault(name, []).append(info.key)
    return out


def page_location(store: ObjectStore, name: str) -> str:
    """Where the report's page is (a local path, or an ``s3://`` URI); ReportError when not written yet."""
    files = report_files(store)
    key = report_prefix(name) + HTML_FILE
    if key not in files.get(name, []):
        written = ", ".join(sorted(files)) or "none yet"
        raise ReportError(
            f"no report page {key} in {store.uri()} (reports written: {written}); "
            "materialize the report assets first (dagster asset materialize -m lake_assets.definitions "
            "--select 'key:\"final/reports/*\"')"
        )
    return store.uri(key)
