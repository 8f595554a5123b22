"""Read-only charts over runs, campaigns and versions (plotly figures built in Python)."""
