"""Attach-back on a Shopify order: metafields (and optionally a line of the order note) naming
the invoice and its credit notes. Nothing here moves money: the only mutations are
`metafieldsSet` and `orderUpdate` (note).

* `quittance.invoice_number` / `quittance.invoice_url`: written once, never overwritten — except
  by the invoice issued again after its predecessor was fully credited (`replaces`), and only
  while the order still shows exactly that predecessor.
* `quittance.credit_notes` (type json): the list of `{"number", "url"}` of the order's credit
  notes, appended to. A read-modify-write, so it is guarded by `compareDigest`: a writer that
  lost the race reads again and retries; a retry that finds its number adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import AttachResult, PermanentConnectorError, TransientConnectorError
from connectors.shopify.client import ShopifyGraphQL
from connectors.shopify.queries import INVOICE_METAFIELDS_QUERY, METAFIELDS_SET, ORDER_NOTE_UPDATE

NAMESPACE = "quittance"
INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
CREDIT_NOTE_ATTEMPTS = 4  # concurrent writers of one order's list: each try re-reads it


def _value(fields: Mapping[str, Any], alias: str) -> str | None:
    return (fields.get(alias) or {}).get("value")


def _digest(fields: Mapping[str, Any], alias: str) -> str | None:
    """The field's compareDigest; None = "must not exist yet" when it does not."""
    return (fields.get(alias) or {}).get("compareDigest")


def _errors_text(errors: list[Mapping[str, Any]]) -> str:
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)


@dataclass
class Attacher:
    """The attach-back of one shop, through its GraphQL client."""

    client: ShopifyGraphQL
    shop: str
    order_note: bool = False

    def attach(self, gid: str, number: str, url: str, *, kind: str, replaces: str) -> AttachResult:
        if kind == CREDIT_NOTE:
            attached, detail = self._credit_note(gid, number, url)
            marker = f"Avoir {number}"
        elif kind == INVOICE:
            attached, detail = self._invoice(gid, number, url, replaces)
            marker = f"Facture {number}"
        else:
            raise PermanentConnectorError(f"shop {self.shop}: unknown document kind {kind!r}")
        if self.order_note and self._append_note(gid, marker, url):
            attached = True
            detail += ", note appended"
        return AttachResult(attached=attached, detail=detail)

    # -- reading and writing ----------------------------------------------------------------

    def fields(self, gid: str) -> dict[str, Any]:
        order = self.client.execute(INVOICE_METAFIELDS_QUERY, {"id": gid}).get("order")
        if not order:
            raise PermanentConnectorError(f"shop {self.shop}: order {gid} not found")
        return order

    def _set(self, inputs: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        result = self.client.execute(METAFIELDS_SET, {"metafields": inputs})
        return (result.get("metafieldsSet") or {}).get("userErrors") or []

    def _input(self, gid: str, key: str, kind: str, value: str, digest: str | None) -> dict:
        return {"ownerId": gid, "namespace": NAMESPACE, "key": key, "type": kind,
                "value": value, "compareDigest": digest}  # fmt: skip

    # -- the invoice ------------------------------------------------------------------------

    def _invoice(self, gid: str, number: str, url: str, replaces: str) -> tuple[bool, str]:
        """Written with compareDigest null (must not exist) after an existence check, or with
        the predecessor's digest when replacing it: a concurrent writer makes it fail, and a
        retry finds its own number and stops. Any other number there is refused loudly."""
        current = self.fields(gid)
        existing = _value(current, "number")
        if existing == number:
            return False, "metafields already set"
        if existing and (not replaces or existing != replaces):
            because = f" (it replaces {replaces}, not {existing})" if replaces else ""
            raise PermanentConnectorError(
                f"shop {self.shop}: order {gid} already carries invoice {existing}; "
                f"refusing to overwrite it with {number}{because}"
            )
        inputs = [
            self._input(
                gid, "invoice_number", "single_line_text_field", number, _digest(current, "number")
            )
        ]
        if url:
            inputs.append(self._input(gid, "invoice_url", "url", url, _digest(current, "url")))
        errors = self._set(inputs)
        if errors:
            again = _value(self.fields(gid), "number")
            if again != number:  # not our own concurrent retry: a person must look
                raise PermanentConnectorError(
                    f"shop {self.shop}: metafieldsSet on {gid} failed: {_errors_text(errors)}"
                )
            return False, "metafields already set"
        return True, f"metafields set, replacing {existing}" if existing else "metafields set"

    # -- credit notes -----------------------------------------------------------------------

    def _credit_notes(self, gid: str, raw: str | None) -> list[dict[str, str]]:
        if not raw:
            return []
        try:
            notes = json.loads(raw)
        except ValueError:
            notes = None
        if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
            raise PermanentConnectorError(
                f"shop {self.shop}: order {gid} metafield {NAMESPACE}.credit_notes is not a "
                'list of {"number", "url"}: fix or delete it in the Shopify admin'
            )
        return notes

    def _credit_note(self, gid: str, number: str, url: str) -> tuple[bool, str]:
        for _ in range(CREDIT_NOTE_ATTEMPTS):
            current = self.fields(gid)
            notes = self._credit_notes(gid, _value(current, "creditNotes"))
            if any(str(n.get("number")) == number for n in notes):
                return False, "credit note already listed"
            notes.append({"number": number, "url": url})
            value = json.dumps(notes, ensure_ascii=False, separators=(",", ":"))
            digest = _digest(current, "creditNotes")
            errors = self._set([self._input(gid, "credit_notes", "json", value, digest)])
            if not errors:
                return True, "credit note listed"
            if _digest(self.fields(gid), "creditNotes") == digest:  # not a race: refused
                raise PermanentConnectorError(
                    f"shop {self.shop}: metafieldsSet credit_notes on {gid} failed: "
                    f"{_errors_text(errors)}"
                )
        raise TransientConnectorError(
            f"shop {self.shop}: order {gid} credit_notes kept changing while {number} was "
            f"added ({CREDIT_NOTE_ATTEMPTS} tries): will retry"
        )

    # -- the order note ---------------------------------------------------------------------

    def _append_note(self, gid: str, marker: str, url: str) -> bool:
        """`orderUpdate` replaces the whole note: re-read just before writing, and add the
        line only once (the marker names the document)."""
        note = self.fields(gid).get("note") or ""
        lines = [ln.strip() for ln in note.splitlines()]
        if any(ln == marker or ln.startswith(f"{marker} :") for ln in lines):
            return False  # "Facture FA-1" is not "Facture FA-10"
        line = f"{marker} : {url}" if url else marker
        new_note = f"{note.rstrip()}\n{line}" if note.strip() else line
        result = self.client.execute(ORDER_NOTE_UPDATE, {"input": {"id": gid, "note": new_note}})
        errors = (result.get("orderUpdate") or {}).get("userErrors") or []
        if errors:
            raise PermanentConnectorError(
                f"shop {self.shop}: orderUpdate (note) on {gid} failed: "
                + "; ".join(str(e.get("message")) for e in errors)
            )
        return True
