"""Reusable dashboard widgets (charts, form fields, tables, images)."""
