"""API sources: paged pulls into landing (their index and raw writer are the files')."""
