"""Notifications: what happened to the viewer, as a connection and a live subscription."""
