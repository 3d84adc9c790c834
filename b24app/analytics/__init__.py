"""Metric definitions and queries: the one place every dashboard, export and chat summary takes figures from."""
