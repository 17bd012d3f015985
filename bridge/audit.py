"""`verify`: everything that proves the documents are the ones issued, and nothing is gone.

Each check catches what the others cannot:
- the chain (keyed links, numbers in sequence, counters): a document altered, removed or
  made up, unless the chain was rebuilt with the key;
- the chain anchors beside the archive: a deleted tail with its counter rewound;
- the append-only event log: each document has its `invoice.issued` record with the same
  hash, and each record its document;
- the database's guard triggers: missing or disabled ones (the break-in itself);
- the archived files and their render profiles; and every PDF restored since it was
  archived (a restore heals the file, never the evidence that it went missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from bridge.archive import Archive, FileState
from bridge.chain_anchor import anchor_problems, read_anchors
from bridge.chain_key import ChainKeyError, ChainKeys
from bridge.render.archived import ProfileCheck
from bridge.store import InvoiceRecord, Store
from bridge.store.records import EventRecord

RESTORED_EVENT = "invoice.restored"
ISSUED_EVENT = "invoice.issued"


@dataclass
class VerifyProblem:
    number: str
    what: str


class Seen(NamedTuple):
    """What verify keeps of each document it went through."""

    number: str
    hash: str
    series: str


def verify_archive(store: Store, archive: Archive) -> tuple[int, list[VerifyProblem]]:
    """Re-check every chain link, number, record and archived file, and that each archived
    PDF can still be rendered again. Returns (checked, problems)."""
    keys, problems = _chain_keys(store)
    # Read before the documents: a record whose document is not there was deleted (nothing
    # deletes one). And after: a document issued meanwhile has its record by then.
    issued_before = store.events_of_kind(ISSUED_EVENT)
    problems += [_parsed(text) for text in store.chain_problems(keys)]
    problems += [VerifyProblem("database", text) for text in store.guard_problems()]
    profiles = ProfileCheck(archive, store.archived_template_sets())
    seen: dict[int, Seen] = {}  # not the records: their snapshots would all stay in memory
    for invoice in store.iter_invoices():
        seen[invoice.id] = Seen(invoice.number, invoice.hash, invoice.series)
        problems += _file_problems(invoice, archive, profiles)
    problems += event_problems(seen, issued_before, store.events_of_kind(ISSUED_EVENT))
    problems += restored_problems(store.events_of_kind(RESTORED_EVENT))
    if keys is not None:  # without a key nothing was ever anchored here
        # (The first document of a new series committing right now may lack its anchor for
        # the moment it takes to write it: run verify again before worrying.)
        anchors = read_anchors(archive.root, keys)
        in_use = {document.series for document in seen.values()}
        problems += [
            VerifyProblem(what, text)
            for what, text in anchor_problems(anchors, store.get_invoice_by_id, in_use)
        ]
    return len(seen), problems


def _chain_keys(store: Store) -> tuple[ChainKeys | None, list[VerifyProblem]]:
    if store.chain_keys is None:
        return None, []
    try:
        return store.chain_keys.known(), []
    except ChainKeyError as exc:
        return None, [VerifyProblem("chain key", str(exc))]


def _parsed(text: str) -> VerifyProblem:
    return VerifyProblem(*text.split(": ", 1)) if ": " in text else VerifyProblem("?", text)


def _file_problems(
    invoice: InvoiceRecord, archive: Archive, profiles: ProfileCheck
) -> list[VerifyProblem]:
    if not invoice.pdf_sha256:
        return []
    problems = []
    state = archive.state(invoice.pdf_sha256)
    if state is not FileState.ok:
        path = archive.path_for(invoice.pdf_sha256)
        problems.append(VerifyProblem(invoice.number, f"PDF {state.value}: {path}"))
    problems += [
        VerifyProblem(invoice.number, what) for what in profiles.problems(invoice.pdf_sha256)
    ]
    return problems


def event_problems(
    documents: Mapping[int, Seen],
    issued_before: Iterable[EventRecord],
    issued_after: Iterable[EventRecord],
) -> list[VerifyProblem]:
    """Each document against its `invoice.issued` record (read after the documents), and
    each record (read before them) against its document: a document made up behind our back
    has no record, a deleted one leaves its record behind, a rewritten one no longer has the
    recorded hash."""
    problems = _reused_ids(issued_before)
    recorded = _by_invoice_id(issued_after)
    for invoice_id, invoice in documents.items():
        event = recorded.get(invoice_id)
        if event is None or event.invoice_number != invoice.number:
            problems.append(VerifyProblem(
                invoice.number, "no invoice.issued record in the event log (made up?)"
            ))  # fmt: skip
        elif event.detail.get("hash", invoice.hash) != invoice.hash:
            problems.append(VerifyProblem(
                invoice.number, "its hash differs from the one its invoice.issued record "
                "kept (the chain was rewritten)",
            ))  # fmt: skip
    for invoice_id, event in _by_invoice_id(issued_before).items():
        if invoice_id not in documents:
            problems.append(VerifyProblem(
                event.invoice_number or f"id {invoice_id}",
                f"issued on {event.at:%Y-%m-%d %H:%M} UTC per the event log, missing from "
                "the invoices table (deleted)",
            ))  # fmt: skip
    return problems


def _reused_ids(issued: Iterable[EventRecord]) -> list[VerifyProblem]:
    """Two documents recorded under one id: the first was deleted and its id given again
    (SQLite hands out a deleted newest row's id once more)."""
    first: dict[int, EventRecord] = {}
    problems = []
    for event in issued:
        invoice_id = event.detail.get("invoice_id")
        if not isinstance(invoice_id, int):
            continue
        earlier = first.setdefault(invoice_id, event)
        if earlier is not event and _recorded(earlier) != _recorded(event):
            problems.append(VerifyProblem(
                earlier.invoice_number or f"id {invoice_id}",
                f"issued on {earlier.at:%Y-%m-%d %H:%M} UTC per the event log, deleted since: "
                f"its id now holds another document, numbered {event.invoice_number}",
            ))  # fmt: skip
    return problems


def _recorded(event: EventRecord) -> tuple[str | None, object]:
    return event.invoice_number, event.detail.get("hash")


def _by_invoice_id(issued: Iterable[EventRecord]) -> dict[int, EventRecord]:
    recorded: dict[int, EventRecord] = {}
    for event in issued:
        invoice_id = event.detail.get("invoice_id")
        if isinstance(invoice_id, int):
            recorded[invoice_id] = event
    return recorded


def restored_problems(restored: Iterable[EventRecord]) -> list[VerifyProblem]:
    """Every restore stays reported: the file is whole again, the incident still happened."""
    return [
        VerifyProblem(
            event.invoice_number or "?",
            f"its PDF was found {event.detail.get('was', 'missing')} on "
            f"{event.at:%Y-%m-%d %H:%M} UTC and restored from its snapshot (to the same bytes, "
            f"or not at all): find out how it went {event.detail.get('was', 'missing')}",
        )
        for event in restored
    ]
