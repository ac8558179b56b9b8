"""ML data sets: the feature table, splits by time for SageMaker, a baseline model, the training job request.

Dagster-free (the assets in ``assets/ml.py`` and the ``lake ml`` commands share it); see docs/ML.md.
"""

DATASET = "customer_orders_7d"  # the exported data set: final/ml/<DATASET>/ (a light import for the CLI)
