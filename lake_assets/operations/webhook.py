"""Post an alert as JSON to a webhook, with bounded retries; never raises (no Dagster import).

An alert is about a run or a check that already happened: an unreachable receiver must not fail what it
reports on, nor crash the sensor tick that sends it. So every failure is retried a few times with
backoff and then returned as a ``Delivery`` the caller logs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

USER_AGENT = "lake-assets-alerts/1"


@dataclass(frozen=True)
class Delivery:
    """What became of one alert: delivered or not, after how many attempts, and the last error."""

    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    retryable: bool = False  # not delivered for want of a receiver (down, 429, 5xx): worth another try later

    def describe(self) -> str:
        if self.delivered:
            return f"delivered (HTTP {self.status}, {self.attempts} attempt(s))"
        return f"not delivered after {self.attempts} attempt(s): {self.error}"


def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON; retries connection errors, timeouts, 429 and 5xx (doubling the wait).

    A 4xx other than 429 is the receiver refusing this alert: retrying would not help, so it stops there.
    Worst case the call takes ``attempts * timeout_seconds`` plus the backoff (about 16 s by default).
    """
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    error = "no attempt made"
    status: int | None = None
    for attempt in range(1, max(1, attempts) + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:  # noqa: S310
                return Delivery(True, attempt, status=response.status)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                return Delivery(False, attempt, status=status, error=error)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            status, error = None, f"{url}: {reason}"
        if attempt < attempts:
            sleep(backoff_seconds * 2 ** (attempt - 1))
    return Delivery(False, max(1, attempts), status=status, error=error, retryable=True)
