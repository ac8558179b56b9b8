"""Partitioning shared by every event-dated asset."""

import dagster as dg

# end_offset=1: today's partition exists while the day is still filling (small batches land all day).
DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)
SINGLE_RUN = dg.BackfillPolicy.single_run()
# Eager, but for every day rather than only the latest window: late events update past days, and those
# days must flow on to final too.
EAGER = (
    dg.AutomationCondition.eager()
    .without(dg.AutomationCondition.in_latest_time_window())
    .with_label("eager (any day)")
)
