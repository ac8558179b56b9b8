"""Dashboards: charts of the final tables, the quarantine zone and CDC freshness (Dagster-free).

``charts`` holds the reports as data and builds their Vega-Lite specs (Altair); ``data`` reads their rows
without Spark; ``render`` turns a spec into a PNG and an offline HTML page (vl-convert) under
``final/reports/<name>/``; ``build`` runs one report end to end; ``quicksight`` builds the same reports as
QuickSight definitions over Athena; ``commands`` is ``lake report``. The assets are in ``assets/reports.py``.
"""
