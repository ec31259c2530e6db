"""Redis-driven background work: feed fan-out, event ingestion, precompute."""
