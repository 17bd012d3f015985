"""Which legal forms are a sole trader's: the one answer configuration, legal rules and the
printed invoice share.

A sole trader has no share capital and needs no RCS city (artisans are in the RM, liberal
professions in neither). Since the law of 14 February 2022 the form printed is "EI" (EIRL is
the legacy form, still accepted); micro-entreprise and auto-entrepreneur are tax regimes of
an EI, so an owner may write them, and "EI" is what the invoice says.
"""

from __future__ import annotations

import re

PRINTED_SOLE_TRADER_FORMS = ("EI", "EIRL")
# Normalised: upper case, dots dropped, words joined by "-".
SOLE_TRADER_FORMS = frozenset(
    {
        *PRINTED_SOLE_TRADER_FORMS,
        "MICRO-ENTREPRISE",
        "MICRO-ENTREPRENEUR",
        "AUTO-ENTREPRENEUR",
        "AUTO-ENTREPRISE",
        "ENTREPRISE-INDIVIDUELLE",
        "ENTREPRENEUR-INDIVIDUEL",
    }
)


def _words(legal_form: str) -> list[str]:
    """Upper case, dots dropped, a parenthesised gloss dropped: "micro-entreprise (EI)" and
    "EI (entrepreneur individuel)" are read by their first words."""
    text = re.sub(r"\([^)]*\)", " ", legal_form.upper().replace(".", ""))
    return text.split()


def is_sole_trader_form(legal_form: str) -> bool:
    """EI, EIRL, micro-entreprise, auto-entrepreneur… in any case, with spaces, dashes or dots,
    whatever gloss follows in parentheses."""
    words = _words(legal_form)
    if not words:
        return "(EI)" in legal_form.upper().replace(".", "")
    joined = re.sub(r"[\s_]+", "-", " ".join(words))
    return joined in SOLE_TRADER_FORMS or words[0] in PRINTED_SOLE_TRADER_FORMS


def printed_legal_form(legal_form: str) -> str:
    """The form the invoice prints: a sole trader's tax-regime name becomes "EI"."""
    words = _words(legal_form)
    if is_sole_trader_form(legal_form) and (not words or words[0] not in PRINTED_SOLE_TRADER_FORMS):
        return "EI"
    return legal_form
