"""Alerts: run failures and failed asset checks posted as JSON to ``LAKE_ALERT_WEBHOOK_URL``.

Two sensors, built only when the URL is set: Dagster's ``run_failure_sensor`` for runs (its own run-status
cursor), and a sensor over the instance's asset check executions with a cursor of its own (the last execution
id handled), so each failed check is posted once. The poster (``operations/webhook.py``) retries with backoff
and never raises; what still fails is logged. An alert never fails the run it reports on and never crashes a
tick. A failed run's alert is sent once (after its retries); a failed check's alert that finds the receiver
down waits, with the ones after it, for the next tick (one bounded wait per tick), and one the receiver
refuses (a 4xx) is logged and passed over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from lake_assets.operations.webhook import Delivery, post_json
from lake_assets.settings import LakeSettings

RUN_FAILURE_SENSOR = "alert_run_failure_sensor"
CHECK_FAILURE_SENSOR = "alert_failed_checks_sensor"
MAX_CHECKS_PER_TICK = 100  # a backlog is posted over several ticks, each well inside the 60 s tick limit
Poster = Callable[[str, Mapping[str, Any]], Delivery]


def run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The run's assets: its selection, else those it planned to materialize (a run from code has none)."""
    keys = set(run.asset_selection or ())
    if not keys:
        planned = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        keys = {r.event_log_entry.dagster_event.asset_key for r in planned if r.event_log_entry.dagster_event}
    return sorted(key.to_user_string() for key in keys if key is not None)


def _root_cause(error: Any) -> str:
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return f"{error.cls_name}: {error.message.strip()}" if error is not None else ""


def failure_message(run_failure: Any, step_failures: Sequence[Any]) -> str:
    """The run's failure line, then each failed step with the innermost error (the one a person fixes)."""
    lines = [run_failure.message or "run failed"]
    for event in step_failures:
        error = getattr(event.event_specific_data, "error", None)
        lines.append(f"{event.step_key}: {_root_cause(error) or event.message}")
    if len(lines) == 1 and getattr(run_failure.event_specific_data, "error", None) is not None:
        lines.append(_root_cause(run_failure.event_specific_data.error))
    return "\n".join(lines)


def run_alert(run: dg.DagsterRun, assets: list[str], message: str, ui_url: str) -> dict[str, Any]:
    """The JSON of a failed run: what, which assets, why, and where to look."""
    return {
        "kind": "run_failure",
        "severity": "error",
        "run_id": run.run_id,
        "job": run.job_name,
        "assets": assets,
        "partition": run.tags.get("dagster/partition")
        or _range(run.tags.get("dagster/asset_partition_range_start"), run.tags),
        "message": message,
        "url": f"{ui_url}/runs/{run.run_id}",
    }


def _range(start: str | None, tags: Mapping[str, str]) -> str | None:
    return f"{start}...{tags.get('dagster/asset_partition_range_end')}" if start else None


def check_alert(evaluation: dg.AssetCheckEvaluation, run_id: str, ui_url: str) -> dict[str, Any]:
    """The JSON of a failed check evaluation; severity is the check's own (``error`` or ``warn``)."""
    path = "/".join(quote(part, safe="") for part in evaluation.asset_key.path)
    return {
        "kind": "check_failed",
        "severity": evaluation.severity.value.lower(),
        "run_id": run_id,
        "assets": [evaluation.asset_key.to_user_string()],
        "check": evaluation.check_name,
        "partition": evaluation.partition,
        "message": evaluation.description or f"check {evaluation.check_name} failed",
        "url": f"{ui_url}/assets/{path}?view=checks",
    }


def failed_check_alerts(
    instance: dg.DagsterInstance,
    check_keys: Sequence[dg.AssetCheckKey],
    after: int,
    ui_url: str,
    limit: int = MAX_CHECKS_PER_TICK,
) -> list[tuple[int, dict[str, Any] | None]]:
    """Check executions completed after execution id ``after``, oldest first: (id, alert when it failed).

    Read from the instance's check-execution records (ids grow across the instance; the same query on
    SQLite's run-sharded event log and on PostgreSQL): one summary query for every check, then the history
    of only the checks that ran since, so a check that failed twice between ticks is posted twice.
    """
    storage = instance.event_log_storage
    summaries = storage.get_asset_check_summary_records(list(check_keys))
    records = []
    for key, summary in summaries.items():
        latest = summary.last_check_execution_record
        if latest is None or latest.id <= after:
            continue
        for record in storage.get_asset_check_execution_history(key, limit=limit):
            if record.id <= after:
                break
            records.append(record)
    records.sort(key=lambda r: r.id)
    out: list[tuple[int, dict[str, Any] | None]] = []
    for record in records[:limit]:
        if record.status == AssetCheckExecutionRecordStatus.PLANNED:
            run = instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                break  # still running: its record is updated in place, so the cursor waits for it
        event = record.event.dagster_event if record.event else None
        evaluation = event.event_specific_data if event is not None else None
        failed = isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed
        out.append((record.id, check_alert(evaluation, record.run_id, ui_url) if failed else None))
    return out


def newest_check_execution(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]) -> int:
    summaries = instance.event_log_storage.get_asset_check_summary_records(list(check_keys))
    ids = [s.last_check_execution_record.id for s in summaries.values() if s.last_check_execution_record]
    return max(ids, default=0)


def build_alert_sensors(settings: LakeSettings, poster: Poster | None = None) -> list[dg.SensorDefinition]:
    """The two alert sensors, RUNNING by default; none when ``LAKE_ALERT_WEBHOOK_URL`` is unset."""
    url = settings.alert_webhook_url
    if not url:
        return []
    post: Poster = poster or (lambda target, payload: post_json(target, payload))
    ui_url = settings.ui_url

    def send(log: Any, payload: Mapping[str, Any]) -> Delivery:
        try:
            delivery = post(url, payload)
        except Exception as exc:  # the poster never raises; a replaced one must not crash the tick either
            delivery = Delivery(False, 1, error=repr(exc), retryable=True)
        what = f"alert {payload['kind']} {payload.get('check') or payload.get('run_id')}"
        if delivery.delivered:
            log.info(f"{what}: {delivery.describe()}")
        else:
            log.error(f"{what} to {url}: {delivery.describe()}")
        return delivery

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts every failed run to LAKE_ALERT_WEBHOOK_URL, with a link to {ui_url}.",
    )
    def alert_run_failure(context: dg.RunFailureSensorContext) -> None:
        try:
            message = failure_message(context.failure_event, context.get_step_failure_events())
        except Exception as exc:  # a malformed event still gets an alert, with what is known
            message = f"run failed (no failure event: {exc!r})"
        try:
            assets = run_assets(context.instance, context.dagster_run)
        except Exception as exc:  # the alert goes out without the list rather than not at all
            context.log.warning(f"the failed run's assets could not be read: {exc!r}")
            assets = []
        send(context.log, run_alert(context.dagster_run, assets, message, ui_url))

    @dg.sensor(
        name=CHECK_FAILURE_SENSOR,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts every failed asset check evaluation to LAKE_ALERT_WEBHOOK_URL.",
    )
    def alert_failed_checks(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        check_keys = (
            list(context.repository_def.asset_graph.asset_check_keys) if context.repository_def else []
        )
        if context.cursor is None:
            # A new sensor starts at the newest evaluation: history is in the UI and `lake status`.
            newest = newest_check_execution(context.instance, check_keys)
            context.update_cursor(str(newest))
            return dg.SkipReason(f"alerting on check evaluations after execution {newest}")
        posted = refused = 0
        for execution_id, alert in failed_check_alerts(
            context.instance, check_keys, int(context.cursor), ui_url
        ):
            if alert is not None:
                delivery = send(context.log, alert)
                if not delivery.delivered and delivery.retryable:
                    # Unreachable after the retries: stop here, this one and the rest go on the next tick
                    # (one bounded wait per tick, well inside the tick's time limit).
                    return dg.SkipReason(
                        f"{posted} failed check(s) posted; the webhook is unreachable, the rest wait for "
                        f"the next tick ({delivery.error})"
                    )
                posted += delivery.delivered
                refused += not delivery.delivered
            context.update_cursor(str(execution_id))
        return dg.SkipReason(
            f"{posted} failed check(s) posted" + (f", {refused} refused by the webhook" if refused else "")
        )

    return [alert_run_failure, alert_failed_checks]
