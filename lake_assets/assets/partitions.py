"""Partitioning shared by every event-dated asset."""

import dagster as dg

# end_offset=1: today's partition exists while the day is still filling (small batches land all day).
DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)
SINGLE_RUN = dg.BackfillPolicy.single_run()
EAGER = dg.AutomationCondition.eager()
