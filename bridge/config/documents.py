"""`[templates]`, `[legal]` and `[rules]`: the owner's template overrides, their wording of the
mentions the law lets them choose, and how the fiscal rules treat the cases the law leaves to
them."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    field_validator,
)

from bridge.invoicing.buyer import CompanyPolicy
from bridge.settings_types import (
    OptPath,
    Section,
    fail,
)


class TemplatesConfig(Section):
    dir: OptPath = Field(
        default=None,
        description="a folder of template overrides; missing files fall back to ours",
    )

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise fail(
                f"an existing folder (nothing at {value}); relative paths are resolved against "
                "the config file's folder"
            )
        return value


class LegalConfig(Section):
    """The seller's own wording of the mentions the law lets them choose (empty = standard)."""

    late_payment_penalties: str = Field(default="", description="B2B late-payment penalty text")
    late_payment_penalties_en: str = ""
    early_payment_discount: str = Field(default="", description="B2B escompte terms")
    early_payment_discount_en: str = ""
    legal_guarantee: str = Field(default="", description="legal-guarantee text for goods")
    legal_guarantee_en: str = ""
    vat_exemption: str = Field(
        default="",
        description="the legal text printed when a French sale carries 0 % lines (the "
        "exemption your activity falls under, with its article); empty = such an order is "
        "quarantined",
    )
    vat_exemption_en: str = ""


class RulesConfig(Section):
    """How the fiscal rules treat what the law leaves to the seller."""

    company_without_identifier: CompanyPolicy = Field(
        default=CompanyPolicy.b2b,
        description="a buyer with a company name but no SIREN or VAT number: b2b (issue with "
        "the B2B terms and alert you to collect the SIREN), quarantine, or b2c",
    )
