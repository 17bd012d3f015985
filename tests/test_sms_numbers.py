"""A customer's phone number as the SMS gateway takes it: E.164, and only a mobile."""

from __future__ import annotations

import pytest

from bridge.delivery.sms.numbers import NotAMobile, mobile_e164


def _reason(raw: str, region: str = "FR") -> str:
    with pytest.raises(NotAMobile) as caught:
        mobile_e164(raw, region)
    return caught.value.reason


def test_a_french_mobile_written_nationally_gets_the_country_code() -> None:
    assert mobile_e164("06 12 34 56 78", "FR") == "+33612345678"


def test_a_mobile_written_with_dots_is_read_as_well() -> None:
    assert mobile_e164("06.12.34.56.78", "FR") == "+33612345678"


def test_a_number_with_its_plus_code_keeps_its_own_country() -> None:
    assert mobile_e164("+44 7911 123456", "FR") == "+447911123456"


def test_a_number_with_the_international_00_prefix_keeps_its_own_country() -> None:
    assert mobile_e164("0044 7911 123456", "FR") == "+447911123456"


def test_the_region_decides_the_country_of_a_national_number() -> None:
    assert mobile_e164("0470 12 34 56", "BE") == "+32470123456"


def test_a_country_that_cannot_tell_mobiles_from_landlines_is_let_through() -> None:
    # North American numbers are FIXED_LINE_OR_MOBILE: the gateway has the last word.
    assert mobile_e164("+1 415 555 2671", "FR") == "+14155552671"


def test_an_empty_phone_field_says_there_is_no_number() -> None:
    assert _reason("  ") == "no phone number on the order"


def test_a_french_landline_is_named_a_landline() -> None:
    assert _reason("01 23 45 67 89") == "'01 23 45 67 89' is a landline, not a mobile"


def test_a_toll_free_number_is_named_toll_free() -> None:
    assert _reason("0800 123 456") == "'0800 123 456' is a toll-free number, not a mobile"


def test_too_few_digits_is_not_a_phone_number() -> None:
    assert _reason("12") == "'12' is not a phone number"


def test_letters_are_not_a_phone_number() -> None:
    assert _reason("call me") == "'call me' is not a phone number"


def test_a_plausible_national_number_that_fails_says_which_country_it_was_read_in() -> None:
    reason = _reason("07 00 00 00 00")
    assert reason.startswith("'07 00 00 00 00' is not a phone number in FR")
    assert "+code" in reason


def test_a_long_paste_in_the_phone_field_is_shortened_in_the_reason() -> None:
    reason = _reason("see the delivery notes, ring twice at the gate and wait " * 3)
    assert len(reason) < 80


def test_not_a_mobile_is_a_value_error_carrying_its_reason() -> None:
    with pytest.raises(ValueError, match="landline"):
        mobile_e164("01 23 45 67 89", "FR")
