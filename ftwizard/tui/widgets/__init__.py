"""Reusable widgets, grouped by what they show."""
