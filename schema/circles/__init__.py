"""Circles and merchants: types, reads and writes."""
