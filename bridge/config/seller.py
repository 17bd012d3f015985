"""`[seller]`: the shop owner's legal identity, printed on every invoice and checked here
(SIREN/SIRET/VAT with python-stdnum, share capital and RCS by legal form)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva

from bridge.invoicing.electronic_address import BadElectronicAddress, parse_electronic_address
from bridge.invoicing.legal_forms import is_sole_trader_form
from bridge.settings_types import (
    COLOR,
    OptPath,
    Section,
    Text,
    blank_to_none,
    check_email,
    fail,
    fail_field,
    lower,
    upper,
)


def french_vat_for(siren: str) -> str:
    """The French intra-community VAT number of a SIREN: key = (12 + 3·(siren mod 97)) mod 97."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


class AddressConfig(Section):
    line1: str = Field(min_length=1, description="street address, e.g. '8 rue Mercière'")
    line2: Text = Field(default="", description="optional second address line")
    postcode: str = Field(min_length=1, description="postcode, 5 digits in France")
    city: str = Field(min_length=1, description="city name")
    country: Annotated[str, BeforeValidator(upper)] = Field(
        default="FR", pattern=r"^[A-Z]{2}$", description="ISO 3166 two-letter country code, e.g. FR"
    )

    @model_validator(mode="after")
    def _french_postcode(self) -> AddressConfig:
        if self.country == "FR" and not re.fullmatch(r"\d{5}", self.postcode):
            raise fail_field("postcode", self.postcode, "a 5-digit French postcode, e.g. 69002")
        return self


class SellerConfig(Section):
    """The shop owner's legal identity, printed on every invoice."""

    legal_name: str = Field(
        min_length=1, description="the registered name, as on the Kbis (e.g. 'La Théière SAS')"
    )
    trade_name: Text = Field(default="", description="optional shop/brand name")
    legal_form: str = Field(
        min_length=1,
        description="the legal form: SAS, SASU, SARL, EURL, SA, SNC… or EI, EIRL, micro-entreprise",
    )
    share_capital: Annotated[Decimal | None, BeforeValidator(blank_to_none)] = Field(
        default=None,
        validate_default=True,
        description="the share capital in euros (companies only), e.g. 10000",
    )
    address: AddressConfig = Field(description="the registered address ([seller.address] table)")
    siren: str = Field(description="a 9-digit SIREN with a valid Luhn checksum (see your Kbis)")
    siret: Text = Field(
        default="", description="the 14-digit SIRET of the establishment (SIREN + 5 digits)"
    )
    rcs_city: Text = Field(
        default="",
        validate_default=True,
        description="the city of the RCS registry (e.g. 'Lyon'), as on the Kbis",
    )
    vat_regime: Annotated[Literal["normal", "franchise", "debits"], BeforeValidator(lower)] = Field(
        default="normal",
        description="'normal', 'franchise' (franchise en base, art. 293 B) or 'debits'",
    )
    vat_number: Text = Field(
        default="",
        validate_default=True,
        description="the intra-community VAT number, e.g. FR44732829320",
    )
    eu_distance_sales: Annotated[Literal["french_vat", "oss"], BeforeValidator(lower)] = Field(
        default="french_vat",
        description="your goods sold to consumers in other EU countries: 'french_vat' (under "
        "the 10 000 € a year EU threshold: French VAT) or 'oss' (declared through the One-Stop "
        "Shop: the customer's country's VAT)",
    )
    electronic_address: Text = Field(
        default="",
        validate_default=True,
        description="where structured (Factur-X) invoices reach you, '<scheme>:<identifier>' "
        "as registered in the French directory, e.g. '0225:732829320'; empty = your SIREN's "
        "(0225:<siren>)",
    )
    email: Text = Field(default="", description="contact email printed on invoices")
    phone: Text = Field(default="", description="contact phone printed on invoices")
    website: Text = Field(default="", description="website printed on invoices")
    logo: OptPath = Field(default=None, description="path to a PNG/JPEG logo for the invoice")
    brand_color: str = Field(default="#1f3a5f", description="a colour as #RRGGBB, e.g. #1f3a5f")
    timezone: str = Field(
        default="Europe/Paris", description="an IANA time zone, e.g. Europe/Paris"
    )
    default_locale: Annotated[Literal["fr", "en"], BeforeValidator(lower)] = Field(
        default="fr", description="'fr' or 'en': invoice language when the order has none"
    )

    @property
    def is_sole_trader(self) -> bool:
        return is_sole_trader_form(self.legal_form)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @model_validator(mode="after")
    def _oss_needs_vat(self) -> SellerConfig:
        # The One-Stop Shop declares VAT charged abroad; a seller in franchise en base charges
        # none, and printing "293 B" beside "TVA du pays de livraison" would contradict itself.
        if self.vat_regime == "franchise" and self.eu_distance_sales == "oss":
            raise fail_field(
                "eu_distance_sales",
                self.eu_distance_sales,
                "'french_vat' for a seller in franchise en base (vat_regime = 'franchise'): "
                "the One-Stop Shop is for sellers who charge VAT",
            )
        return self

    @field_validator("share_capital")
    @classmethod
    def _capital(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        form = info.data.get("legal_form")
        if value is not None:
            if not value.is_finite() or value <= 0:
                raise fail("a positive amount in euros, e.g. 10000")
            if value != value.quantize(Decimal("0.01")):
                raise fail("an amount in euros with at most 2 decimals, e.g. 10000 or 1500.50")
        if form is None:
            return value
        if is_sole_trader_form(form):
            if value is not None:
                raise fail(
                    f"no share_capital for a sole trader ({form}): an EI has no capital — "
                    "remove the key"
                )
        elif value is None:
            raise fail(
                f"the share capital of your {form} in euros (see your Kbis), e.g. "
                "share_capital = 10000 — it is a mandatory invoice mention for a company"
            )
        return value

    @field_validator("siren", mode="before")
    @classmethod
    def _siren(cls, value: Any) -> Any:
        if not isinstance(value, str | int):
            return value
        try:
            return fr_siren.validate(str(value))
        except StdnumError:
            raise fail("a 9-digit SIREN with a valid Luhn checksum (see your Kbis)") from None

    @field_validator("siret", mode="before")
    @classmethod
    def _siret(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return value
        try:
            value = fr_siret.validate(value)
        except StdnumError:
            raise fail(
                "a 14-digit SIRET with a valid checksum (SIREN + 5-digit NIC, see your Kbis)"
            ) from None
        siren = info.data.get("siren")
        if siren and not value.startswith(siren):
            raise fail(
                f"a SIRET starting with the SIREN {siren} (the first 9 digits of a SIRET are "
                "the SIREN): one of the two is mistyped"
            )
        return value

    @field_validator("rcs_city")
    @classmethod
    def _rcs(cls, value: str, info: ValidationInfo) -> str:
        form = info.data.get("legal_form")
        if not value and form and not is_sole_trader_form(form):
            raise fail(
                f"the city of the RCS registry of your {form}, as on the Kbis (e.g. 'Lyon' for "
                "'RCS Lyon') — required for a company"
            )
        return value

    @field_validator("vat_number")
    @classmethod
    def _vat(cls, value: str, info: ValidationInfo) -> str:
        regime = info.data.get("vat_regime")
        if not value:
            if regime in ("normal", "debits"):
                raise fail(
                    f"your intra-community VAT number (e.g. FR44732829320): required when "
                    f"vat_regime = '{regime}'; set vat_regime = 'franchise' if you are under "
                    "the franchise en base (art. 293 B du CGI)"
                )
            return value
        try:
            number = eu_vat.validate(value)
        except StdnumError:
            raise fail(
                "an EU VAT number: country code + number with a valid key, e.g. FR44732829320 "
                "(see your professional space on impots.gouv.fr)"
            ) from None
        siren = info.data.get("siren")
        address = info.data.get("address")
        french = address is None or address.country == "FR"
        if french and not number.startswith("FR"):
            raise fail("a French VAT number (FR + key + SIREN): the seller's address is in France")
        if number.startswith("FR") and siren:
            try:
                owner = fr_tva.to_siren(number[2:])
            except StdnumError:  # pragma: no cover - validate() already checked the format
                owner = ""
            if owner != siren:
                raise fail(
                    f"the VAT number of SIREN {siren}, i.e. {french_vat_for(siren)} "
                    f"(this one belongs to SIREN {owner or '?'})"
                )
        return number

    @field_validator("electronic_address")
    @classmethod
    def _electronic_address(cls, value: str, info: ValidationInfo) -> str:
        # Stored canonical ("0225:732829320"), so the snapshot and the XML carry one spelling.
        if not value:
            return value
        try:
            return str(parse_electronic_address(value, siren=info.data.get("siren") or ""))
        except BadElectronicAddress as exc:
            raise fail(f"{exc}; or remove the key to use your SIREN's") from None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value, "a contact email")

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise fail(
                f"an existing image file (nothing at {value}); relative paths are resolved "
                "against the config file's folder"
            )
        return value

    @field_validator("brand_color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        if isinstance(value, str) and COLOR.match(value.strip()):
            return value.strip().lower()
        raise fail("a colour as #RRGGBB, e.g. #1f3a5f")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail("an IANA time zone such as Europe/Paris or America/Martinique") from None
        return value
