"""`[portal]` (the customer's page of documents and the links to it) and `[[surveys]]` (the
satisfaction question in each receipt email: one table per shop that asks it).

Surveys are their own tables rather than keys of `[[shops]]` because a shop's keys belong to
its platform's connector, which knows nothing of emails and surveys."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from bridge.settings_types import Section, Text, blank_to_none, fail


class PortalConfig(Section):
    enabled: bool = Field(
        default=True,
        description="serve the customer's page of documents and link it from each receipt "
        "(needs [server] public_url and link_secret)",
    )
    link_days: int = Field(
        default=90, gt=0, le=3650, description="days a portal link in a receipt email works"
    )
    renewal_link_days: int = Field(
        default=7,
        gt=0,
        le=365,
        description="days a link sent on request ('send me a new link') works",
    )
    document_link_days: int = Field(
        default=730,
        gt=0,
        le=3650,
        description="days a direct PDF link works (customers look for invoices long after)",
    )
    legacy_links_until: Annotated[date | None, BeforeValidator(blank_to_none)] = Field(
        default=None,
        description="last day the PDF links sent before links expired still work "
        "(YYYY-MM-DD; empty: they keep working)",
    )
    requests_per_minute: int = Field(
        default=60,
        gt=0,
        description="requests per minute one client address may make to the portal and survey "
        "pages (counted in the database, so it holds across replicas)",
    )
    new_links_per_hour: int = Field(
        default=3, gt=0, description="new links per hour sent to one address on request"
    )


# Positions on a 3- or 5-point scale, worst first; the top two count as satisfied (CSAT).
SCALES = (3, 5)


def _labels(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split("|") if part.strip()]
    return value


class SurveyConfig(Section):
    shop: str = Field(default="", description="the [[shops]] name this survey is for")
    enabled: bool = Field(
        default=True,
        description="ask 'did everything go well?' in every receipt email (one click, then "
        "the customer confirms on a page)",
    )
    scale: Literal[3, 5] = Field(default=3, description="3 or 5 choices")
    question_fr: Text = Field(default="", description="the question in French ('' = ours)")
    question_en: Text = Field(default="", description="the question in English ('' = ours)")
    labels_fr: Annotated[list[str], BeforeValidator(_labels)] = Field(
        default_factory=list,
        description="the French label of each choice, worst first ([] = ours)",
    )
    labels_en: Annotated[list[str], BeforeValidator(_labels)] = Field(
        default_factory=list,
        description="the English label of each choice, worst first ([] = ours)",
    )
    answer_days: int = Field(
        default=60, gt=0, le=365, description="days after the email an answer is taken"
    )
    change_days: int = Field(
        default=14, ge=0, le=365, description="days an answer may be changed after the first"
    )
    comment_days: int = Field(
        default=365,
        gt=0,
        le=3650,
        description="days a customer's comment is kept (then erased; the score stays)",
    )

    @field_validator("labels_fr", "labels_en")
    @classmethod
    def _one_label_per_choice(cls, labels: list[str], info: ValidationInfo) -> list[str]:
        scale = info.data.get("scale")
        if labels and scale is not None and len(labels) != scale:
            raise fail(f"{scale} labels (one per choice, worst first) or none, got {len(labels)}")
        return labels
