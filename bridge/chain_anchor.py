"""The chain head, anchored outside the database.

Keyed links stop a rewrite, not a deletion: whoever can write the database can delete the
newest documents and rewind their counter, and the chain that is left still verifies. So
after each document the head of its series (id, number, hash) is written beside the
archive, in `chain-heads/<series>.json`, signed with the chain key, and the daily digest
mails the heads to the owner. `verify` then requires every anchored document to be in the
database exactly as anchored: a deleted tail, a rewound counter or a rewritten head shows.

An anchor only moves forward (a writer that lost a race never puts an older head back) and
a file that does not verify is never overwritten: it is evidence, `verify` reports it.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

import structlog

from bridge.archive import write_atomically
from bridge.chain_key import ChainKeys, sign
from bridge.store.invoices import chain_hash
from bridge.store.records import InvoiceRecord

log = structlog.get_logger()

ANCHOR_DIR = "chain-heads"


@dataclass(frozen=True)
class Anchor:
    series: str
    invoice_id: int
    period: str
    sequence: int
    number: str
    hash: str
    key_id: str  # the chain key that signed this file
    written_at: str

    def message(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def of(cls, record: InvoiceRecord, key_id: str, now: datetime) -> Anchor:
        return cls(
            series=record.series, invoice_id=record.id, period=record.period,
            sequence=record.sequence, number=record.number, hash=record.hash,
            key_id=key_id, written_at=now.isoformat(timespec="seconds"),
        )  # fmt: skip


def anchor_dir(archive_root: Path) -> Path:
    return archive_root / ANCHOR_DIR


def anchor_path(archive_root: Path, series: str) -> Path:
    # Series names may hold "/" (BR-FR-01): quoted, one flat file per series.
    return anchor_dir(archive_root) / f"{quote(series, safe='')}.json"


def write_anchor(
    archive_root: Path,
    keys: ChainKeys,
    record: InvoiceRecord,
    now: datetime,
    invoice_by_id: Callable[[int], InvoiceRecord | None],
) -> bool:
    """Anchor `record` as its series' head; True if written. Never over an anchor that does
    not verify, nor past a head no longer in the database as anchored (a deleted tail, a
    rewritten chain: the anchor stays the evidence), nor to a keyed link that does not verify
    (a made-up document)."""
    path = anchor_path(archive_root, record.series)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):  # one writer at a time: an older head never wins a race
        current = read_anchor(path, keys)
        refusal = _refusal(current, record, keys, invoice_by_id)
        if refusal is not None:
            if refusal:
                log.error("chain anchor kept", series=record.series, reason=refusal)
            return False
        anchor = Anchor.of(record, keys.active_id, now)
        body = {**asdict(anchor), "mac": sign(keys.active, anchor.message())}
        write_atomically(path, (json.dumps(body, indent=2) + "\n").encode(), read_only=False)
    return True


def _refusal(
    current: Anchor | str | None,
    record: InvoiceRecord,
    keys: ChainKeys,
    invoice_by_id: Callable[[int], InvoiceRecord | None],
) -> str | None:
    """None: write; "": nothing to do (already as new); else why the anchor is kept."""
    if isinstance(current, str):
        return current
    if current is not None:
        if current.invoice_id >= record.id:
            return ""
        problem = _anchored_head_problem(current, invoice_by_id(current.invoice_id))
        if problem:
            return f"{current.number}: {problem}"
    secret = keys.keys.get(record.link_key)
    if record.link_key and (
        secret is None or chain_hash(record.prev_hash, record.snapshot_json, secret) != record.hash
    ):
        return f"{record.number}: its link does not verify under the chain key"
    return None


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Read-only is enough for flock: a lock file another user made does not stop us.
    fd = os.open(folder / ".lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def anchor_heads(
    archive_root: Path,
    keys: ChainKeys,
    heads: Iterable[InvoiceRecord],
    now: datetime,
    invoice_by_id: Callable[[int], InvoiceRecord | None],
) -> int:
    """Anchor each series' head (at start and daily: heals an anchor a full disk missed);
    returns how many files moved."""
    return sum(write_anchor(archive_root, keys, head, now, invoice_by_id) for head in heads)


def read_anchor(path: Path, keys: ChainKeys | None) -> Anchor | str | None:
    """The anchor in `path`; None when there is none; a sentence when it does not verify."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        mac = body.pop("mac")
        anchor = Anchor(**body)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"chain anchor {path} is unreadable ({type(exc).__name__})"
    secret = keys.keys.get(anchor.key_id) if keys is not None else None
    if secret is None:
        return f"chain anchor {path} is signed with chain key {anchor.key_id}, which is missing"
    if not hmac.compare_digest(sign(secret, anchor.message()), str(mac)):
        return f"chain anchor {path} was altered (its signature does not match)"
    return anchor


def read_anchors(archive_root: Path, keys: ChainKeys | None) -> dict[str, Anchor | str]:
    """series → its anchor, or the sentence saying why the file does not verify."""
    folder = anchor_dir(archive_root)
    if not folder.is_dir():
        return {}
    return {
        unquote(path.stem): read_anchor(path, keys)  # type: ignore[misc]
        for path in sorted(folder.glob("*.json"))
        if not path.name.startswith(".")  # a write in progress (write_atomically's temp)
    }


def anchor_problems(
    anchors: Mapping[str, Anchor | str],
    invoice_by_id: Callable[[int], InvoiceRecord | None],
    series_in_use: Iterable[str],
) -> list[tuple[str, str]]:
    """(what, problem) pairs: each anchored head must be in the database as anchored, and
    each series with documents must have an anchor."""
    problems: list[tuple[str, str]] = []
    for series, anchor in anchors.items():
        if isinstance(anchor, str):
            problems.append((f"series {series}", anchor))
            continue
        problem = _anchored_head_problem(anchor, invoice_by_id(anchor.invoice_id))
        if problem:
            problems.append((anchor.number, problem))
    for series in series_in_use:
        if series not in anchors:
            problems.append((
                f"series {series}",
                "no chain anchor beside the archive (written after each document): it was "
                "deleted, or the service has not run since the upgrade",
            ))  # fmt: skip
    return problems


def _anchored_head_problem(anchor: Anchor, record: InvoiceRecord | None) -> str | None:
    if record is None:
        return (
            f"anchored on {anchor.written_at} as its series' head, it is missing from the "
            "database (deleted, the counter rewound?)"
        )
    same = (record.series, record.period, record.sequence, record.number, record.hash) == (
        anchor.series, anchor.period, anchor.sequence, anchor.number, anchor.hash,
    )  # fmt: skip
    if not same:
        return f"differs from the head anchored on {anchor.written_at} (the chain was rewritten)"
    return None
