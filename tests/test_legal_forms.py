"""One answer to "is this a sole trader?", shared by the configuration, the legal rules and the
printed invoice (they used to disagree on "EI (entrepreneur individuel)")."""

from __future__ import annotations

import pytest

from bridge.invoicing.legal_forms import is_sole_trader_form, printed_legal_form


@pytest.mark.parametrize(
    "form",
    [
        "EI",
        "eirl",
        "E.I.",
        "micro-entreprise",
        "Auto entrepreneur",
        "EI (entrepreneur individuel)",
        "micro-entreprise (EI)",
        "auto-entrepreneur (E.I.)",
    ],
)
def test_every_way_of_writing_a_sole_trader_is_recognised(form: str) -> None:
    assert is_sole_trader_form(form)


@pytest.mark.parametrize("form", ["SAS", "SARL", "EURL", "SASU", "", "EIRLX"])
def test_companies_and_blanks_are_not_sole_traders(form: str) -> None:
    assert not is_sole_trader_form(form)


@pytest.mark.parametrize(
    ("written", "printed"),
    [
        ("micro-entreprise", "EI"),
        ("auto-entrepreneur", "EI"),
        ("micro-entreprise (EI)", "EI"),
        ("EIRL", "EIRL"),
        ("EIRL.", "EIRL."),
        ("E.I.", "E.I."),
        ("SAS", "SAS"),
    ],
)
def test_a_tax_regime_name_is_printed_as_ei(written: str, printed: str) -> None:
    assert printed_legal_form(written) == printed
