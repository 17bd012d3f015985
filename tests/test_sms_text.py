"""The receipt SMS: its wording in both locales, its length, and the shop's own template."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import jinja2
import pytest

from bridge.delivery.channel import Handover
from bridge.delivery.errors import PermanentDeliveryError
from bridge.delivery.sms.length import measure
from bridge.delivery.sms.text import sms_text
from bridge.render.templates import Templates, default_templates_dir
from tests.support.handovers import handover

LINK = "https://shop.example/l/Ab3dE5gH7k"  # the portal's short link: 35 characters
SHOP_20 = "Les Jardins de Marie"  # 20 characters
KINDS = ("invoice", "credit_note")
LOCALES = ("fr", "en")
MARKETING = re.compile(r"promo|offre|soldes|-\s*\d*\s*%|\bcode\b", re.IGNORECASE)


def _doc(**changes: object) -> Handover:
    return handover(**{"shop": "woo", "order_reference": "1042",
                       "customer_email": "marie@example.org",
                       "customer_phone": "06 12 34 56 78", "link": LINK, **changes})  # fmt: skip


def _longest(kind: str, locale: str) -> Handover:
    """The longest a real document gets: a prefixed number, a five-figure amount, a long
    order reference."""
    return _doc(
        kind=kind,
        locale=locale,
        number="FA-MB-2026-00001234",
        amount=Decimal("99999.99"),
        order_reference="#100012345",
    )


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return Templates().env


def _text(env, doc: Handover, *, sender: str = "MaBoutique", segments: int = 1) -> str:
    return sms_text(doc, env, sender_name=sender, max_segments=segments)


def test_the_french_receipt_says_shop_number_amount_order_and_link(env: jinja2.Environment) -> None:
    assert _text(env, _doc()) == (
        "MaBoutique : facture FA-2026-000042 (42,00 €, commande 1042) acquittée. "
        f"Vos documents : {LINK}"
    )


def test_the_english_receipt_says_shop_number_amount_order_and_link(
    env: jinja2.Environment,
) -> None:
    assert _text(env, _doc(locale="en")) == (
        f"MaBoutique: paid invoice FA-2026-000042 (€42.00, order #1042). Your documents: {LINK}"
    )


def test_a_french_credit_note_says_what_was_refunded_on_which_order(
    env: jinja2.Environment,
) -> None:
    text = _text(env, _doc(kind="credit_note", number="AV-2026-000007", amount=Decimal("12.5")))
    assert "avoir AV-2026-000007, 12,50 € remboursés sur la commande 1042." in text


def test_an_english_credit_note_says_what_was_refunded_on_which_order(
    env: jinja2.Environment,
) -> None:
    text = _text(env, _doc(kind="credit_note", locale="en", amount=Decimal("12.5")))
    assert "credit note FA-2026-000042, €12.50 refunded on order #1042." in text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_longest_realistic_text_fits_one_gsm_segment(
    env: jinja2.Environment, kind: str, locale: str
) -> None:
    length = measure(_text(env, _longest(kind, locale), sender=SHOP_20))
    assert (length.encoding, length.segments) == ("GSM-7", 1), length


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_longest_realistic_text_keeps_the_shop_name(
    env: jinja2.Environment, kind: str, locale: str
) -> None:
    assert _text(env, _longest(kind, locale), sender=SHOP_20).startswith(SHOP_20)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_text_without_link_has_no_dangling_label(env: jinja2.Environment, locale: str) -> None:
    text = _text(env, _doc(locale=locale, link=""))
    assert text.endswith(".")
    assert "documents" not in text.lower()


@pytest.mark.parametrize("locale", LOCALES)
def test_a_text_without_order_reference_names_no_order(
    env: jinja2.Environment, locale: str
) -> None:
    text = _text(env, _doc(locale=locale, order_reference=""))
    assert "(42,00 €)" in text or "(€42.00)" in text


def test_whitespace_collapses_to_single_plain_spaces(env: jinja2.Environment) -> None:
    text = _text(env, _doc(amount=Decimal("1234.5")))
    assert "1 234,50 €" in text  # format_money's no-break spaces are plain ones here
    assert re.search(r"\s{2}|[^\S ]", text) is None


def test_a_shop_name_outside_gsm_7_is_dropped_when_it_costs_a_second_segment(
    env: jinja2.Environment,
) -> None:
    # "ê" alone would send the text in UCS-2, 70 units a segment
    text = _text(env, _doc(), sender="La Fenêtre Fleurie")
    assert text.startswith("Facture FA-2026-000042 (42,00 €")
    assert measure(text).segments == 1


def test_a_shop_name_is_kept_when_the_text_fits_with_it(env: jinja2.Environment) -> None:
    assert _text(env, _doc(link="", order_reference=""), sender="La Fenêtre").startswith(
        "La Fenêtre : facture"
    )


def test_a_text_too_long_even_without_shop_name_is_refused_naming_template_and_count(
    env: jinja2.Environment,
) -> None:
    doc = _doc(link="https://shop.example/documents/" + "x" * 150)
    with pytest.raises(PermanentDeliveryError) as caught:
        _text(env, doc)
    message = str(caught.value)
    assert message.startswith("sms/receipt.fr.txt renders 2 segments (GSM-7, ")
    assert "> max_segments 1: shorten the template or raise [[sms]] max_segments" in message


def test_a_text_of_two_segments_goes_when_two_are_allowed(env: jinja2.Environment) -> None:
    doc = _doc(link="https://shop.example/documents/" + "x" * 150)
    assert measure(_text(env, doc, segments=2)).segments == 2


def test_a_shop_override_of_the_template_is_used(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "receipt.fr.txt").write_text(
        "{{ shop_name }} vous remercie. Facture {{ number }} : {{ link }}", encoding="utf-8"
    )
    text = _text(Templates(tmp_path).env, _doc())
    assert text == f"MaBoutique vous remercie. Facture FA-2026-000042 : {LINK}"


def test_an_override_without_the_document_number_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "receipt.fr.txt").write_text("Merci ! {{ link }}", encoding="utf-8")
    with pytest.raises(PermanentDeliveryError, match="must print the document number"):
        _text(Templates(tmp_path).env, _doc())


def test_an_override_with_an_unknown_variable_is_refused_naming_the_template(
    tmp_path: Path,
) -> None:
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "receipt.en.txt").write_text("{{ number }} {{ coupon }}", "utf-8")
    with pytest.raises(PermanentDeliveryError, match=r"^sms/receipt\.en\.txt: template error"):
        _text(Templates(tmp_path).env, _doc(locale="en"))


@pytest.mark.parametrize("locale", LOCALES)
def test_our_templates_contain_no_marketing_words(locale: str) -> None:
    source = (default_templates_dir() / "sms" / f"receipt.{locale}.txt").read_text("utf-8")
    assert MARKETING.findall(source) == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_our_texts_contain_no_marketing_words(
    env: jinja2.Environment, kind: str, locale: str
) -> None:
    assert MARKETING.findall(_text(env, _doc(kind=kind, locale=locale))) == []


def test_the_marketing_pattern_catches_the_words_it_is_meant_to() -> None:
    # the two tests above would pass on an empty pattern
    assert len(MARKETING.findall("Soldes -20% avec le code PROMO, une offre")) == 5
