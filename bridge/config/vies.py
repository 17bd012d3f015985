"""`[vies]`: the EU's VAT number check an intra-EU exemption rests on (art. 262 ter I du CGI).

The requester of each check is the seller's own VAT number (`[seller] vat_number`): VIES then
returns a consultation number, the proof recorded on the invoice.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from stdnum.eu.vat import vies_wsdl

from bridge.settings_types import Section, fail


class ViesConfig(Section):
    wsdl_url: str = Field(
        default=vies_wsdl,
        description="the VIES service description (WSDL); default the European Commission's",
    )
    timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="seconds to wait for VIES, (0-120]"
    )
    max_wait_hours: float = Field(
        default=24,
        gt=0,
        description="hours VIES may stay unreachable before the order is quarantined",
    )

    @field_validator("wsdl_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise fail("an http(s) URL of the VIES WSDL, e.g. " + vies_wsdl)
        return value
