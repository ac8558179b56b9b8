"""A layer's run without Dagster: read its inputs, transform, stage -> check -> commit.

The assets run it in the Dagster process (local Spark); on AWS the same function runs inside a Glue job
(``layers/glue_job.py``), which reports back through Dagster Pipes.
"""

FAILED = "lake/failed"  # the custom Pipes message of a job whose commit published nothing
