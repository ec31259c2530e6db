"""Benchmarks: a synthetic social graph, a loader, quality and latency runs for PYMK."""
