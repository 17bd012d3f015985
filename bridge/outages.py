"""Early, honest alerts: one per cause, with the documents it holds up, once when it opens and
once when it clears; and a daily digest of what is pending.

    jobs ─► cause_of ─► group_causes ─► plan ─► outages table (shared) ─► alert_owner
             (pure)       (pure)        (pure)    guarded open/alert/clear

A cause opens when one of its jobs failed for good (`dead`: at once) or has been retrying for
longer than `[alerts] after_minutes` (a transient failure lasting too long: SMTP down, disk
full). It stays open while any of its jobs still fails, whatever its age, so an outage does
not flap closed between two retries; it clears when none is left (they went through, or were
replayed and went through). Growth does not alert again: the digest tells it.

`check_outages` runs every minute and `daily_digest` once a day (the scheduler's); the probes
that find an outage before a job does are in `bridge.probes` and share the table.
"""

from __future__ import annotations

import errno
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from bridge.logs import error_line
from bridge.services import Services, alert_owner
from bridge.store.jobs import WAITING_FOR_INVOICE
from bridge.store.outages import FailingJob, OutageRecord
from bridge.store.records import InvoiceRecord, OrderRecord

log = structlog.get_logger()

PROBE_PREFIX = "probe:"  # causes `bridge.probes` owns: `check_outages` never clears them
SAMPLE_SIZE = 10
DO_WHAT = (
    "`quittance failures` lists what failed for good; once the cause is fixed, "
    "`quittance retry --all` replays it."
)

# -- the cause of a failure ---------------------------------------------------------------

# How the worker and the steps wrap a message: "gave up after <timedelta>: ", the SMTP
# "host:port: " context, a connector's "shop <name>: ".
_GAVE_UP = re.compile(r"^gave up after (?:\d+ days?, )?\d+:\d\d:\d\d(?:\.\d+)?: ")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+):\d+: ")
_SHOP = re.compile(r"^shop (\S+): ")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_ERRNO = re.compile(r"^\[Errno (-?\d+)\]")
_HTTP = re.compile(r"\bHTTP (\d{3})\b")
_SMTP_CODE = re.compile(r"\b([45]\d\d)\b")
# Errors a step raises knowing a later attempt succeeds (bridge/failures.py: "retry, no
# alarm"), and whose own patience ends in a quarantine: only alerted once dead.
_EXPECTED_WAITS = frozenset({"TransientStepError", "OutsideFactUnavailable"})
# Base classes raised as such for many unrelated reasons.
_GENERIC = frozenset({"StepError", "PermanentStepError"})
# The cause column holds 300 characters and the alert key adds its timestamps.
MAX_CAUSE = 200


@dataclass(frozen=True)
class Failure:
    """A recorded error message taken apart: what it says, stripped of what varies."""

    text: str  # the message without the wrappers
    shop: str | None  # the shop a connector error names
    signature: str  # e.g. "OSError[ENOSPC]", "message refused 550", "HTTP 401"


def read_failure(message: str) -> Failure:
    text = _GAVE_UP.sub("", message.strip(), count=1)
    text = _HOST_PORT.sub("", text, count=1)
    shop = _SHOP.match(text)
    if shop:
        text = text[shop.end() :]
    return Failure(text, shop.group(1) if shop else None, _signature(text))


def _signature(text: str) -> str:
    """The exception's name (with its errno) when the message carries one; else the HTTP
    status; else its leading words (numbers blanked, ids vary per job) and SMTP reply code."""
    named = _exception_name(text)
    if named:
        return named
    http = _HTTP.search(text)
    if http:
        return f"HTTP {http.group(1)}"
    head = _head(text)
    code = _SMTP_CODE.search(text[len(head) :])
    return f"{_blank(head)} {code.group(1)}" if code else _blank(head)


def _head(text: str) -> str:
    return re.split(r": | \(", text, maxsplit=1)[0]


def _blank(words: str) -> str:
    return " ".join(re.sub(r"\d+", "#", words).split())[:60]


def _exception_name(text: str) -> str | None:
    parts = text.split(": ")
    for index, part in enumerate(parts[:-1]):
        if _IDENTIFIER.fullmatch(part) and _looks_like_exception(part):
            rest = ": ".join(parts[index + 1 :])
            if part in _GENERIC:  # its name says little: its words tell causes apart
                return f"{part}({_blank(_head(rest))})"
            return part + _errno_of(rest)
    return None


def _looks_like_exception(name: str) -> bool:
    # "ConnectionRefusedError", "SMTPServerDisconnected", "gaierror"; not "SIREN" or "order"
    mixed = name.lower() != name and name.upper() != name
    return mixed or name.endswith("error")


def _errno_of(rest: str) -> str:
    found = _ERRNO.match(rest)
    if not found:
        return ""
    number = int(found.group(1))
    return f"[{errno.errorcode.get(number, str(number))}]"


def cause_of(job: FailingJob) -> str:
    """`<kind>[:<shop>]:<signature>`: the same for every job one outage hits, different for
    another cause (the shop only when the error is that shop's: SMTP down is one cause)."""
    failure = read_failure(job.last_error or "")
    parts = [job.kind, failure.shop, failure.signature]
    return ":".join(part for part in parts if part)[:MAX_CAUSE]


def is_expected_wait(message: str) -> bool:
    failure = read_failure(message)
    name = re.split(r"[\[(]", failure.signature, maxsplit=1)[0]
    return name in _EXPECTED_WAITS or failure.text.startswith(WAITING_FOR_INVOICE)


# -- the cause in plain words ---------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    what: str  # the error, as the owner would say it
    action: str = ""  # what to do about it, when we know


_BY_ERRNO = {
    "ENOSPC": Words("the disk is full", "Free space on the disk of the archive or database."),
    "EDQUOT": Words("the disk quota is used up", "Raise the quota or free space."),
    "EROFS": Words("the disk is read-only", "Make the archive folder writable again."),
    "EACCES": Words("permission denied on a file or folder", "Check the folder's owner."),
    "EPERM": Words("permission denied on a file or folder", "Check the folder's owner."),
    "ECONNREFUSED": Words(
        "the server refuses connections",
        "The server is down, or its host or port is wrong: `quittance doctor` tries it.",
    ),
    "ECONNRESET": Words("the server cuts the connection", "`quittance doctor` tries it."),
    "ETIMEDOUT": Words("the server does not answer in time", "`quittance doctor` tries it."),
    "EHOSTUNREACH": Words("the network cannot reach the server", "Check the network."),
    "ENETUNREACH": Words("the network cannot reach the server", "Check the network."),
}
_BY_NAME = {
    "TimeoutError": Words("the server does not answer in time", "`quittance doctor` tries it."),
    "gaierror": Words("the server's name does not resolve (DNS)", "Check the host name."),
    "SMTPServerDisconnected": Words("the mail server hangs up", "`quittance doctor` tries it."),
    "ConnectionError": Words("the shop cannot be reached", "`quittance doctor` tries it."),
    "OperationalError": Words("the database is unavailable", "Check the database server."),
    "PdfIncompleteError": Words(
        "a rendered PDF lacks a mandatory mention: nothing was archived or sent",
        "Fix the template override (`quittance doctor` checks it).",
    ),
    "FacturXInvalidError": Words(
        "a document's Factur-X XML fails its official schema or cannot be embedded: nothing "
        "was archived or sent",
        "This is a Quittance bug: please report it with the error. The document stays issued "
        "and held; after the fix, upgrade and `quittance retry --all`.",
    ),
    "PdfMismatchError": Words("a re-rendered PDF differs from the archived one"),
    "RenderProfileError": Words("a document's recorded render profile cannot be used here"),
    "ArchiveCorruptError": Words(
        "an archived file is missing or altered", "`quittance verify` checks the archive."
    ),
}
_BY_PHRASE = {
    "authentication failed": Words(
        "the mail server refuses Quittance's login", "Check [email] username and password."
    ),
    "recipient refused": Words("the mail server refuses the customer's address"),
    "message refused": Words("the mail server refuses the message"),
    "sender refused": Words(
        "the mail server refuses the sender", "Check [email] from_address with your provider."
    ),
    "connection refused by server": Words("the mail server refuses the connection"),
    "email is not configured": Words("email is not configured", "Set [email] host."),
}
_BY_HTTP = {
    "401": Words("the shop refuses Quittance's API credentials", "Check the shop's keys."),
    "403": Words("the shop refuses Quittance's API credentials", "Check the shop's keys."),
    "404": Words("the shop does not know what Quittance asked for"),
    "429": Words("the shop keeps throttling Quittance"),
}
_KIND_WORDS = {
    "ingest": "reading orders from the shop",
    "issue": "issuing invoices",
    "credit": "issuing credit notes",
    "render": "rendering and archiving PDFs",
    "email": "emailing documents to customers",
    "attach": "attaching documents to the shop's orders",
}


def plain_words(signature: str) -> Words | None:
    name, _, code = signature.partition("[")
    if code and code.rstrip("]") in _BY_ERRNO:
        return _BY_ERRNO[code.rstrip("]")]
    if name in _BY_NAME:
        return _BY_NAME[name]
    if signature.startswith("HTTP "):
        status = signature[5:]
        return _BY_HTTP.get(status) or (
            Words("the shop's server is failing") if status.startswith("5") else None
        )
    return next((w for p, w in _BY_PHRASE.items() if signature.startswith(p)), None)


def title_of(kind: str, failure: Failure) -> str:
    words = plain_words(failure.signature)
    where = _KIND_WORDS.get(kind, f"the {kind} step")
    if failure.shop:
        where += f" (shop {failure.shop})"
    return f"{where}: {words.what if words else failure.signature}"


# -- grouping (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One document (or, before it has a number, one order) a cause holds up."""

    shop: str | None
    order: str | None
    number: str | None
    job: int
    dead: bool

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Cause:
    key: str
    kind: str
    title: str
    error: str  # the latest job's message, as recorded
    since: datetime  # the first failure among its jobs
    documents: tuple[Document, ...]  # distinct, oldest first
    ripe: bool  # enough to open: a dead job, or one retrying for longer than after_minutes

    @property
    def dead(self) -> int:
        return sum(doc.dead for doc in self.documents)


def group_causes(jobs: Iterable[FailingJob], now: datetime, after: timedelta) -> list[Cause]:
    buckets: dict[str, list[FailingJob]] = {}
    for job in jobs:
        if not job.last_error or (job.state != "dead" and is_expected_wait(job.last_error)):
            continue
        buckets.setdefault(cause_of(job), []).append(job)
    return [_cause(key, group, now, after) for key, group in sorted(buckets.items())]


def _cause(key: str, jobs: list[FailingJob], now: datetime, after: timedelta) -> Cause:
    jobs = sorted(jobs, key=lambda j: (_started(j), j.id))
    latest = max(jobs, key=lambda j: (j.updated_at, j.id))
    return Cause(
        key=key,
        kind=latest.kind,
        title=title_of(latest.kind, read_failure(latest.last_error or "")),
        error=latest.last_error or "",
        since=_started(jobs[0]),
        documents=_documents(jobs),
        ripe=any(_is_ripe(job, now, after) for job in jobs),
    )


STALLED = "queue:stalled"


def stalled_queue(
    overdue: Sequence[FailingJob], progress: datetime | None, now: datetime, after: timedelta
) -> Cause | None:
    """Jobs due for longer than `after_minutes` while no worker claimed or finished any job
    for as long: every worker is dead or wedged, and since nothing fails no other cause says
    it. (A long backlog that drains is progress, not a stall.) `overdue` is oldest first. It
    dates from when work stopped moving (or the oldest job fell due, if later), so a stall
    that comes back after some progress is a new one."""
    if not overdue or (progress is not None and now - progress < after):
        return None
    oldest = overdue[0]
    due = oldest.run_at or _started(oldest)
    since = max(progress, due) if progress is not None else due
    return Cause(
        key=STALLED,
        kind="queue",
        title="jobs are due and no worker runs them",
        error=f"nothing moved since {when(since)}: the oldest due job is job {oldest.id} "
        f"({oldest.kind}); is `quittance run` (or `quittance worker`) running? "
        "`quittance status` shows the queue",
        since=since,
        documents=_documents(list(overdue)),
        ripe=True,
    )


class StallWatch:
    """A stall opens once two checks in a row saw it with no progress between them: right
    after the database comes back, the workers' own backoff (up to a minute) may not have
    claimed anything yet at the first check. Seen once, it is a cause that is not ripe: it
    keeps an open stall open (another scheduler's) but opens none."""

    def __init__(self) -> None:
        self._seen: datetime | None = None  # the `since` of the stall the last check saw

    def confirmed(self, stall: Cause | None) -> Cause | None:
        seen, self._seen = self._seen, (stall.since if stall else None)
        if stall is None:
            return None
        return replace(stall, ripe=seen == stall.since)


# One watch per store: each scheduler (and each test's services) sees its own checks.
_STALLS: weakref.WeakKeyDictionary[object, StallWatch] = weakref.WeakKeyDictionary()


def _started(job: FailingJob) -> datetime:
    return job.first_attempt_at or job.created_at


def _is_ripe(job: FailingJob, now: datetime, after: timedelta) -> bool:
    if job.state == "dead":
        return True  # failed for good: no reason to wait
    # a job put back in line (pending) keeps an outage open but does not open one
    # How long it has failed, up to its last failure: a cause mended between two retries
    # (SMTP back after 8 minutes, the next try at 15) never lasted `after`.
    failing_until = job.updated_at if job.state == "retry" else now
    return job.state in ("retry", "running") and failing_until - _started(job) >= after


def _documents(jobs: list[FailingJob]) -> tuple[Document, ...]:
    """One entry per document (its email and attach jobs are one), dead if any of them is."""
    docs: dict[tuple[Any, ...], Document] = {}
    for job in jobs:
        ref = ("invoice", job.invoice_id) if job.invoice_id else ("order", job.shop, job.order_id)
        first = docs.get(ref)
        if first is None:
            docs[ref] = Document(job.shop, job.order_id, job.number, job.id, job.state == "dead")
        elif job.state == "dead":
            docs[ref] = replace(first, dead=True)
    return tuple(docs.values())


@dataclass(frozen=True)
class Plan:
    open: tuple[Cause, ...]  # ripe, no row yet
    keep: tuple[tuple[Cause, OutageRecord], ...]  # open and still there
    clear: tuple[OutageRecord, ...]  # open, nothing left of it


def plan(causes: Sequence[Cause], rows: Sequence[OutageRecord]) -> Plan:
    by_cause = {row.cause: row for row in rows if not row.cause.startswith(PROBE_PREFIX)}
    seen = {cause.key for cause in causes}
    return Plan(
        open=tuple(c for c in causes if c.key not in by_cause and c.ripe),
        keep=tuple((c, by_cause[c.key]) for c in causes if c.key in by_cause),
        clear=tuple(row for key, row in by_cause.items() if key not in seen),
    )


# -- wording (pure) -----------------------------------------------------------------------


def human_duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def document_line(doc: Document) -> str:
    parts = (f"shop {doc.shop}" if doc.shop else "", f"order {doc.order}" if doc.order else "")
    where = ", ".join(part for part in parts if part)
    head = f"{doc.number} — {where}" if doc.number else where or "no document"
    return f"- {head} (job {doc.job}{', failed for good' if doc.dead else ''})"


def documents_block(docs: Sequence[Document], total: int) -> list[str]:
    lines = [document_line(doc) for doc in docs[:SAMPLE_SIZE]]
    if total > len(lines):
        lines.append(f"- … and {total - len(lines)} more")
    return lines


def count_words(total: int, dead: int, waiting: str = "still retrying") -> str:
    noun = "document" if total == 1 else "documents"
    if dead == total:
        return f"{total} {noun} failed for good"
    if dead == 0:
        return f"{total} {noun} held up, {waiting}"
    return f"{total} {noun} held up ({dead} failed for good, {total - dead} still retrying)"


def open_text(cause: Cause, opened_at: datetime, now: datetime) -> tuple[str, str]:
    total = len(cause.documents)
    words = plain_words(read_failure(cause.error).signature)
    counted = count_words(
        total, cause.dead, "waiting" if cause.key == STALLED else "still retrying"
    )
    lines = [
        f"Since {when(opened_at)} ({human_duration(now - opened_at)}): {counted}.",
        f"Cause: {cause.title}.",
        f"Error: {cause.error}",
        "",
        "First documents:" if total > 1 else "Document:",
        *documents_block(cause.documents, total),
        "",
    ]
    if words and words.action:
        lines.append(words.action)
    if cause.dead < total:
        lines.append("The waiting ones go through on their own once the cause is fixed.")
    lines += [DO_WHAT, "You will get one more message when this clears."]
    return f"Quittance: {cause.title} — {counted}", "\n".join(lines)


def _more_failed_for_good(cause: Cause, row: OutageRecord) -> bool:
    """Documents failed for good beyond those the owner was told of: each needs them (a wrong
    address to fix, a resend), so they are told too, at most once per dedupe window (the
    alert key is the outage's); documents that only retry are the digest's."""
    return row.alerted_at is not None and cause.dead > row.told_dead


def grew_text(cause: Cause, row: OutageRecord) -> tuple[str, str]:
    dead = [doc for doc in cause.documents if doc.dead]
    more, fresh = cause.dead - row.told_dead, dead[row.told_dead :]
    lines = [
        f"{more} more failed for good since the last message: "
        f"{count_words(len(cause.documents), cause.dead)} in all, since {when(row.opened_at)}.",
        f"Error: {cause.error}",
        "",
        "The new ones:",
        *documents_block(fresh, len(fresh)),
        "",
        DO_WHAT,
    ]
    return f"Quittance: {cause.title} — {more} more", "\n".join(lines)


def clear_text(row: OutageRecord, now: datetime) -> tuple[str, str]:
    body = (
        f"Resolved: {row.title}.\n"
        f"It lasted {human_duration(now - row.opened_at)} (since {when(row.opened_at)}); "
        "nothing is held up by it any more"
        + (f" (last seen holding up {row.affected} document(s))." if row.affected else ".")
    )
    return f"Quittance: resolved — {row.title}", body


# -- the table and the alerts (I/O) ---------------------------------------------------------


@dataclass(frozen=True)
class OutageReport:
    opened: tuple[str, ...]  # causes this call told the owner of
    cleared: tuple[str, ...]  # causes this call told the owner are over
    open: tuple[str, ...]  # every job cause open after this call


def check_outages(svc: Services) -> OutageReport:
    """Every minute: open, update and clear the job causes; alert once each way."""
    now = svc.store.clock()
    after = timedelta(minutes=svc.settings.alerts.after_minutes)
    causes = group_causes(svc.store.failing_jobs(), now, after)
    stalled = _STALLS.setdefault(svc.store, StallWatch()).confirmed(
        stalled_queue(
            svc.store.overdue_jobs(now - after), svc.store.last_job_progress(), now, after
        )
    )
    todo = plan([*causes, *([stalled] if stalled else [])], svc.store.outages())
    opened = [c.key for c in todo.open if _open_cause(svc, c, now)]
    for cause, row in todo.keep:
        if _more_failed_for_good(cause, row):
            _tell_more(svc, cause, row)
        svc.store.touch_outage(
            row.cause, row.opened_at, affected=len(cause.documents), sample=sample_of(cause)
        )
        title, body = open_text(cause, row.opened_at, now)
        if row.alerted_at is None and announce(svc, row, title, body, told_dead=cause.dead):
            opened.append(cause.key)  # an earlier attempt could not send it
    cleared = [row.cause for row in todo.clear if end_outage(svc, row, now)]
    still = tuple(c.key for c in todo.open) + tuple(c.key for c, _ in todo.keep)
    return OutageReport(tuple(opened), tuple(cleared), tuple(sorted(set(still))))


def _open_cause(svc: Services, cause: Cause, now: datetime) -> bool:
    row = ensure_open(
        svc,
        cause.key,
        title=cause.title,
        opened_at=cause.since,
        affected=len(cause.documents),
        sample=sample_of(cause),
    )
    if row is None or row.alerted_at is not None:
        return False
    title, body = open_text(cause, row.opened_at, now)
    return announce(svc, row, title, body, told_dead=cause.dead)


def _tell_more(svc: Services, cause: Cause, row: OutageRecord) -> None:
    title, body = grew_text(cause, row)
    key = f"outage-grew:{row.cause}:{stamp(row.opened_at)}"
    if alert_owner(svc, key=key, title=title, body=body) or not svc.alerter.configured:
        svc.store.tell_outage_dead(row.cause, row.opened_at, cause.dead)


def sample_of(cause: Cause) -> list[dict[str, Any]]:
    return [doc.as_json() for doc in cause.documents[:SAMPLE_SIZE]]


def ensure_open(
    svc: Services,
    cause: str,
    *,
    title: str,
    opened_at: datetime,
    affected: int,
    sample: Sequence[dict[str, Any]],
) -> OutageRecord | None:
    """The open row of `cause`, created if none (a concurrent opener's row otherwise)."""
    svc.store.open_outage(cause, title=title, opened_at=opened_at, affected=affected, sample=sample)
    return svc.store.outage(cause)


def announce(
    svc: Services, row: OutageRecord, title: str, body: str, *, told_dead: int = 0
) -> bool:
    """Send the opening alert if this caller wins its claim. A failed send gives the claim
    back, so a later check tries again; the key is the outage's, so the alerter's dedupe
    window spaces those tries (once per window, not every minute: apprise cannot tell a
    target that got it from one that did not, and the ones that did must not be flooded)."""
    claimed = svc.store.claim_outage_alert(row.cause, row.opened_at, told_dead=told_dead)
    if claimed is None:
        return False
    key = f"outage:{row.cause}:{stamp(row.opened_at)}"
    if alert_owner(svc, key=key, title=title, body=body) or not svc.alerter.configured:
        log.warning("outage opened", cause=row.cause, since=row.opened_at.isoformat())
        return True
    svc.store.release_outage_alert(row.cause, row.opened_at, claimed)
    return False


def end_outage(svc: Services, row: OutageRecord, now: datetime) -> bool:
    """Close the row; the one caller that closed it tells the owner, if they were told it
    opened (an outage that never reached them ends quietly)."""
    closed = svc.store.close_outage(row.cause, row.opened_at)
    if closed is None or closed.alerted_at is None:
        return False
    log.info("outage cleared", cause=row.cause, lasted_s=int((now - row.opened_at).total_seconds()))
    title, body = clear_text(closed, now)
    key = f"outage-cleared:{row.cause}:{stamp(row.opened_at)}"
    alert_owner(svc, key=key, title=title, body=body)
    return True


def stamp(moment: datetime) -> str:
    """A moment as it goes into alert keys: to the microsecond, so two outages never share one."""
    return f"{moment:%Y%m%dT%H%M%S.%fZ}"


# -- the daily digest -----------------------------------------------------------------------


@dataclass(frozen=True)
class DigestFacts:
    outages: tuple[OutageRecord, ...]
    dead: tuple[Cause, ...]  # causes with documents failed for good
    quarantined: tuple[OrderRecord, ...]
    retrying: int
    oldest: FailingJob | None  # the job waiting longest (pending or retrying)
    heads: tuple[InvoiceRecord, ...] = ()  # each series' newest document (its chain head)

    @property
    def all_well(self) -> bool:
        return not (self.outages or self.dead or self.quarantined or self.retrying)

    def heads_moved(self, now: datetime) -> bool:
        return any(head.issued_at > now - timedelta(days=1) for head in self.heads)


def digest_text(facts: DigestFacts, now: datetime) -> tuple[str, str] | None:
    """The daily message of what is pending, with the chain heads; None when all is well
    and no document was issued for a day (nothing new to tell or to anchor)."""
    if facts.all_well:
        if not facts.heads_moved(now):
            return None
        return "Quittance daily digest: all well", _heads_section(facts.heads)
    sections = [
        _outages_section(facts.outages, now),
        _dead_section(facts.dead),
        _quarantine_section(facts.quarantined),
        _waiting_section(facts.retrying, facts.oldest, now),
        _heads_section(facts.heads),
    ]
    body = "\n\n".join(s for s in sections if s) + f"\n\n{DO_WHAT}"
    dead = sum(cause.dead for cause in facts.dead)
    counts = [
        f"{len(facts.outages)} open problem(s)" if facts.outages else "",
        f"{dead} document(s) failed for good" if dead else "",
        f"{len(facts.quarantined)} quarantined order(s)" if facts.quarantined else "",
        f"{facts.retrying} job(s) retrying" if facts.retrying else "",
    ]
    return "Quittance daily digest: " + ", ".join(c for c in counts if c), body


def _heads_section(heads: Sequence[InvoiceRecord]) -> str:
    """Mailed daily, the heads leave the machine: a chain rewritten or cut short later no
    longer ends where this message says (compare with the heads `quittance verify` prints)."""
    if not heads:
        return ""
    lines = ["Chain heads (keep this message: it proves what was issued up to now):"]
    lines += [f"- series {h.series}: {h.number}, hash {h.hash}" for h in heads]
    return "\n".join(lines)


def _outages_section(rows: Sequence[OutageRecord], now: datetime) -> str:
    if not rows:
        return ""
    lines = [f"Open problems ({len(rows)}):"]
    for row in rows:
        held = f", {row.affected} document(s) held up" if row.affected else ""
        since = f"since {when(row.opened_at)} ({human_duration(now - row.opened_at)})"
        lines.append(f"- {row.title}: {since}{held}")
    return "\n".join(lines)


def _dead_section(causes: Sequence[Cause]) -> str:
    if not causes:
        return ""
    lines = ["Failed for good, by cause:"]
    for cause in causes:
        dead = [doc for doc in cause.documents if doc.dead]
        lines.append(f"* {cause.title} — {len(dead)} document(s) [{cause.key}]")
        lines += ["  " + line for line in documents_block(dead, len(dead))]
    return "\n".join(lines)


def _quarantine_section(orders: Sequence[OrderRecord]) -> str:
    if not orders:
        return ""
    lines = [f"Quarantined orders, no invoice issued ({len(orders)}):"]
    for order in orders[:SAMPLE_SIZE]:
        lines.append(f"- shop {order.shop}, order {order.order_id}: {order.reason or '?'}")
    if len(orders) > SAMPLE_SIZE:
        lines.append(f"- … and {len(orders) - SAMPLE_SIZE} more")
    return "\n".join(lines)


def _waiting_section(retrying: int, oldest: FailingJob | None, now: datetime) -> str:
    lines = [f"Retrying: {retrying} job(s)."] if retrying else []
    if oldest is not None:
        lines.append(
            f"Oldest waiting job: job {oldest.id} ({oldest.kind}, shop {oldest.shop or '-'}, order "
            f"{oldest.order_id or '-'}), queued {when(oldest.created_at)} "
            f"({human_duration(now - oldest.created_at)} ago)."
        )
    return "\n".join(lines)


def digest_facts(svc: Services) -> DigestFacts:
    now = svc.store.clock()
    after = timedelta(minutes=svc.settings.alerts.after_minutes)
    causes = group_causes(svc.store.failing_jobs(), now, after)
    return DigestFacts(
        outages=tuple(svc.store.outages()),
        dead=tuple(cause for cause in causes if cause.dead),
        quarantined=tuple(svc.store.list_quarantined()),
        retrying=svc.store.job_counts().get("retry", 0),
        oldest=svc.store.oldest_waiting_job(),
        heads=tuple(svc.store.head_invoices()),
    )


def daily_digest(svc: Services) -> str | None:
    """Once a day: what is pending, in one message (its body is returned); nothing when all
    is well. Keyed by the day, so several schedulers send it once between them."""
    now = svc.store.clock()
    try:  # the anchors a full disk made us miss since yesterday
        svc.anchor_chain_heads()
    except Exception as exc:
        log.warning("chain heads not anchored", error=error_line(exc))
    text = digest_text(digest_facts(svc), now)
    if text is None:
        return None
    title, body = text
    alert_owner(svc, key=f"digest:{now:%Y-%m-%d}", title=title, body=body)
    return body
