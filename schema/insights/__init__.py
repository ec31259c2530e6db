"""Merchant insights: noised aggregates about a merchant's audience and about an area."""
