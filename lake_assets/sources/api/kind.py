"""HTTP APIs as a source kind: pages pulled into ``landing/api/<source>/`` by a schedule, then as files.

Nothing lands on its own, so there is no landing sensor: the schedule's run (tag ``lake/pull_api``) pulls,
indexes the landed pages and stages raw in one go; a backfill of past days rebuilds from what already landed
and never calls the API.
"""

from __future__ import annotations

from collections.abc import Sequence

from lake_assets.settings import api_token
from lake_assets.sources.api.pull import ApiPullError, pull_api
from lake_assets.sources.files.index import index_object
from lake_assets.sources.files.kind import FileSourceKind
from lake_assets.sources.kind import RawInputError, RawRun, StagedRaw
from lake_assets.sources.specs import SourceSpec

PULL_TAG = "lake/pull_api"  # set by an API source's schedule: the run pulls the API before landing raw


class ApiSourceKind(FileSourceKind):
    name = "api"

    def __init__(self, specs: Sequence[SourceSpec]) -> None:
        self.specs = [s for s in specs if s.kind == "http_api"]
        self.watched = []
        self.landing = None

    def stage(self, run: RawRun, target: SourceSpec) -> StagedRaw:
        if run.tags.get(PULL_TAG):
            self.pull(run, target)
        return super().stage(run, target)

    def pull(self, run: RawRun, spec: SourceSpec) -> dict[str, int]:
        """Pull the API and index every landed page; returns records per day (outside the run: warned)."""
        store = run.lake.store
        try:
            pulled = pull_api(store, spec, run_id=run.run_id, token=api_token(spec))
        except ApiPullError as exc:
            raise RawInputError(f"{spec.name}: {exc}") from None
        by_day: dict[str, int] = {}
        for key in pulled.landed_keys:
            info = next(store.list(key), None)
            if info is None or info.key != key:
                raise RawInputError(f"{spec.name}: landed page {key} is not in the store")
            for day, rows in index_object(store, spec, info).items():
                by_day[day] = by_day.get(day, 0) + rows
        outside = sorted(d for d in by_day if d not in set(run.days))
        if outside:
            run.warn(
                f"{spec.name}: the pull returned records dated {', '.join(outside)}, outside this run's "
                f"days; they are indexed: materialize raw/{spec.zone_folder} for those days"
            )
        run.log(
            f"{spec.name}: pulled {pulled.records} records in {pulled.pages} pages ({pulled.retries} "
            f"retries); watermark {pulled.watermark_before} -> {pulled.watermark_after}"
        )
        return by_day
