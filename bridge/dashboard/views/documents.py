"""The documents: a search over every invoice and credit note, each document's page (its
lines, totals, credit notes and hand-overs), its archived PDF, and the owner's two
corrections, sending it again and crediting it (bridge/corrections.py, as the CLI does)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.archive import ArchiveCorruptError, FileState
from bridge.corrections import (
    CorrectionRefused,
    credit_document,
    remaining_to_credit,
    resend_channels,
    resend_document,
)
from bridge.dashboard.pages import private
from bridge.dashboard.sessions import Session
from bridge.dashboard.views.paging import page_id, sale_day
from bridge.store import InvoiceRecord
from bridge.store.search import DocumentQuery, DocumentState

if TYPE_CHECKING:
    from bridge.dashboard.context import Dashboard

PAGE_SIZE = 50
KINDS = ("invoice", "credit_note")
SEARCH_FIELDS = ("number", "customer", "order", "shop", "kind", "since", "until")

WORDING = {
    "fr": {
        "title": "Documents",
        "search": "Rechercher",
        "reset": "Effacer",
        "number_hint": "tout ou partie",
        "customer_hint": "nom ou e-mail",
        "since": "Du",
        "until": "Au",
        "kind": "Type",
        "all_kinds": "Factures et avoirs",
        "kind_invoice": "Facture",
        "kind_credit_note": "Avoir",
        "amount_incl": "Montant TTC",
        "found_none": "Aucun document ne correspond à cette recherche.",
        "older": "Plus anciens",
        "newest": "Les plus récents",
        "bad_date": "Le champ « %s » n'est pas une date : saisissez-la sous la forme AAAA-MM-JJ.",
        "bad_range": "La date « Du » est après la date « Au » : inversez-les.",
        "fully_credited": "entièrement crédité",
        "partly_credited": "en partie crédité",
        "delivered": "envoyé",
        "delivery_failed": "échec d'envoi",
        "sending": "envoi en cours",
        "issue_date": "Date d'émission",
        "buyer": "Acheteur",
        "company": "Société",
        "email": "E-mail",
        "address": "Adresse de facturation",
        "shipping": "Adresse de livraison",
        "vat_number": "N° de TVA",
        "siren": "SIREN",
        "lines": "Lignes",
        "description": "Désignation",
        "quantity": "Qté",
        "unit_price": "Prix unitaire HT",
        "discount": "Remise HT",
        "vat_rate": "TVA",
        "total_excl": "Total HT",
        "vat_amount": "Montant TVA",
        "total_incl": "Total TTC",
        "totals": "Totaux",
        "vat_base": "Base HT",
        "total_vat": "Total TVA",
        "amount_paid": "Payé",
        "amount_due": "Reste dû",
        "refunded": "Remboursé",
        "payment": "Paiement",
        "method": "Moyen",
        "paid_on": "Payé le",
        "reference": "Référence",
        "refund": "Remboursement",
        "refunded_on": "Remboursé le",
        "given_back": "Rendu au client",
        "credits": "Avoir sur la facture",
        "credit_reason": "Motif de l'avoir",
        "credit_notes": "Avoirs sur cette facture",
        "left_to_credit": "Reste à créditer",
        "deliveries": "Envois",
        "target": "Destinataire",
        "external_id": "Identifiant externe",
        "detail": "Détail",
        "updated": "Mis à jour",
        "downloads": "Téléchargements par le client",
        "download_pdf": "Télécharger le PDF",
        "resend_title": "Renvoyer le document",
        "resend": "Renvoyer",
        "to": "Adresse e-mail",
        "to_hint": "Pour un e-mail seulement ; vide : l'adresse de l'acheteur.",
        "no_channel": "Aucun canal d'envoi n'est configuré : renseignez la table [email].",
        "credit_title": "Établir un avoir",
        "credit": "Établir l'avoir",
        "credit_hint": "Un document émis ne se modifie pas : on le corrige par un avoir.",
        "credit_all": "Tout ce qui reste à créditer",
        "credit_amount": "Un montant TTC",
        "amount_hint": "Par exemple 12,50",
        "reason_hint": "Imprimé sur l'avoir, par exemple « Retour du carnet A5 ».",
        "no_refund": "Pas de remboursement (correction de prix, rien n'est rendu au client)",
        "no_email": "Ne pas envoyer l'avoir au client",
        "nothing_left": "Cette facture est entièrement créditée.",
        "refused": "Impossible :",
        "issued_anyway": "Déjà émis :",
        "amount_missing": "Saisissez le montant à créditer, ou choisissez « tout ce qui reste ».",
        "pdf_not_archived": "Le PDF de ce document n'est pas encore archivé : il le sera "
        "à son prochain traitement. Voir la page Problèmes s'il tarde.",
        "pdf_missing": "Le PDF archivé de ce document est introuvable dans l'archive.",
        "pdf_altered": "Le PDF archivé de ce document a été altéré : son contenu ne correspond "
        "plus à l'empreinte enregistrée à son émission.",
        "pdf_integrity": "Vérifier et restaurer depuis la page Intégrité",
        "back_to_document": "Retour au document",
        "done_resent": "Envoi programmé vers",
        "done_credited": "Avoir établi :",
        "channel_email": "e-mail",
        "channel_attach": "sur la commande",
        "channel_sms": "SMS",
        "channel_zendesk": "Zendesk",
        "channel_intercom": "Intercom",
        "status_pending": "en attente",
        "status_sent": "envoyé",
        "status_retrying": "nouvel essai prévu",
        "status_failed": "échec",
        "status_skipped": "ignoré",
    },
    "en": {
        "title": "Documents",
        "search": "Search",
        "reset": "Clear",
        "number_hint": "all or part of it",
        "customer_hint": "name or email",
        "since": "From",
        "until": "To",
        "kind": "Kind",
        "all_kinds": "Invoices and credit notes",
        "kind_invoice": "Invoice",
        "kind_credit_note": "Credit note",
        "amount_incl": "Amount incl. VAT",
        "found_none": "No document matches this search.",
        "older": "Older",
        "newest": "Newest",
        "bad_date": "The “%s” field is not a date: enter it as YYYY-MM-DD.",
        "bad_range": "The “From” date is after the “To” date: swap them.",
        "fully_credited": "fully credited",
        "partly_credited": "partly credited",
        "delivered": "delivered",
        "delivery_failed": "delivery failed",
        "sending": "sending",
        "issue_date": "Issue date",
        "buyer": "Buyer",
        "company": "Company",
        "email": "Email",
        "address": "Billing address",
        "shipping": "Shipping address",
        "vat_number": "VAT number",
        "siren": "SIREN",
        "lines": "Lines",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price excl. VAT",
        "discount": "Discount excl. VAT",
        "vat_rate": "VAT",
        "total_excl": "Total excl. VAT",
        "vat_amount": "VAT amount",
        "total_incl": "Total incl. VAT",
        "totals": "Totals",
        "vat_base": "Base excl. VAT",
        "total_vat": "Total VAT",
        "amount_paid": "Paid",
        "amount_due": "Due",
        "refunded": "Refunded",
        "payment": "Payment",
        "method": "Method",
        "paid_on": "Paid on",
        "reference": "Reference",
        "refund": "Refund",
        "refunded_on": "Refunded on",
        "given_back": "Paid back",
        "credits": "Credit note on invoice",
        "credit_reason": "Reason for the credit note",
        "credit_notes": "Credit notes on this invoice",
        "left_to_credit": "Left to credit",
        "deliveries": "Deliveries",
        "target": "Recipient",
        "external_id": "External id",
        "detail": "Detail",
        "updated": "Updated",
        "downloads": "Downloads by the customer",
        "download_pdf": "Download the PDF",
        "resend_title": "Send the document again",
        "resend": "Send again",
        "to": "Email address",
        "to_hint": "For an email only; empty: the buyer's address.",
        "no_channel": "No delivery channel is configured: fill in the [email] table.",
        "credit_title": "Issue a credit note",
        "credit": "Issue the credit note",
        "credit_hint": "An issued document is never edited: it is corrected by a credit note.",
        "credit_all": "Everything left to credit",
        "credit_amount": "An amount incl. VAT",
        "amount_hint": "For example 12.50",
        "reason_hint": "Printed on the credit note, for example “A5 notebook returned”.",
        "no_refund": "No refund (a price correction: nothing is paid back)",
        "no_email": "Do not send the credit note to the customer",
        "nothing_left": "This invoice is fully credited.",
        "refused": "Not done:",
        "issued_anyway": "Issued already:",
        "amount_missing": "Enter the amount to credit, or choose “everything left”.",
        "pdf_not_archived": "This document's PDF is not archived yet: it will be on its next "
        "run. See the Failures page if it takes long.",
        "pdf_missing": "This document's archived PDF is missing from the archive.",
        "pdf_altered": "This document's archived PDF was altered: its bytes no longer match "
        "the fingerprint recorded when it was issued.",
        "pdf_integrity": "Check and restore it from the Integrity page",
        "back_to_document": "Back to the document",
        "done_resent": "Sending queued to",
        "done_credited": "Credit note issued:",
        "channel_email": "email",
        "channel_attach": "on the order",
        "channel_sms": "SMS",
        "channel_zendesk": "Zendesk",
        "channel_intercom": "Intercom",
        "status_pending": "pending",
        "status_sent": "sent",
        "status_retrying": "retrying",
        "status_failed": "failed",
        "status_skipped": "skipped",
    },
}


def document_href(number: str) -> str:
    """A document's page: its "/" encoded, so the number is one path segment to a reader
    (the route takes a path, so an unencoded one works too)."""
    return "/documents/" + quote(number, safe="")


def routes(dash: Dashboard) -> APIRouter:
    router = APIRouter()
    _search_routes(router, dash)
    _pdf_route(router, dash)
    _correction_routes(router, dash)
    # Last: its {number:path} would also take ".../pdf", ".../resend" and ".../credit".
    _document_route(router, dash)
    return router


# --------------------------------------------------------------------------- the search


@dataclass
class _Search:
    """A search as asked: the fields as typed (shown back), what they filter, their
    problems (wording keys and the field each names)."""

    typed: dict[str, str]
    query: DocumentQuery
    before: int | None
    problems: list[tuple[str, str]] = field(default_factory=list)


def _search_routes(router: APIRouter, dash: Dashboard) -> None:
    @router.get("/documents")
    def documents_page(request: Request) -> Response:
        session = dash.reader(request)
        search = _read_search(request, dash.settings.seller.zoneinfo)
        if search.problems:  # nothing is searched on a half-understood request
            return _list_page(dash, request, session, search, [], more=False, status=400)
        store = dash.services.store
        found = store.find_documents(search.query, before_id=search.before, limit=PAGE_SIZE + 1)
        return _list_page(
            dash, request, session, search, found[:PAGE_SIZE], more=len(found) > PAGE_SIZE
        )


def _read_search(request: Request, zone: ZoneInfo) -> _Search:
    params = request.query_params
    typed = {name: params.get(name, "").strip()[:200] for name in SEARCH_FIELDS}
    problems: list[tuple[str, str]] = []
    since = _local_day(typed["since"], "since", problems)
    until = _local_day(typed["until"], "until", problems)
    if since and until and since > until:
        problems.append(("bad_range", ""))
    query = DocumentQuery(
        number=typed["number"],
        customer=typed["customer"],
        order_id=typed["order"],
        shop=typed["shop"],
        kind=typed["kind"] if typed["kind"] in KINDS else "",
        since=_midnight(since, zone) if since else None,
        until=_midnight(until + timedelta(days=1), zone) if until else None,
    )
    return _Search(typed, query, page_id(params.get("before", "")), problems)


def _local_day(text: str, name: str, problems: list[tuple[str, str]]) -> date | None:
    if not text:
        return None
    day = sale_day(text)  # 2025-02-30 and 0001-01-01 alike: no day a document is dated by
    if day is None:
        problems.append(("bad_date", name))
    return day


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The seller's midnight starting `day`, as aware UTC: the days the owner searches by
    are the ones their documents are dated by."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _list_page(
    dash: Dashboard, request: Request, session: Session, search: _Search,
    found: list[InvoiceRecord], *, more: bool, status: int = 200,
) -> Response:  # fmt: skip
    states = dash.services.store.document_states([doc.id for doc in found])
    rows = [_row(doc, states[doc.id]) for doc in found]
    return dash.page(
        request, session, "documents.html", wording=WORDING, status=status,
        typed=search.typed, problems=search.problems, rows=rows, kinds=KINDS,
        shops=sorted(dash.services.store.document_shops()),
        older=_page_link(search.typed, found[-1].id) if more and found else "",
        newest=_page_link(search.typed, None) if search.before is not None else "",
    )  # fmt: skip


def _row(doc: InvoiceRecord, state: DocumentState) -> dict[str, Any]:
    return {"doc": doc, "href": document_href(doc.number), "badges": _badges(doc, state)}


def _badges(doc: InvoiceRecord, state: DocumentState) -> list[tuple[str, str]]:
    """(wording key, CSS class) of what the owner looks for in a list: is it credited, did
    it reach the customer."""
    badges: list[tuple[str, str]] = []
    if state.credit_notes:
        whole = state.credited >= doc.snapshot.totals.total_incl
        badges.append(("fully_credited" if whole else "partly_credited", ""))
    statuses = set(state.channels.values())
    if "failed" in statuses:
        badges.append(("delivery_failed", "bad"))
    if "sent" in statuses:
        badges.append(("delivered", "good"))
    if statuses & {"pending", "retrying"}:
        badges.append(("sending", ""))
    return badges


def _page_link(typed: dict[str, str], before: int | None) -> str:
    kept = {name: value for name, value in typed.items() if value}
    if before is not None:
        kept["before"] = str(before)
    return "/documents" + (f"?{urlencode(kept)}" if kept else "")


# --------------------------------------------------------------------------- one document


@dataclass
class _Outcome:
    """What the last correction said, shown above the forms: a wording key and/or the
    refusal's own text, the documents issued before it stopped, what the owner typed."""

    key: str = ""
    text: str = ""
    issued: list[InvoiceRecord] = field(default_factory=list)
    typed: dict[str, str] = field(default_factory=dict)
    request_id: str = ""  # the refused request's, when it may have issued (else a new one)


def _document_route(router: APIRouter, dash: Dashboard) -> None:
    @router.get("/documents/{number:path}")
    def document_page(request: Request, number: str) -> Response:
        session = dash.reader(request)
        doc = dash.services.store.get_invoice(number)
        if doc is None:
            return _not_found(dash, request, session)
        return _document_page(dash, request, session, doc)


def _document_page(
    dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord, *,
    outcome: _Outcome | None = None, status: int = 200,
) -> Response:  # fmt: skip
    svc = dash.services
    locale = dash.frame.locale(request, session)
    credited = svc.store.get_invoice_by_id(doc.credited_invoice_id) if (
        doc.credited_invoice_id is not None) else None  # fmt: skip
    is_invoice = doc.kind == "invoice"
    return dash.page(
        request, session, "document.html", wording=WORDING, status=status,
        doc=doc, s=doc.snapshot, href=document_href,
        day=lambda value: _day(value, locale),
        credited=credited,
        credit_notes=svc.store.credit_notes_of(doc.id) if is_invoice else [],
        remaining=remaining_to_credit(svc, doc) if is_invoice else Decimal(0),
        deliveries=svc.store.deliveries_for([doc.id]),
        downloads=svc.store.downloads_of(doc.id),
        channels=resend_channels(svc, doc) if session.is_owner else [],
        outcome=outcome or _Outcome(),
        # The forms' id: the same form posted twice (a double click, a reload of the POST)
        # is one request, so one credit note, one delivery (bridge/corrections.py).
        request_id=(outcome and outcome.request_id) or secrets.token_urlsafe(16),
    )  # fmt: skip


def _day(value: date | None, locale: str) -> str:
    if value is None:
        return "—"
    return format_date(value, "medium", locale="fr_FR" if locale == "fr" else "en_GB")


def _not_found(dash: Dashboard, request: Request, session: Session) -> Response:
    return dash.page(request, session, "message.html", status=404, message="not_found")


# --------------------------------------------------------------------------- the PDF


def _pdf_route(router: APIRouter, dash: Dashboard) -> None:
    @router.get("/documents/{number:path}/pdf")
    def document_pdf(request: Request, number: str) -> Response:
        session = dash.reader(request)
        store = dash.services.store
        doc = store.get_invoice(number)
        if doc is None:
            # a number may itself end in "/pdf" (numbers hold "/"): then it is its page
            named = store.get_invoice(number + "/pdf")
            if named is not None:
                return _document_page(dash, request, session, named)
            return _not_found(dash, request, session)
        return _pdf(dash, request, session, doc)


def _pdf(dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord) -> Response:
    """The archived bytes as they are: never rendered or restored from here (`verify` and the
    Integrity page do that, and leave their trace)."""
    if doc.pdf_sha256 is None:
        return _pdf_missing(dash, request, session, doc, "")
    try:
        data = dash.services.archive.read(doc.pdf_sha256)
    except ArchiveCorruptError:  # "missing" or "altered"; where it lies is not the page's
        missing = dash.services.archive.state(doc.pdf_sha256) is FileState.missing
        return _pdf_missing(dash, request, session, doc, "missing" if missing else "altered")
    dash.audit(request, session, "document.download", invoice_number=doc.number, shop=doc.shop)
    filename = doc.number.replace("/", "_") + ".pdf"
    return private(
        Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    )


def _pdf_missing(
    dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord, problem: str
) -> Response:
    return dash.page(
        request, session, "document_pdf_missing.html", wording=WORDING, status=404,
        doc=doc, href=document_href, problem=problem,
    )  # fmt: skip


# --------------------------------------------------------------------------- corrections


def _correction_routes(router: APIRouter, dash: Dashboard) -> None:
    @router.post("/documents/{number:path}/resend")
    def resend(
        request: Request, number: str, csrf: str = Form(""), channel: str = Form("email"),
        to: str = Form(""), request_id: str = Form(""),
    ) -> Response:  # fmt: skip
        session = dash.form(request, csrf)  # before the lookup: a stranger learns nothing
        doc = dash.services.store.get_invoice(number)
        if doc is None:
            return _not_found(dash, request, session)
        return _resend(dash, request, session, doc, channel, to.strip(), request_id or None)

    @router.post("/documents/{number:path}/credit")
    def credit(
        request: Request, number: str, csrf: str = Form(""), reason: str = Form(""),
        scope: str = Form("all"), amount: str = Form(""), no_refund: str = Form(""),
        no_email: str = Form(""), request_id: str = Form(""),
    ) -> Response:  # fmt: skip
        session = dash.form(request, csrf)
        doc = dash.services.store.get_invoice(number)
        if doc is None:
            return _not_found(dash, request, session)
        asked = _CreditAsked(
            reason=reason.strip(), amount=amount.strip() if scope == "amount" else None,
            money_back=not no_refund, send_email=not no_email,
            request_id=request_id or None,  # None: a page from before the ids, each post anew
        )  # fmt: skip
        return _credit(dash, request, session, doc, asked)


def _resend(
    dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord, channel: str,
    to: str, request_id: str | None,
) -> Response:  # fmt: skip
    try:
        target = resend_document(dash.services, doc, channel, to or None, request_id=request_id)
    except CorrectionRefused as exc:
        refused = _Outcome(text=str(exc), typed={"channel": channel, "to": to})
        return _document_page(dash, request, session, doc, outcome=refused, status=400)
    dash.audit(
        request, session, "document.resend", invoice_number=doc.number, shop=doc.shop,
        order_id=doc.order_id, channel=channel, target=target,
    )  # fmt: skip
    return _done(document_href(doc.number), "resent", target)


@dataclass(frozen=True)
class _CreditAsked:
    reason: str
    amount: str | None  # None: everything left to credit
    money_back: bool
    send_email: bool
    request_id: str | None

    def typed(self) -> dict[str, str]:
        """The form as the owner filled it, to fill it again when refused."""
        return {
            "reason": self.reason, "scope": "all" if self.amount is None else "amount",
            "amount": self.amount or "", "no_refund": "" if self.money_back else "1",
            "no_email": "" if self.send_email else "1",
        }  # fmt: skip


def _credit(
    dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord, asked: _CreditAsked
) -> Response:
    if asked.amount == "":
        missing = _Outcome(key="amount_missing", typed=asked.typed())
        return _document_page(dash, request, session, doc, outcome=missing, status=400)
    try:
        done = credit_document(
            dash.services, doc, reason=asked.reason, amount=asked.amount,
            money_back=asked.money_back, send_email=asked.send_email,
            request_id=asked.request_id,
        )  # fmt: skip
    except CorrectionRefused as exc:
        if exc.documents:  # issued before it stopped: issued is issued, and audited
            _audit_credit(dash, request, session, doc, asked, exc.documents, problem=str(exc))
        refused = _Outcome(
            text=str(exc), issued=exc.documents, typed=asked.typed(),
            # A problem met once the request ran may come after its note was issued (its PDF
            # not archived): posted again, the form answers with that note, not a second one.
            request_id="" if exc.usage else asked.request_id or "",
        )  # fmt: skip
        return _document_page(dash, request, session, doc, outcome=refused, status=400)
    _audit_credit(dash, request, session, doc, asked, done.documents, repeated=done.repeated)
    note = done.documents[0] if done.documents else doc
    return _done(document_href(note.number), "credited", note.number)


def _audit_credit(
    dash: Dashboard, request: Request, session: Session, doc: InvoiceRecord,
    asked: _CreditAsked, issued: list[InvoiceRecord], problem: str = "", repeated: bool = False,
) -> None:  # fmt: skip
    dash.audit(
        request, session, "document.credit", invoice_number=doc.number, shop=doc.shop,
        order_id=doc.order_id, issued=[d.number for d in issued], reason=asked.reason,
        amount=asked.amount or "remaining", money_back=asked.money_back,
        send_email=asked.send_email, **({"problem": problem} if problem else {}),
        # the same form posted again: `issued` is what its first post issued
        **({"repeated": True} if repeated else {}),
    )  # fmt: skip


def _done(href: str, key: str, what: str) -> Response:
    """After a change, the page again by a redirect (a reload does not post it twice)."""
    target = f"{href}?{urlencode({'done': key, 'what': what})}"
    return private(RedirectResponse(target, status_code=303))
