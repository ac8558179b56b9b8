"""The alert poster and sensors against a local HTTP receiver (http.server in a thread) and a real
Dagster instance (``DagsterInstance.ephemeral()``): run failures, failed checks, a down receiver, no URL."""

import dagster as dg
import pytest

from lake_assets.operations.webhook import post_json
from lake_assets.sensors.alerts import CHECK_FAILURE_SENSOR, RUN_FAILURE_SENSOR, build_alert_sensors
from lake_assets.settings import LakeSettings
from lake_assets_tests.operations.receiver import receiver, unreachable_url

KEY = dg.AssetKey(["final", "shop", "alert_probe"])


def _settings(url: str | None) -> LakeSettings:
    return LakeSettings(alert_webhook_url=url, ui_url="http://ui.example:3000")


def _sensors(url: str | None) -> dict[str, dg.SensorDefinition]:
    return {s.name: s for s in build_alert_sensors(_settings(url))}


def test_post_json_delivers_and_retries_server_errors() -> None:
    waits: list[float] = []
    with receiver() as hook:
        hook.statuses = [503, 500]
        delivery = post_json(hook.url, {"a": 1}, attempts=3, backoff_seconds=0.5, sleep=waits.append)
    assert delivery.delivered and delivery.attempts == 3 and delivery.status == 200
    assert hook.bodies == [{"a": 1}] * 3
    assert waits == [0.5, 1.0]


def test_post_json_stops_on_a_refusal_and_survives_an_unreachable_receiver() -> None:
    with receiver() as hook:
        hook.statuses = [400]
        refused = post_json(hook.url, {"a": 1}, sleep=lambda _s: None)
    assert not refused.delivered and refused.attempts == 1 and refused.status == 400
    waits: list[float] = []
    down = post_json(unreachable_url(), {"a": 1}, attempts=3, backoff_seconds=0.01, sleep=waits.append)
    assert not down.delivered and down.attempts == 3 and "refused" in (down.error or "").lower()
    assert waits == [0.01, 0.02]


def test_no_url_no_sensors() -> None:
    assert build_alert_sensors(_settings(None)) == []


@dg.asset(key=KEY, check_specs=[dg.AssetCheckSpec("rows_positive", asset=KEY)])
def probe(context: dg.AssetExecutionContext):  # noqa: ANN201 - yields results
    if context.run.tags.get("fail") == "run":
        raise RuntimeError("the probe broke on purpose")
    yield dg.MaterializeResult()
    passed = context.run.tags.get("fail") != "check"
    yield dg.AssetCheckResult(check_name="rows_positive", passed=passed, description="rows: 0")


DEFS = dg.Definitions(assets=[probe])


def _run(instance: dg.DagsterInstance, fail: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([probe], instance=instance, tags={"fail": fail}, raise_on_error=False)


def _failure_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = _run(instance, "run")
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    event = result.get_run_failure_event()
    return dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR, dagster_event=event, dagster_instance=instance, dagster_run=run
    ).for_run_failure()


def test_run_failure_is_posted_with_run_job_assets_error_and_link() -> None:
    with receiver() as hook:
        instance = dg.DagsterInstance.ephemeral()
        context = _failure_context(instance)
        _sensors(hook.url)[RUN_FAILURE_SENSOR](context)
    [alert] = hook.bodies
    run_id = context.dagster_run.run_id
    assert alert["kind"] == "run_failure" and alert["severity"] == "error"
    assert alert["run_id"] == run_id and alert["job"] == context.dagster_run.job_name
    assert alert["assets"] == ["final/shop/alert_probe"]
    assert "the probe broke on purpose" in alert["message"]
    assert alert["url"] == f"http://ui.example:3000/runs/{run_id}"


def test_unreachable_webhook_never_fails_the_sensor_and_check_alerts_wait_for_it() -> None:
    """The receiver is down: both sensors log after their bounded retries and return normally. The failed
    check's alert is not lost: the cursor stays before it, and the next tick, with the receiver back,
    posts it; an alert the receiver refuses (400) is passed over rather than blocking the ones after it."""
    instance = dg.DagsterInstance.ephemeral()
    context = _failure_context(instance)
    fast = lambda url, payload: post_json(url, payload, attempts=2, backoff_seconds=0.01)  # noqa: E731
    down = {s.name: s for s in build_alert_sensors(_settings(unreachable_url()), poster=fast)}
    down[RUN_FAILURE_SENSOR](context)  # no exception
    assert _run(instance, "check").success
    tick = dg.build_sensor_context(definitions=DEFS, instance=instance, cursor="0")
    assert "webhook is unreachable" in str(down[CHECK_FAILURE_SENSOR](tick))
    held = tick.cursor  # past the failed run's unfinished check, not past the failed check
    assert _run(instance, "check").success
    with receiver() as hook:
        hook.statuses = [400]  # the first is refused, the second delivered
        up = {s.name: s for s in build_alert_sensors(_settings(hook.url), poster=fast)}
        retry = dg.build_sensor_context(definitions=DEFS, instance=instance, cursor=held)
        assert "1 failed check(s) posted, 1 refused" in str(up[CHECK_FAILURE_SENSOR](retry))
    assert len(hook.bodies) == 2 and int(retry.cursor or 0) > int(held or 0)


def test_failed_checks_are_posted_once_with_their_own_cursor() -> None:
    with receiver() as hook:
        instance = dg.DagsterInstance.ephemeral()
        sensor = _sensors(hook.url)[CHECK_FAILURE_SENSOR]
        assert _run(instance, "check").success  # a failed check before the sensor existed: history
        context = dg.build_sensor_context(definitions=DEFS, instance=instance)
        sensor(context)
        assert hook.bodies == [] and context.cursor not in (None, "0")
        assert _run(instance, "none").success  # passes: nothing to post
        assert _run(instance, "check").success
        failing = _run(instance, "check")
        context = dg.build_sensor_context(definitions=DEFS, instance=instance, cursor=context.cursor)
        sensor(context)
        assert [b["run_id"] for b in hook.bodies] != [] and len(hook.bodies) == 2
        assert hook.bodies[-1]["run_id"] == failing.run_id
        alert = hook.bodies[-1]
        assert alert["kind"] == "check_failed" and alert["check"] == "rows_positive"
        assert alert["assets"] == ["final/shop/alert_probe"] and alert["message"] == "rows: 0"
        assert alert["severity"] == "error"
        assert alert["url"] == "http://ui.example:3000/assets/final/shop/alert_probe?view=checks"
        again = dg.build_sensor_context(definitions=DEFS, instance=instance, cursor=context.cursor)
        sensor(again)
        assert len(hook.bodies) == 2  # the cursor moved past them


@pytest.mark.parametrize("url", ["ftp://x", "hooks.example.com"])
def test_bad_webhook_url_is_refused_by_name(url: str) -> None:
    from lake_assets.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="LAKE_ALERT_WEBHOOK_URL"):
        load_settings({"LAKE_ALERT_WEBHOOK_URL": url})


def test_the_webhook_url_stays_out_of_job_arguments_and_reprs() -> None:
    """A webhook URL usually carries its token: not handed to Glue jobs, not printed with the settings."""
    from lake_assets.settings import lake_environment, load_settings

    env = {"LAKE_ALERT_WEBHOOK_URL": "https://hooks.example.com/T0/SECRET", "LAKE_ROOT": "/tmp/x"}
    assert "LAKE_ALERT_WEBHOOK_URL" not in lake_environment(env) and "LAKE_ROOT" in lake_environment(env)
    settings = load_settings(env)
    assert settings.alert_webhook_url == env["LAKE_ALERT_WEBHOOK_URL"] and "SECRET" not in repr(settings)


def test_ui_url_default_and_override() -> None:
    from lake_assets.settings import load_settings

    assert load_settings({}).ui_url == "http://localhost:3000"
    assert load_settings({"LAKE_UI_URL": "https://dagster.internal/"}).ui_url == "https://dagster.internal"
