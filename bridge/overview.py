"""What the operator's views show, gathered once for `quittance status`, `failures`, `retry`
and the web dashboard: the same queries everywhere, no printing here.

    shop_overviews   every configured shop, and every shop that only has documents or jobs
    failures         what needs the owner (dead jobs, skips that are not routine,
                     quarantined orders), newest first, paged; failure_count their number
    retrying         the jobs the worker retries by itself: listed apart, not counted
    plain_reason     a failure in plain French or English, with what to do
    retry_failure    replays one failure by its key; retry_all what `retry --all` does
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import unquote

from bridge.outages import human_duration
from bridge.services import Services
from bridge.store.outages import FailingJob
from bridge.store.reports import JOB_RANK, ORDER_RANK, HeldOrder, PageKey

MANUAL = "manual"  # the platform of a shop that is not in the config
QUARANTINE = "quarantine"
RETRYING = ("retry",)


# -- shops ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopOverview:
    shop: str
    platform: str  # "manual" for a shop that is not in the config (`quittance issue`, imports)
    enabled: bool  # False for a manual shop: nothing polls it
    last_poll_at: datetime | None
    last_success_at: datetime | None
    lag_seconds: int | None  # now - last_success_at
    last_poll_error: str | None
    webhooks_today: int
    invoices_today: int
    credit_notes_today: int
    pending: int  # pending + running jobs
    retrying: int
    dead: int
    skipped: int
    quarantined: int


def day_start(svc: Services, now: datetime) -> datetime:
    """The seller's midnight of `now`'s day, as aware UTC: "today" is the shop owner's day,
    the one their invoices are dated by, not the server's."""
    zone = svc.settings.seller.zoneinfo
    local_day = now.astimezone(zone).date()
    # A midnight that DST skips resolves (fold=0) to the first instant of that day.
    return datetime.combine(local_day, time(0), tzinfo=zone).astimezone(UTC)


def shop_overviews(svc: Services, now: datetime) -> list[ShopOverview]:
    """Configured shops in config order, then the others (documents or jobs only) by name."""
    since = day_start(svc, now)
    counts = _Counts(svc, since)
    configured = {shop.name: shop for shop in svc.settings.shops}
    others = sorted(counts.shops() - set(configured))
    rows = [
        _overview(svc, now, counts, name, shop.platform, shop.enabled)
        for name, shop in configured.items()
    ]
    return rows + [_overview(svc, now, counts, name, MANUAL, False) for name in others]


class _Counts:
    """The per-shop aggregates, each read once for every shop (a GROUP BY, not a query per
    shop)."""

    def __init__(self, svc: Services, since: datetime) -> None:
        store = svc.store
        self.webhooks = store.webhook_counts_since(since)
        self.documents = store.document_counts_since(since)
        self.jobs = store.job_counts_by_shop()
        self.quarantined = store.quarantined_counts()
        self.with_documents = store.document_shops()

    def shops(self) -> set[str]:
        # "" is a job no shop owns (a maintenance job): not a shop
        return (self.with_documents | set(self.jobs) | set(self.quarantined)) - {""}


def _overview(
    svc: Services, now: datetime, counts: _Counts, name: str, platform: str, enabled: bool
) -> ShopOverview:
    poll = svc.store.poll_state(name) if platform != MANUAL else None
    success = poll.last_success_at if poll else None
    jobs = counts.jobs.get(name, {})
    documents = counts.documents.get(name, {})
    return ShopOverview(
        shop=name, platform=platform, enabled=enabled,
        last_poll_at=poll.last_poll_at if poll else None, last_success_at=success,
        lag_seconds=int((now - success).total_seconds()) if success else None,
        last_poll_error=(poll.last_error or None) if poll else None,
        webhooks_today=counts.webhooks.get(name, 0),
        invoices_today=documents.get("invoice", 0),
        credit_notes_today=documents.get("credit_note", 0),
        pending=jobs.get("pending", 0) + jobs.get("running", 0),
        retrying=jobs.get("retry", 0), dead=jobs.get("dead", 0),
        skipped=jobs.get("skipped", 0), quarantined=counts.quarantined.get(name, 0),
    )  # fmt: skip


def lag_words(seconds: int | None, locale: str) -> str:
    """A poll lag as `quittance status` words it (`human_duration`), in `locale`: "—" when
    the shop never answered. Only the day's unit differs in French ("2 j 3 h")."""
    if seconds is None:
        return "—"
    text = human_duration(timedelta(seconds=seconds))
    return text.replace(" d ", " j ") if locale.lower().startswith("fr") else text


def delivery_counts(svc: Services, since: datetime) -> dict[tuple[str, str], dict[str, int]]:
    """(shop, channel) -> status -> count of the deliveries that moved since `since`."""
    return svc.store.delivery_counts_since(since)


# -- failures ---------------------------------------------------------------------------


# Reasons the steps write when there was nothing to do: a normal, permanent outcome, not a
# failure. They stay in the deliveries log; `failures` and `failure_count` leave them out.
# Decided here, from the recorded reason (a skip carries no flag of its own), as SQL LIKE
# patterns so the database counts and pages without them; matched case-blind.
ROUTINE_SKIPS: tuple[tuple[tuple[str, ...], str], ...] = (
    # bridge/customer_channels.py: the order's phone cannot get a text (a landline, none)
    (("sms",), "no text sent: %"),
    # bridge/steps.py `credit`: a restock with no money back needs no credit note
    (("credit",), "refund % gave nothing back%"),
    # bridge/steps.py helpdesk skip: the email step's own skip tells the owner about the
    # missing address; the helpdesk has no one to look for
    (("zendesk", "intercom"), "no email address on the order: % cannot find the customer"),
    # bridge/delivery/helpdesk: no ticket, contact or conversation to add the document to
    (("zendesk",), "no customer address on %"),
    (("zendesk",), "no open zendesk ticket for %"),
    (("intercom",), "no customer email: %"),
    (("intercom",), "no intercom contact with %"),
    (("intercom",), "no open intercom conversation for %"),
)
# What needs the owner: a dead job, a skip that is not routine, a quarantined order. A job
# in "retry" is not counted: the worker tries it again by itself.
NEEDS_YOU = ("dead", "skipped")


@dataclass(frozen=True, slots=True)
class Failure:
    key: str  # "job:<id>" or "order:<shop>:<order_id>": stable, for a retry form
    job_id: int | None
    step: str  # the job's kind, or "quarantine"
    state: str  # dead | skipped | retry | quarantined
    shop: str
    order_id: str
    number: str  # the document's number when the job has one, else ""
    attempts: int
    since: datetime
    reason: str  # the raw recorded reason
    row: int = 0  # the job's or order's row id: with `since`, where the next page starts

    @property
    def page_key(self) -> str:
        """`before=` for the page after this one: its instant, then which row."""
        rank = "o" if self.job_id is None else "j"
        return f"{self.since.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{rank}{self.row}"


_PAGE_KEY = re.compile(r"(\d{8}T\d{6}\.\d{6})Z-([oj])(\d{1,18})")


def parse_page_key(text: str) -> PageKey | None:
    """A `Failure.page_key` read back; None for anything else (an old or edited link)."""
    found = _PAGE_KEY.fullmatch(text)
    if found is None:
        return None
    try:
        at = datetime.strptime(found[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:  # 20251399T…: digits, but no date
        return None
    return at, ORDER_RANK if found[2] == "o" else JOB_RANK, int(found[3])


def _sort_key(failure: Failure) -> tuple[datetime, int, int]:
    # the order the database pages in (bridge/store/reports.py): newest first, at the same
    # instant an order before a job, then the newest row
    rank = ORDER_RANK if failure.job_id is None else JOB_RANK
    return failure.since, rank, failure.row


def failures(
    svc: Services, *, limit: int | None = None, before: PageKey | None = None,
    shop: str | None = None,
) -> list[Failure]:  # fmt: skip
    """What needs the owner, newest first: dead jobs, skipped ones that are not routine
    (`ROUTINE_SKIPS`) and quarantined orders; at most `limit`, from after `before` (the
    `parse_page_key` of the last one shown). The job that quarantined an order is not
    listed twice: the order's entry is the one to retry. Retrying jobs: `retrying`."""
    orders = svc.store.held_orders(shop=shop, before=before, limit=limit)
    jobs = svc.store.attention_jobs(
        NEEDS_YOU, routine=ROUTINE_SKIPS, shop=shop, before=before, limit=limit
    )
    # each source gave its newest `limit`: merged, the first `limit` are the page's
    found = sorted([*map(_of_order, orders), *map(_of_job, jobs)], key=_sort_key, reverse=True)
    return found if limit is None else found[:limit]


def retrying(svc: Services, *, limit: int | None = None, shop: str | None = None) -> list[Failure]:
    """Jobs the worker tries again by itself, newest first: shown apart, not counted."""
    return [_of_job(job) for job in svc.store.attention_jobs(RETRYING, shop=shop, limit=limit)]


def failure_count(svc: Services, *, shop: str | None = None) -> int:
    """How many `failures` there are: the one number the overview, the failures page and
    `quittance status` give."""
    jobs = svc.store.attention_job_count(NEEDS_YOU, routine=ROUTINE_SKIPS, shop=shop)
    return jobs + svc.store.held_order_count(shop=shop)


@dataclass(frozen=True, slots=True)
class FailureSummary:
    needs_you: int  # `failure_count`
    retrying: int  # retried by the worker, by itself
    nothing_to_do: int  # routine skips: in the deliveries log, not failures


def failure_summary(svc: Services, *, shop: str | None = None) -> FailureSummary:
    return FailureSummary(
        needs_you=failure_count(svc, shop=shop),
        retrying=svc.store.attention_job_count(RETRYING, shop=shop),
        nothing_to_do=svc.store.attention_job_count(
            ("skipped",), routine=ROUTINE_SKIPS, routine_only=True, shop=shop
        ),
    )


# a job id as a key carries it: ASCII digits that fit the id column ("²" is a digit to isdigit)
_JOB_ID = re.compile(r"[0-9]{1,18}")


def failure_by_key(svc: Services, key: str) -> Failure | None:
    """The failure (or retrying job) a key names, read alone: not through a page."""
    kind, _, rest = key.partition(":")
    if kind == "job" and _JOB_ID.fullmatch(rest):
        found = svc.store.attention_jobs(NEEDS_YOU + RETRYING, job_id=int(rest), limit=1)
        return _of_job(found[0]) if found else None
    if kind == "order" and rest.count(":") == 1:
        shop, order_id = (unquote(part) for part in rest.split(":"))
        held = svc.store.held_orders(shop=shop)
        return next((_of_order(o) for o in held if o.order_id == order_id), None)
    return None


def _of_job(job: FailingJob) -> Failure:
    return Failure(
        key=f"job:{job.id}", job_id=job.id, step=job.kind, state=job.state,
        shop=job.shop or "", order_id=job.order_id or "", number=job.number or "",
        attempts=job.attempts, since=job.updated_at, reason=job.last_error or "", row=job.id,
    )  # fmt: skip


def _of_order(order: HeldOrder) -> Failure:
    return Failure(
        key=order_key(order.shop, order.order_id), job_id=None, step=QUARANTINE,
        state="quarantined", shop=order.shop, order_id=order.order_id, number="",
        attempts=0, since=order.updated_at, reason=order.reason or "", row=order.row,
    )  # fmt: skip


def order_key(shop: str, order_id: str) -> str:
    return f"order:{_escape(shop)}:{_escape(order_id)}"


def _escape(part: str) -> str:
    # a ":" in a shop name or order id must not move the split; "%" first, so it reads back
    return part.replace("%", "%25").replace(":", "%3A")


def retry_failure(svc: Services, key: str) -> bool:
    """Replay one failure now; False when it is not dead, skipped or quarantined any more (or
    the key names nothing)."""
    kind, _, rest = key.partition(":")
    if kind == "job" and _JOB_ID.fullmatch(rest):
        return svc.store.requeue_job(int(rest))
    if kind == "order" and rest.count(":") == 1:
        shop, order_id = (unquote(part) for part in rest.split(":"))
        return svc.store.requeue_order(shop, order_id)
    return False


def retry_all(svc: Services) -> tuple[int, int]:
    """(jobs, orders) replayed: every dead job and every quarantined order. Skipped jobs wait
    for their own retry: most (no email address) need their cause fixed first."""
    jobs = sum(svc.store.requeue_job(job.id) for job in svc.store.list_jobs(states=("dead",)))
    orders = sum(
        svc.store.requeue_order(order.shop, order.order_id)
        for order in svc.store.list_quarantined()
    )
    return jobs, orders


# -- alerts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    cause: str
    since: datetime
    detail: str


def open_alerts(svc: Services) -> list[Alert]:
    """The outages open now (bridge/outages.py), oldest first, each in words."""
    rows = sorted(svc.store.outages(), key=lambda row: row.opened_at)
    return [Alert(row.cause, row.opened_at, row.title + _held_up(row.affected)) for row in rows]


def _held_up(affected: int) -> str:
    return f" ({affected} document(s) held up)" if affected else ""


# -- reasons in plain words -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Words:
    en: str
    fr: str


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    words: _Words
    steps: frozenset[str] = frozenset()  # only for these steps; empty: any step


def _rule(pattern: str, en: str, fr: str, *steps: str) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), _Words(en, fr), frozenset(steps))


_UNREACHABLE = (
    r"ECONNREFUSED|Connection refused|ConnectionRefusedError|Errno 111|TimeoutError|timed out"
    r"|gaierror|Name or service not known|SMTPServerDisconnected|unreachable|ConnectionError"
)

# First match wins: the specific before the general. {retry} is the command that replays it.
_RULES = (
    _rule(
        # 5.1.x: the address itself (RFC 3463), whichever SMTP stage the server said it at
        r"recipient refused|\b5\.1\.\d\b|mailbox unavailable|user unknown",
        "The mail server refused the customer's email address: the document was not "
        "emailed. Check the address with the customer, then `quittance resend NUMBER --to "
        "ADDRESS`.",
        "Le serveur de messagerie a refusé l'adresse e-mail du client : le document n'a pas "
        "été envoyé. Vérifiez l'adresse avec le client, puis `quittance resend NUMÉRO --to "
        "ADRESSE`.",
    ),
    _rule(
        r"authentication failed",
        "The mail server refuses Quittance's login. Check [email] username and password, "
        "then {retry}.",
        "Le serveur de messagerie refuse l'identifiant de Quittance. Vérifiez [email] "
        "username et password, puis {retry}.",
    ),
    _rule(
        r"message refused|sender refused|greeting refused|connection refused by server",
        "The mail server refused the email. Check [email] from_address with your email "
        "provider (the raw reason gives its answer), then {retry}.",
        "Le serveur de messagerie a refusé l'e-mail. Vérifiez [email] from_address avec "
        "votre fournisseur (la raison brute donne sa réponse), puis {retry}.",
    ),
    _rule(
        _UNREACHABLE,
        "The mail server cannot be reached. `quittance doctor` tries it; the email is sent "
        "again by itself once it answers.",
        "Le serveur de messagerie est injoignable. `quittance doctor` le teste ; l'e-mail "
        "repart tout seul dès qu'il répond.",
        "email",
    ),
    _rule(
        r"no email address on the order",
        "The order has no email address: nothing was emailed. When the customer gives one, "
        "`quittance resend NUMBER --to ADDRESS` sends the document.",
        "La commande n'a pas d'adresse e-mail : rien n'a été envoyé. Quand le client en "
        "donne une, `quittance resend NUMÉRO --to ADRESSE` envoie le document.",
    ),
    _rule(
        r"email is not configured",
        "Email is not set up ([email] host is empty): nothing was emailed. Set [email], "
        "then {retry}.",
        "L'e-mail n'est pas configuré ([email] host est vide) : rien n'a été envoyé. "
        "Renseignez [email], puis {retry}.",
    ),
    _rule(
        r"VIES does not confirm|no valid EU VAT number",
        "No VAT was charged, but the buyer's VAT number is not valid (VIES does not confirm "
        "it): VAT is due, so no invoice was issued. Get a valid number from the customer or "
        "charge VAT on the shop, then {retry}.",
        "Aucune TVA n'a été facturée, mais le numéro de TVA de l'acheteur n'est pas valide "
        "(VIES ne le confirme pas) : la TVA est due, aucune facture n'a été émise. Obtenez "
        "un numéro valide du client ou facturez la TVA sur la boutique, puis {retry}.",
    ),
    _rule(
        r"VIES cannot confirm",
        "VIES (the EU's VAT number check) does not answer: the invoice waits for it. "
        "Nothing to do while it retries; once quarantined, {retry} when VIES is back.",
        "VIES (le contrôle européen des numéros de TVA) ne répond pas : la facture "
        "l'attend. Rien à faire pendant les nouvelles tentatives ; une fois en "
        "quarantaine, {retry} quand VIES répond.",
    ),
    _rule(
        r"is not a VAT rate of",
        "A line's VAT rate does not exist in the country it is taxed in on that day: no "
        "invoice was issued. Fix the product's tax class (or the delivery address) on the "
        "shop, then {retry}.",
        "Le taux de TVA d'une ligne n'existe pas dans le pays de taxation à cette date : "
        "aucune facture n'a été émise. Corrigez la classe de taxe du produit (ou l'adresse "
        "de livraison) sur la boutique, puis {retry}.",
    ),
    _rule(
        r"VAT \S+ does not match",
        "A line's VAT amount does not match its VAT rate: no invoice was issued. Fix the "
        "line's tax on the shop, then {retry}.",
        "Le montant de TVA d'une ligne ne correspond pas à son taux : aucune facture n'a "
        "été émise. Corrigez la taxe de la ligne sur la boutique, puis {retry}.",
    ),
    _rule(
        r"lines add up to|line taxes add up to",
        "The order's lines do not add up to its total: no invoice was issued. Fix the "
        "order's lines or total on the shop, then {retry}.",
        "Les lignes de la commande ne font pas son total : aucune facture n'a été émise. "
        "Corrigez les lignes ou le total sur la boutique, puis {retry}.",
    ),
    _rule(
        r"cannot read the order",
        "The shop sent an order Quittance cannot read (a field is missing or malformed): "
        "no invoice was issued, its raw data are kept. Fix the order on the shop, then "
        "{retry}.",
        "La boutique a envoyé une commande illisible (un champ manque ou est mal formé) : "
        "aucune facture n'a été émise, ses données brutes sont gardées. Corrigez la "
        "commande sur la boutique, puis {retry}.",
    ),
    _rule(
        r"shop \S+: .*(HTTP 40[13]|\b40[13]\b)",
        "The shop refuses Quittance's API keys. Check the shop's keys in the config "
        "(`quittance doctor` tries them), then {retry}.",
        "La boutique refuse les clés d'API de Quittance. Vérifiez les clés de la boutique "
        "dans la configuration (`quittance doctor` les essaie), puis {retry}.",
    ),
    _rule(
        r"shop \S+: .*(cannot reach|still failing|still throttled|HTTP 5\d\d|timed out)",
        "The shop cannot be reached (or keeps failing). Nothing is lost: Quittance tries "
        "again by itself; `quittance doctor` tests the connection.",
        "La boutique est injoignable (ou répond en erreur). Rien n'est perdu : Quittance "
        "réessaie tout seul ; `quittance doctor` teste la connexion.",
    ),
    _rule(
        r"daily SMS cap reached",
        "The shop's daily SMS limit is reached: this document was not texted (its email "
        "is unaffected). Raise [[sms]] daily_cap if this volume is expected, or "
        "`quittance resend NUMBER --channel sms`.",
        "La limite quotidienne de SMS de la boutique est atteinte : ce document n'a pas été "
        "envoyé par SMS (son e-mail n'est pas concerné). Relevez [[sms]] daily_cap si ce "
        "volume est normal, ou `quittance resend NUMÉRO --channel sms`.",
    ),
    _rule(
        r"not a mobile|is not a phone number|no phone number on the order",
        "The order's phone number cannot receive a text: no SMS was sent. Nothing to do "
        "(the email is unaffected).",
        "Le numéro de téléphone de la commande ne peut pas recevoir de SMS : aucun SMS n'a "
        "été envoyé. Rien à faire (l'e-mail n'est pas concerné).",
    ),
    _rule(
        r"ENOSPC|No space left",
        "The disk is full. Free space on the disk of the archive or the database; the "
        "step is tried again by itself.",
        "Le disque est plein. Libérez de la place sur le disque de l'archive ou de la base "
        "de données ; l'étape sera retentée toute seule.",
    ),
    _rule(
        r"waiting for the invoice",
        "The credit note waits for the invoice it corrects: it is issued right after it. "
        "Nothing to do.",
        "L'avoir attend la facture qu'il corrige : il sera émis juste après elle. Rien à faire.",
    ),
    _rule(
        r"gave nothing back",
        "The refund gave no money back (a restock): no credit note is needed. Nothing to do.",
        "Le remboursement n'a rendu aucun argent (une remise en stock) : pas d'avoir à "
        "émettre. Rien à faire.",
    ),
    _rule(
        r"^refused: ",
        "The refund cannot be credited as it stands (more than remains on the invoice, or "
        "a rate it never charged): no credit note was issued. Check the refund on the shop.",
        "Le remboursement ne peut pas être crédité tel quel (plus que le reste de la "
        "facture, ou un taux jamais facturé) : aucun avoir n'a été émis. Vérifiez le "
        "remboursement sur la boutique.",
    ),
    _rule(
        r"Zendesk|Intercom",
        "The helpdesk has no ticket or contact for this customer: the document was not "
        "added there. Nothing to do (the email is unaffected).",
        "Le service client n'a ni ticket ni contact pour ce client : le document n'y a pas "
        "été ajouté. Rien à faire (l'e-mail n'est pas concerné).",
    ),
    _rule(
        r"SIREN or VAT number",
        "The buyer is a company but the order has no SIREN or VAT number: no invoice was "
        "issued. Add the SIREN to the order on the shop, then {retry}.",
        "L'acheteur est une entreprise mais la commande n'a ni SIREN ni numéro de TVA : "
        "aucune facture n'a été émise. Ajoutez le SIREN à la commande sur la boutique, "
        "puis {retry}.",
    ),
    _rule(
        _UNREACHABLE,
        "A server Quittance needs cannot be reached. `quittance doctor` tests them; the "
        "step is tried again by itself.",
        "Un serveur dont Quittance a besoin est injoignable. `quittance doctor` les teste ; "
        "l'étape sera retentée toute seule.",
    ),
)
_UNKNOWN = _Words(
    "Quittance could not finish this step; the raw reason says why. Once the cause is "
    "fixed, {retry} replays it.",
    "Quittance n'a pas pu terminer cette étape ; la raison brute dit pourquoi. Une fois la "
    "cause corrigée, {retry} la relance.",
)


def plain_reason(failure: Failure, locale: str) -> str:
    """What happened and what to do, in `locale` ("fr" or "en"; any other: English). An
    unknown reason gets a generic sentence: show the raw reason next to it."""
    words = _words_for(failure)
    text = words.fr if locale.lower().startswith("fr") else words.en
    return text.replace("{retry}", f"`{retry_command(failure)}`")


def _words_for(failure: Failure) -> _Words:
    for rule in _RULES:
        if rule.steps and failure.step not in rule.steps:
            continue
        if rule.pattern.search(failure.reason):
            return rule.words
    return _UNKNOWN


def retry_command(failure: Failure) -> str:
    target = str(failure.job_id) if failure.job_id is not None else failure.key
    return f"quittance retry {target}"
