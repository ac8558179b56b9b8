"""Freshness: a table not updated within its expected lag is overdue, whatever else its checks say.

Dagster's last-update freshness checks (a warning, never blocking: a late table is still a correct one),
evaluated by one sensor. The expectation is per table: a daily table should have been updated within a day
and some slack for its upstream. Dagster 1.13 marks these builders superseded by ``FreshnessPolicy`` on the
asset; they are kept because a check result sits beside the table's other checks in the UI, in ``dagster
asset check`` output and in the check history that ``lake status`` (issue 13) reads.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping

import dagster as dg

FRESHNESS_SENSOR = "freshness_checks_sensor"
DAILY_LAG = dt.timedelta(hours=26)  # a daily table: a day, and two hours for its upstream to land


def freshness_checks(
    expected: Mapping[dg.AssetKey, dt.timedelta],
) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition | None]:
    """One freshness check per table (grouped by lag) and the sensor that evaluates them."""
    by_lag: dict[dt.timedelta, list[dg.AssetKey]] = {}
    for key, lag in expected.items():
        by_lag.setdefault(lag, []).append(key)
    with warnings.catch_warnings():  # the supersession notice of the module doc, not on every load
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        checks = [
            check
            for lag, keys in sorted(by_lag.items())
            for check in dg.build_last_update_freshness_checks(assets=keys, lower_bound_delta=lag)
        ]
        if not checks:
            return [], None
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=300,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
    return checks, sensor
