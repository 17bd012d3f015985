"""The customer's pages (portal, survey) and the portal-link email, rendered with the context
each one is documented to get, in both languages, and read back as HTML."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from string import Formatter
from types import SimpleNamespace
from typing import Any

import lxml.html
import pytest

from bridge.portal.wording import (
    LOCALES,
    PAGE_WORDING,
    default_survey_labels,
    default_survey_question,
)
from bridge.render.formatting import format_date
from bridge.render.templates import Templates

PUBLIC = "https://factures.boutique-x.fr"
WEBSITE = "https://boutique-x.fr"
CONTACT = "contact@boutique-x.fr"
LOGO = "data:image/png;base64,iVBORw0KGgo="  # never decoded: only where it lands matters


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


def _day(days: int, locale: str) -> str:
    return format_date(datetime.now(UTC) + timedelta(days=days), locale, long=True)


def common(locale: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "locale": locale,
        "t": PAGE_WORDING[locale],
        "shop_name": "Boutique X",
        "brand_color": "#f5d90a",  # a light colour: text must not depend on it
        "logo_uri": "",
        "website": WEBSITE,
        "contact": CONTACT,
    }
    values.update(overrides)
    return values


def documents_context(locale: str, **overrides: Any) -> dict[str, Any]:
    values = common(locale)
    values.update(
        documents=[
            {
                "number": "A-0002",
                "is_credit_note": True,
                "issue_date": _day(-3, locale),
                "amount": "12,50 €" if locale == "fr" else "€12.50",
                "order_label": "n°\u00a01043" if locale == "fr" else "#1043",
                "download_url": f"{PUBLIC}/portal/TOKEN/documents/A-0002.pdf",
            },
            {
                "number": "F-0001",
                "is_credit_note": False,
                "issue_date": _day(-30, locale),
                "amount": "49,90 €" if locale == "fr" else "€49.90",
                "order_label": "n°\u00a01042" if locale == "fr" else "#1042",
                "download_url": f"{PUBLIC}/portal/TOKEN/documents/F-0001.pdf",
            },
        ],
        expires_on=_day(90, locale),
        request_url=f"{PUBLIC}/portal/request/boutique-x",
    )
    values.update(overrides)
    return values


def survey_choices(locale: str, scale: int = 5, checked: int | None = 4) -> list[dict[str, Any]]:
    labels = default_survey_labels(scale, locale)
    return [
        {"score": score, "label": label, "checked": score == checked}
        for score, label in enumerate(labels, start=1)
    ]


def survey_context(locale: str, **overrides: Any) -> dict[str, Any]:
    values = common(locale)
    values.update(
        action=f"{PUBLIC}/survey/TOKEN",
        csrf="signed-nonce",
        question=default_survey_question(locale),
        choices=survey_choices(locale),
        comment="",
        number="F-0001",
        order_label="n°\u00a01042" if locale == "fr" else "#1042",
        answered=False,
        change_until="",
    )
    values.update(overrides)
    return values


CONTEXTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "portal/documents.html": documents_context,
    "portal/expired.html": lambda locale: common(
        locale, renew_action=f"{PUBLIC}/portal/renew", token="OLD.TOKEN", csrf="signed-nonce"
    ),
    "portal/invalid.html": lambda locale: common(
        locale, shop_name="", website="", contact="", brand_color="#1f3a5f"
    ),
    "portal/request.html": lambda locale: common(
        locale, action=f"{PUBLIC}/portal/request/boutique-x", csrf="signed-nonce", error=""
    ),
    "portal/sent.html": lambda locale: common(locale, valid_days=7),
    "portal/slow_down.html": lambda locale: common(locale, retry_minutes=5),
    "survey/form.html": survey_context,
    "survey/thanks.html": lambda locale: common(
        locale,
        label=default_survey_labels(5, locale)[3],
        changed=False,
        change_until=_day(14, locale),
        portal_url=f"{PUBLIC}/portal/TOKEN",
    ),
    "survey/closed.html": lambda locale: common(
        locale, reason="expired", portal_url=f"{PUBLIC}/portal/TOKEN"
    ),
}
PAGES = sorted(CONTEXTS)
EVERY_PAGE = pytest.mark.parametrize(
    ("name", "locale"), [(name, locale) for name in PAGES for locale in LOCALES]
)


def page(templates: Templates, name: str, context: dict[str, Any]) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(templates.render(name, **context))


def text(element: lxml.html.HtmlElement) -> str:
    # ASCII whitespace only: str.split() would also eat the French non-breaking spaces
    return re.sub(r"[ \t\r\n\f]+", " ", element.text_content()).strip()


def _urls_in(context: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for value in context.values():
        if isinstance(value, str) and (value.startswith(("http", "data:"))):
            found.add(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found |= _urls_in(item)
    return found


# --------------------------------------------------------------------------- every page


@EVERY_PAGE
def test_every_page_declares_its_language(templates: Templates, name: str, locale: str) -> None:
    assert page(templates, name, CONTEXTS[name](locale)).get("lang") == locale


@EVERY_PAGE
def test_every_page_asks_robots_not_to_index_it(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    assert doc.xpath("//meta[@name='robots']/@content") == ["noindex, nofollow"]


@EVERY_PAGE
def test_every_page_sends_no_referrer(templates: Templates, name: str, locale: str) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    assert doc.xpath("//meta[@name='referrer']/@content") == ["no-referrer"]


@EVERY_PAGE
def test_every_page_scales_to_the_device_width(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    assert "width=device-width" in doc.xpath("//meta[@name='viewport']/@content")[0]


@EVERY_PAGE
def test_every_page_has_one_main_landmark_the_skip_link_leads_to(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    mains = doc.xpath("//main")
    first_link = doc.xpath("//body//a")[0]
    assert len(mains) == 1
    assert first_link.get("href") == f"#{mains[0].get('id')}"


@EVERY_PAGE
def test_every_page_runs_no_javascript(templates: Templates, name: str, locale: str) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    handlers = [a for el in doc.iter() for a in el.attrib if a.lower().startswith("on")]
    assert doc.xpath("//script") == []
    assert handlers == []
    assert not any(v.lower().startswith("javascript:") for v in doc.xpath("//@href | //@src"))


@EVERY_PAGE
def test_every_page_loads_nothing_from_elsewhere(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    styles = " ".join(doc.xpath("//style/text()"))
    assert doc.xpath("//link | //iframe | //object | //embed") == []
    assert "url(" not in styles
    assert "@import" not in styles


@EVERY_PAGE
def test_every_page_links_only_to_the_urls_it_was_given(
    templates: Templates, name: str, locale: str
) -> None:
    context = CONTEXTS[name](locale)
    doc = page(templates, name, context)
    used = set(doc.xpath("//@href | //@src | //@action"))
    allowed = _urls_in(context) | {"#content", f"mailto:{CONTACT}"}
    assert used <= allowed


@EVERY_PAGE
def test_every_page_has_one_h1_and_skips_no_heading_level(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    levels = [int(h.tag[1]) for h in doc.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b - a <= 1 for a, b in pairwise(levels))


@EVERY_PAGE
def test_every_visible_input_has_a_visible_label(
    templates: Templates, name: str, locale: str
) -> None:
    doc = page(templates, name, CONTEXTS[name](locale))
    fields = doc.xpath("//input[not(@type='hidden')] | //textarea | //select")
    labels = {label.get("for"): text(label) for label in doc.xpath("//label[@for]")}
    assert all(labels.get(field.get("id")) for field in fields)


@EVERY_PAGE
def test_every_form_posts_with_its_csrf_field(templates: Templates, name: str, locale: str) -> None:
    context = CONTEXTS[name](locale)
    doc = page(templates, name, context)
    for form in doc.xpath("//form"):
        assert form.get("method") == "post"
        assert form.xpath(".//input[@type='hidden'][@name='csrf']/@value") == [context["csrf"]]
        assert form.xpath(".//button[@type='submit']")


@EVERY_PAGE
def test_every_page_escapes_the_shop_name(templates: Templates, name: str, locale: str) -> None:
    context = CONTEXTS[name](locale) | {"shop_name": "<b>Bob & Co</b>"}
    html = templates.render(name, **context)
    assert "<b>Bob" not in html


@pytest.mark.parametrize("locale", LOCALES)
def test_the_logo_is_shown_only_when_given(templates: Templates, locale: str) -> None:
    without = page(templates, "portal/sent.html", CONTEXTS["portal/sent.html"](locale))
    context = CONTEXTS["portal/sent.html"](locale) | {"logo_uri": LOGO}
    with_logo = page(templates, "portal/sent.html", context)
    assert without.xpath("//img") == []
    assert with_logo.xpath("//img/@src") == [LOGO]
    assert with_logo.xpath("//img/@alt") == ["Boutique X"]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_footer_gives_the_contact_address_as_a_mail_link(
    templates: Templates, locale: str
) -> None:
    doc = page(templates, "portal/sent.html", CONTEXTS["portal/sent.html"](locale))
    assert doc.xpath("//footer//a[@href='mailto:contact@boutique-x.fr']")


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize("locale", LOCALES)
def test_documents_are_a_captioned_table_with_scoped_headers(
    templates: Templates, locale: str
) -> None:
    doc = page(templates, "portal/documents.html", documents_context(locale))
    assert doc.xpath("//table/caption")
    assert len(doc.xpath("//thead//th[@scope='col']")) == 6
    assert doc.xpath("//tbody//th[@scope='row']/text()") == ["A-0002", "F-0001"]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_download_link_names_its_document(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/documents.html", documents_context(locale))
    links = {a.get("href"): text(a) for a in doc.xpath("//tbody//a")}
    expected = {
        "fr": ["Télécharger l'avoir A-0002 (PDF)", "Télécharger la facture F-0001 (PDF)"],
        "en": ["Download credit note A-0002 (PDF)", "Download invoice F-0001 (PDF)"],
    }[locale]
    assert list(links.values()) == expected


@pytest.mark.parametrize("locale", LOCALES)
def test_documents_say_which_is_a_credit_note(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/documents.html", documents_context(locale))
    kinds = [text(row.xpath("./td")[0]) for row in doc.xpath("//tbody/tr")]
    assert kinds == [PAGE_WORDING[locale]["kind_credit_note"], PAGE_WORDING[locale]["kind_invoice"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_stacked_cells_carry_their_column_name(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/documents.html", documents_context(locale))
    first_row = doc.xpath("//tbody/tr")[0]
    labels = [cell.get("data-label") for cell in first_row if cell.get("data-label")]
    t = PAGE_WORDING[locale]
    assert labels == [
        t["col_number"],
        t["col_kind"],
        t["col_date"],
        t["col_amount"],
        t["col_order"],
    ]


@pytest.mark.parametrize("locale", LOCALES)
def test_no_documents_yet_says_so_instead_of_an_empty_table(
    templates: Templates, locale: str
) -> None:
    doc = page(templates, "portal/documents.html", documents_context(locale, documents=[]))
    assert doc.xpath("//table") == []
    assert PAGE_WORDING[locale]["documents_empty"] in text(doc)


@pytest.mark.parametrize("locale", LOCALES)
def test_documents_page_gives_the_link_expiry_and_a_way_to_a_new_one(
    templates: Templates, locale: str
) -> None:
    context = documents_context(locale)
    doc = page(templates, "portal/documents.html", context)
    assert context["expires_on"] in text(doc)
    assert doc.xpath(f"//main//a[@href='{context['request_url']}']")


def test_french_expiry_reads_as_a_sentence(templates: Templates) -> None:
    context = documents_context("fr")
    doc = page(templates, "portal/documents.html", context)
    assert f"Ce lien est valable jusqu'au {context['expires_on']}." in text(doc)


# --------------------------------------------------------------------------- other portal pages


@pytest.mark.parametrize("locale", LOCALES)
def test_expired_page_sends_the_old_token_back_to_renew(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/expired.html", CONTEXTS["portal/expired.html"](locale))
    form = doc.xpath("//form")[0]
    assert form.get("action") == f"{PUBLIC}/portal/renew"
    assert form.xpath(".//input[@type='hidden'][@name='token']/@value") == ["OLD.TOKEN"]


@pytest.mark.parametrize("locale", LOCALES)
def test_invalid_page_renders_without_any_shop(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/invalid.html", CONTEXTS["portal/invalid.html"](locale))
    assert text(doc.xpath("//h1")[0]) == PAGE_WORDING[locale]["invalid_title"]
    assert doc.xpath("//footer") == []


@pytest.mark.parametrize("locale", LOCALES)
def test_request_page_asks_for_an_email_address(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/request.html", CONTEXTS["portal/request.html"](locale))
    email = doc.xpath("//form//input[@name='email']")[0]
    assert email.get("type") == "email"
    assert email.get("autocomplete") == "email"
    assert doc.xpath("//*[@role='alert']") == []


@pytest.mark.parametrize("locale", LOCALES)
def test_request_page_shows_its_error_tied_to_the_field(templates: Templates, locale: str) -> None:
    error = PAGE_WORDING[locale]["error_email_invalid"]
    context = CONTEXTS["portal/request.html"](locale) | {"error": error}
    doc = page(templates, "portal/request.html", context)
    email = doc.xpath("//input[@name='email']")[0]
    described = doc.get_element_by_id(email.get("aria-describedby"))
    assert email.get("aria-invalid") == "true"
    assert text(described) == error


def test_sent_page_says_the_same_thing_whatever_the_address(templates: Templates) -> None:
    doc = page(templates, "portal/sent.html", CONTEXTS["portal/sent.html"]("fr"))
    assert (
        "Si cette adresse est connue de la boutique, un lien vient de lui être envoyé. "
        "Il est valable 7\u00a0jours."
    ) in text(doc)


@pytest.mark.parametrize("locale", LOCALES)
def test_sent_page_says_one_day_in_the_singular(templates: Templates, locale: str) -> None:
    context = CONTEXTS["portal/sent.html"](locale) | {"valid_days": 1}
    body = text(page(templates, "portal/sent.html", context))
    assert re.search(r"1\s(jour|day)\.", body)


@pytest.mark.parametrize("locale", LOCALES)
def test_slow_down_page_says_when_to_try_again(templates: Templates, locale: str) -> None:
    doc = page(templates, "portal/slow_down.html", CONTEXTS["portal/slow_down.html"](locale))
    assert re.search(r"\b5\smin\.", text(doc))


# --------------------------------------------------------------------------- survey


def _checked_scores(doc: lxml.html.HtmlElement) -> list[str]:
    return doc.xpath("//input[@type='radio'][@checked]/@value")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("scale", "checked"), [(3, 1), (3, 3), (5, 2), (5, 5)])
def test_survey_form_preselects_exactly_the_checked_choice(
    templates: Templates, locale: str, scale: int, checked: int
) -> None:
    context = survey_context(locale, choices=survey_choices(locale, scale, checked))
    assert _checked_scores(page(templates, "survey/form.html", context)) == [str(checked)]


def test_survey_form_preselects_nothing_when_no_choice_is_checked(templates: Templates) -> None:
    context = survey_context("fr", choices=survey_choices("fr", 5, None))
    assert _checked_scores(page(templates, "survey/form.html", context)) == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("scale", [3, 5])
def test_survey_choices_are_one_radio_each_in_a_fieldset_under_the_question(
    templates: Templates, locale: str, scale: int
) -> None:
    context = survey_context(locale, choices=survey_choices(locale, scale))
    doc = page(templates, "survey/form.html", context)
    fieldset = doc.xpath("//form//fieldset")[0]
    radios = fieldset.xpath(".//input[@type='radio'][@name='score']")
    assert text(fieldset.xpath("./legend")[0]) == default_survey_question(locale)
    assert [r.get("value") for r in radios] == [str(s) for s in range(1, scale + 1)]


@pytest.mark.parametrize("locale", LOCALES)
def test_survey_comment_is_labelled_optional_and_keeps_the_earlier_text(
    templates: Templates, locale: str
) -> None:
    context = survey_context(locale, comment="Colis <abîmé>", answered=True)
    doc = page(templates, "survey/form.html", context)
    textarea = doc.xpath("//textarea[@name='comment']")[0]
    label = doc.xpath(f"//label[@for='{textarea.get('id')}']")[0]
    assert ("facultatif" if locale == "fr" else "optional") in text(label)
    assert textarea.text == "Colis <abîmé>"


@pytest.mark.parametrize("locale", LOCALES)
def test_survey_form_says_until_when_an_answer_may_be_changed(
    templates: Templates, locale: str
) -> None:
    until = _day(10, locale)
    context = survey_context(locale, answered=True, change_until=until)
    assert until in text(page(templates, "survey/form.html", context))


@pytest.mark.parametrize("locale", LOCALES)
def test_thanks_page_repeats_the_chosen_answer(templates: Templates, locale: str) -> None:
    context = CONTEXTS["survey/thanks.html"](locale)
    body = text(page(templates, "survey/thanks.html", context))
    assert context["label"] in body
    assert context["change_until"] in body


@pytest.mark.parametrize("locale", LOCALES)
def test_thanks_page_says_when_the_answer_was_changed(templates: Templates, locale: str) -> None:
    context = CONTEXTS["survey/thanks.html"](locale) | {"changed": True}
    body = text(page(templates, "survey/thanks.html", context))
    assert body.count(context["label"]) == 1
    assert ("modifiée" if locale == "fr" else "changed") in body


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("reason", ["expired", "locked"])
def test_closed_page_explains_why(templates: Templates, locale: str, reason: str) -> None:
    context = CONTEXTS["survey/closed.html"](locale) | {"reason": reason}
    body = text(page(templates, "survey/closed.html", context))
    assert PAGE_WORDING[locale][f"closed_{reason}_body"] in body


# --------------------------------------------------------------------------- wording


def test_both_locales_have_the_same_wording_keys() -> None:
    assert set(PAGE_WORDING["fr"]) == set(PAGE_WORDING["en"])


def _fields(sentence: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(sentence) if field}


def test_both_locales_fill_in_the_same_fields() -> None:
    fr, en = PAGE_WORDING["fr"], PAGE_WORDING["en"]
    differ = [key for key in fr if _fields(fr[key]) != _fields(en[key])]
    assert differ == []


def _french_texts() -> list[str]:
    texts = list(PAGE_WORDING["fr"].values())
    texts += [*default_survey_labels(3, "fr"), *default_survey_labels(5, "fr")]
    return [*texts, default_survey_question("fr")]


def test_french_wording_has_a_non_breaking_space_before_high_punctuation() -> None:
    wrong = [s for s in _french_texts() if re.search(r"(?<!\u00a0)[;:!?»]|«(?!\u00a0)", s)]
    assert wrong == []


def test_wording_is_plain_text_not_html() -> None:
    # the templates autoescape it: an entity would show as "&nbsp;" on the page
    assert [s for loc in LOCALES for s in PAGE_WORDING[loc].values() if re.search("[<>&]", s)] == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("scale", [3, 5])
def test_default_labels_have_one_per_point_of_the_scale(locale: str, scale: int) -> None:
    labels = default_survey_labels(scale, locale)
    assert len(labels) == scale
    assert len(set(labels)) == scale


@pytest.mark.parametrize("scale", [0, 2, 4, 10])
def test_default_labels_refuse_another_scale(scale: int) -> None:
    with pytest.raises(ValueError):
        default_survey_labels(scale, "fr")


def test_default_wording_refuses_an_unknown_locale() -> None:
    with pytest.raises(ValueError):
        default_survey_question("de")


def test_default_question_is_the_transactional_one() -> None:
    assert default_survey_question("fr") == "Tout s'est-il bien passé avec votre commande\u00a0?"
    assert default_survey_question("en") == "Did everything go well with your order?"


# --------------------------------------------------------------------------- portal-link email


def email_context(locale: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "locale": locale,
        "shop_name": "Boutique X",
        "portal_url": f"{PUBLIC}/portal/TOKEN",
        "valid_days": 90,
        "first_name": "Marie",
        "website": WEBSITE,
        "seller": SimpleNamespace(legal_name="Boutique X SAS"),
        "brand_color": "#1f3a5f",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_link_email_text_carries_the_link(templates: Templates, locale: str) -> None:
    body = templates.render(f"email/portal_link.{locale}.txt", **email_context(locale))
    assert f"{PUBLIC}/portal/TOKEN" in body.split()
    assert "Marie" in body


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_link_email_html_carries_the_link(templates: Templates, locale: str) -> None:
    html = templates.render(f"email/portal_link.{locale}.html", **email_context(locale))
    doc = lxml.html.document_fromstring(html)
    assert doc.get("lang") == locale
    assert f"{PUBLIC}/portal/TOKEN" in doc.xpath("//a/@href")
    assert "90" in text(doc)


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_link_email_greets_neutrally_without_a_first_name(
    templates: Templates, locale: str
) -> None:
    body = templates.render(
        f"email/portal_link.{locale}.txt", **email_context(locale, first_name="")
    )
    assert body.splitlines()[0] == ("Bonjour," if locale == "fr" else "Hello,")


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_link_subject_is_one_line_naming_the_shop(templates: Templates, locale: str) -> None:
    subject = templates.render(f"email/portal_link.{locale}.subject.txt", **email_context(locale))
    assert len(subject.strip().splitlines()) == 1
    assert "Boutique X" in subject
