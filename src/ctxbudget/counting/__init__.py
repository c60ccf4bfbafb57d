"""Counting: the Counter (backend + cache), the cache discipline, metrics, single flight, truncation."""
