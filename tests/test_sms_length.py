"""How long a text is as an SMS: GSM-7 septets or UCS-2 units, and the segments billed."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bridge.delivery.sms.length import GSM_BASIC, GSM_EXTENSION, measure

BASIC = sorted(GSM_BASIC)
EXTENSION = sorted(GSM_EXTENSION)
GSM = st.text(alphabet=st.sampled_from(BASIC + EXTENSION), max_size=700)
OUTSIDE = st.characters(
    blacklist_characters="".join(BASIC + EXTENSION), blacklist_categories=("Cs",)
)


def test_the_basic_table_has_its_127_characters_besides_escape() -> None:
    assert len(GSM_BASIC) == 127
    assert "\x1b" not in GSM_BASIC


def test_the_accents_french_uses_most_are_gsm_7() -> None:
    assert measure("éèàùÉ").encoding == "GSM-7"


def test_a_c_cedilla_in_lower_case_forces_ucs_2() -> None:
    assert measure("reçu").encoding == "UCS-2"


def test_a_circumflex_forces_ucs_2() -> None:
    assert measure("fenêtre").encoding == "UCS-2"


def test_a_no_break_space_forces_ucs_2() -> None:
    assert measure("42,00\u00a0€").encoding == "UCS-2"


def test_each_extension_character_counts_two_septets() -> None:
    for ch in "€[]{}~\\|^\f":
        assert measure(ch) == measure("ab"), ch


def test_an_emoji_counts_two_utf_16_units() -> None:
    assert measure("😀").units == 2


def test_an_empty_text_takes_no_segment() -> None:
    assert measure("").segments == 0


def test_160_septets_fit_in_one_segment() -> None:
    assert measure("a" * 160).segments == 1


def test_161_septets_take_two_segments() -> None:
    assert measure("a" * 161).segments == 2


def test_concatenated_gsm_parts_carry_153_septets() -> None:
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3


def test_a_euro_sign_is_not_split_between_two_parts() -> None:
    # 152 + 2 + 152 = 306 septets, but the € cannot straddle parts one and two.
    assert measure("a" * 152 + "€" + "a" * 152).segments == 3


def test_70_ucs_2_units_fit_in_one_segment() -> None:
    assert measure("ç" * 70).segments == 1


def test_71_ucs_2_units_take_two_segments() -> None:
    assert measure("ç" * 71).segments == 2


def test_concatenated_ucs_2_parts_carry_67_units() -> None:
    assert measure("ç" * 134).segments == 2
    assert measure("ç" * 135).segments == 3


@given(GSM)
def test_a_gsm_text_counts_one_septet_per_basic_and_two_per_extension(text: str) -> None:
    length = measure(text)
    assert length.encoding == "GSM-7"
    assert length.units == len(text) + sum(ch in GSM_EXTENSION for ch in text)


@given(GSM, OUTSIDE, GSM)
def test_one_character_outside_gsm_sends_all_in_utf_16_units(a: str, ch: str, b: str) -> None:
    text = a + ch + b
    length = measure(text)
    assert length.encoding == "UCS-2"
    assert length.units == len(text.encode("utf-16-le")) // 2


@given(st.one_of(GSM, st.text(max_size=300)))
def test_segments_hold_the_units_and_waste_at_most_one_unit_each(text: str) -> None:
    length = measure(text)
    single, per_part = (160, 153) if length.encoding == "GSM-7" else (70, 67)
    if length.units <= single:
        assert length.segments == (1 if length.units else 0)
    else:
        # a two-unit character pushed whole to the next part wastes at most one unit a part
        assert math.ceil(length.units / per_part) <= length.segments
        assert length.segments <= math.ceil(length.units / (per_part - 1))
