"""How two texts typed by people are compared: case and spacing make no difference."""

from __future__ import annotations


def folded(text: str) -> str:
    """Case and runs of spaces folded: "  JOE   Doe " is "joe doe"."""
    return " ".join(text.split()).casefold()


def same_person(given: str, printed: str) -> bool:
    """A recipient field the platform leaves empty is the buyer's; "JOE DOE" is "Joe Doe"."""
    return folded(given) in ("", folded(printed))
