"""Application and web-server logs: one line, one regex with named groups, one row.

The nginx ``combined`` format is Apache's Combined Log Format, so one preset serves both servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lake_assets.sources.files.rows import ByteSource, Row, as_binary
from lake_assets.sources.specs import FormatOptions

_COMBINED = (
    r"(?P<remote_addr>\S+) (?P<ident>\S+) (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "
    r'"(?P<request>(?:(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>[A-Z]+/[0-9.]+))|[^"]*)" '
    r"(?P<status>\d{3}) (?P<body_bytes_sent>\d+|-)"
)
LOG_PRESETS: dict[str, str] = {
    "nginx_combined": _COMBINED + r' "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"',
    "apache_combined": _COMBINED + r' "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"',
    "common": _COMBINED,
}
# strptime format of ``time_local`` in these presets (10/Oct/2000:13:55:36 -0700).
CLF_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"


def log_pattern(options: FormatOptions) -> re.Pattern[str]:
    return re.compile(LOG_PRESETS[options.preset] if options.preset else options.pattern or "")


class LogReader:
    """Lines are matched from their start (end the pattern with ``$`` to demand the whole line)."""

    def __init__(self, source: ByteSource, options: FormatOptions) -> None:
        self._stream = as_binary(source)
        self._pattern = log_pattern(options)
        self._encoding = options.encoding
        self._nulls = frozenset(options.null_values)
        self.columns: list[str] = list(self._pattern.groupindex)
        self.name = options.preset or "pattern"

    def __iter__(self) -> Iterator[Row]:
        match, nulls, encoding = self._pattern.match, self._nulls, self._encoding
        for number, raw in enumerate(self._stream, start=1):
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            try:
                text = line.decode(encoding)
            except UnicodeDecodeError as exc:
                yield Row(number, None, f"not {encoding}: {exc.reason}", "invalid_encoding", line)
                continue
            found = match(text)
            if found is None:
                yield Row(
                    number, None, f"the line does not match the {self.name} pattern", "unmatched_line", line
                )
                continue
            values = found.groupdict()
            for key, value in values.items():
                if value in nulls:
                    values[key] = None
            yield Row(number, values)
