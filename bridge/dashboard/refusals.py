"""What a page's form or filters cannot use, said in the reader's words."""

from __future__ import annotations

from typing import Any


class InputRefused(ValueError):
    """A wording key, the field it is about (a wording key too: the message names the field
    as the form labels it) and what else the wording shows (the value typed, a limit)."""

    def __init__(self, key: str, field: str = "", **values: Any) -> None:
        super().__init__(key)
        self.key, self.field, self.values = key, field, values

    def shown(self) -> dict[str, Any]:
        return {"key": self.key, "field": self.field, "values": self.values}
