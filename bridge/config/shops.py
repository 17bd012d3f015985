"""`[[shops]]`: one table per shop, validated by its platform's schema (the `platform` key
chooses it), as the connector registry declares them."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from connectors.registry import PLATFORMS

# One schema per platform, told apart by `platform`: an unknown value is reported with the
# list of known ones, a wrong key with the platform's own keys.
ShopConfig = Annotated[
    Union[tuple(p.settings for p in PLATFORMS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="platform"),
]
