"""Placeholder: filled in by its issue."""

from __future__ import annotations


def register(subparsers) -> None:
    """Adds no command yet."""
