"""Moderation: actions in a circle, its mod log, reports and appeals."""
