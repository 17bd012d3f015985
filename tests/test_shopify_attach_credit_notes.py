"""Attach-back of credit notes (quittance.credit_notes, a json list appended under
compareDigest) and of an invoice issued again after its predecessor was fully credited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.base import PermanentConnectorError
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.sandbox import DOMAIN, SECRET, TOKEN, ShopifySandbox
from connectors.shopify.settings import ShopifyShop

URL = "https://q.example/{}.pdf?t=x"


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as sb:
        yield sb


def make(sb: ShopifySandbox, **extra: object) -> ShopifyConnector:
    data = {
        "name": "theiere",
        "platform": "shopify",
        "domain": DOMAIN,
        "access_token": TOKEN,
        "client_secret": SECRET,
        "api_base_url": sb.base_url,
        **extra,
    }
    return ShopifyConnector(ShopifyShop.model_validate(data), sleep=lambda _: None)


def credit(conn: ShopifyConnector, order: str, number: str) -> bool:
    return conn.attach_invoice(order, number, URL.format(number), kind="credit_note").attached


def listed(sb: ShopifySandbox, order: str) -> list[dict[str, str]]:
    return json.loads(sb.metafield(order, "credit_notes") or "[]")


# -- credit notes -----------------------------------------------------------------------------


def test_credit_notes_are_appended_to_one_json_list(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    assert credit(conn, "5007", "AV-2026-000001") and credit(conn, "5007", "AV-2026-000002")
    assert listed(sandbox, "5007") == [
        {"number": "AV-2026-000001", "url": URL.format("AV-2026-000001")},
        {"number": "AV-2026-000002", "url": URL.format("AV-2026-000002")},
    ]


def test_a_credit_note_sits_beside_the_invoice(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    conn.attach_invoice("5006", "FA-2026-000006", URL.format("FA-2026-000006"))
    credit(conn, "5006", "AV-2026-000001")
    assert sandbox.metafield("5006", "invoice_number") == "FA-2026-000006"
    assert [n["number"] for n in listed(sandbox, "5006")] == ["AV-2026-000001"]


def test_a_credit_note_retry_adds_nothing(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    assert credit(conn, "5006", "AV-2026-000001")
    writes = sandbox.metafield_writes
    assert not credit(conn, "5006", "AV-2026-000001")
    assert sandbox.metafield_writes == writes and len(listed(sandbox, "5006")) == 1


def test_a_credit_note_written_concurrently_is_kept(sandbox: ShopifySandbox) -> None:
    """Another worker appends between our read and our write: compareDigest refuses ours,
    we read again and append to the list as it now is."""
    conn = make(sandbox)
    original = sandbox._op_QuittanceInvoiceMetafields
    reads = {"n": 0}

    def another_worker_first(variables: dict, query: str) -> dict:
        reads["n"] += 1
        data = original(variables, query)
        if reads["n"] == 1:  # our first read sees the list before the other writer's append
            sandbox.metafields.setdefault("5006", {})[("quittance", "credit_notes")] = (
                '[{"number":"AV-2026-000009","url":""}]'
            )
        return data

    sandbox._op_QuittanceInvoiceMetafields = another_worker_first  # type: ignore[method-assign]
    assert credit(conn, "5006", "AV-2026-000010")
    assert [n["number"] for n in listed(sandbox, "5006")] == ["AV-2026-000009", "AV-2026-000010"]


def test_a_credit_notes_metafield_that_is_not_a_list_is_refused_loudly(
    sandbox: ShopifySandbox,
) -> None:
    sandbox.metafields["5006"] = {("quittance", "credit_notes"): '{"oops": 1}'}
    with pytest.raises(PermanentConnectorError, match=r"credit_notes is not a list"):
        credit(make(sandbox), "5006", "AV-2026-000001")


def test_a_credit_note_line_is_added_to_the_order_note_once(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox, order_note=True)
    credit(conn, "5008", "AV-2026-000001")
    credit(conn, "5008", "AV-2026-000001")
    assert sandbox.note("5008") == f"Avoir AV-2026-000001 : {URL.format('AV-2026-000001')}"


def test_an_unknown_document_kind_is_refused(sandbox: ShopifySandbox) -> None:
    with pytest.raises(PermanentConnectorError, match="unknown document kind 'receipt'"):
        make(sandbox).attach_invoice("5006", "X-1", "", kind="receipt")


# -- an invoice issued again ------------------------------------------------------------------


def test_a_reissued_invoice_replaces_its_predecessor(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    conn.attach_invoice("5001", "FA-2026-000001", URL.format("FA-2026-000001"))
    result = conn.attach_invoice(
        "5001", "FA-2026-000010", URL.format("FA-2026-000010"), replaces="FA-2026-000001"
    )
    assert result.attached and "replacing FA-2026-000001" in result.detail
    assert sandbox.metafield("5001", "invoice_number") == "FA-2026-000010"
    assert sandbox.metafield("5001", "invoice_url") == URL.format("FA-2026-000010")


def test_a_reissued_invoice_retry_writes_nothing(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    conn.attach_invoice("5001", "FA-2026-000001", "")
    conn.attach_invoice("5001", "FA-2026-000010", "", replaces="FA-2026-000001")
    writes = sandbox.metafield_writes
    again = conn.attach_invoice("5001", "FA-2026-000010", "", replaces="FA-2026-000001")
    assert not again.attached and sandbox.metafield_writes == writes


def test_replacing_another_number_than_the_one_shown_is_refused(sandbox: ShopifySandbox) -> None:
    conn = make(sandbox)
    conn.attach_invoice("5001", "FA-2026-000001", "")
    refused = "replaces FA-2026-000005, not FA-2026-000001"
    with pytest.raises(PermanentConnectorError, match=refused):
        conn.attach_invoice("5001", "FA-2026-000010", "", replaces="FA-2026-000005")
    assert sandbox.metafield("5001", "invoice_number") == "FA-2026-000001"


def test_a_reissued_invoice_on_an_order_without_invoice_is_simply_set(
    sandbox: ShopifySandbox,
) -> None:
    result = make(sandbox).attach_invoice("5002", "FA-2026-000010", "", replaces="FA-2026-000002")
    assert result.attached and sandbox.metafield("5002", "invoice_number") == "FA-2026-000010"


def test_a_replacement_racing_another_writer_is_refused(sandbox: ShopifySandbox) -> None:
    """The predecessor's digest guards the overwrite: if the number changed after our read,
    metafieldsSet refuses and we say so."""
    conn = make(sandbox)
    conn.attach_invoice("5001", "FA-2026-000001", "")
    original = sandbox._op_QuittanceInvoiceMetafields
    reads = {"n": 0}

    def changed_after_read(variables: dict, query: str) -> dict:
        reads["n"] += 1
        data = original(variables, query)
        if reads["n"] == 1:
            sandbox.metafields["5001"][("quittance", "invoice_number")] = "FA-2026-000011"
        return data

    sandbox._op_QuittanceInvoiceMetafields = changed_after_read  # type: ignore[method-assign]
    with pytest.raises(PermanentConnectorError, match=r"metafieldsSet on .* failed: STALE"):
        conn.attach_invoice("5001", "FA-2026-000010", "", replaces="FA-2026-000001")
    assert sandbox.metafield("5001", "invoice_number") == "FA-2026-000011"
