"""The satisfaction survey of the receipt, through the real public app: the email asks with one
link per score; opening a link (as mail scanners do with every link) records nothing; the
customer's POST, with the page's CSRF pair, records; the answer may change for a while, the
comment is erased in time, and an unhappy answer tells the owner through `[alerts] urls`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient

from bridge.devsmtp import CaptureSMTPServer
from bridge.logs import configure_logging
from bridge.model import Refund
from bridge.portal.wording import PAGE_WORDING
from bridge.store import InvoiceRecord
from bridge.store.schema import surveys
from bridge.web.app import create_app
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.hook import Hook
from tests.support.portal import (
    PUBLIC_URL,
    Bridge,
    assert_private,
    hidden,
    html_of,
    moved,
    new_email,
    order_for,
    page,
    path_of,
    portal_link,
    text_of,
    visible_text,
    visitor,
)

# apprise imports the stdlib's deprecated `imghdr` (its problem, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

QUESTION = "Tout s'est-il bien passé avec votre commande ?"
LABELS = ["Très déçu", "Déçu", "Mitigé", "Satisfait", "Ravi"]  # worst first
ANSWER_DAYS, CHANGE_DAYS, COMMENT_DAYS = 60, 14, 365  # [[surveys]] defaults
SURVEY = {"enabled": True, "scale": 5, "question_fr": QUESTION, "labels_fr": LABELS}
FR = PAGE_WORDING["fr"]

_SURVEY_LINE = re.compile(r"^- (?P<label>.+): (?P<url>https://\S+/survey/\S+)$", re.M)


@pytest.fixture(scope="module", autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")
    yield
    structlog.reset_defaults()


@dataclass
class Surveyed:
    bridge: Bridge
    hook: Hook

    def alerts_about(self, invoice: InvoiceRecord) -> list[dict[str, Any]]:
        return [p for p in self.hook.posts if invoice.number in str(p.get("title", ""))]


@pytest.fixture(scope="module")
def surveyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Surveyed]:
    """A WooCommerce shop asking its 5-point question (a [[surveys]] table names a [[shops]]
    entry), the owner's alerts to a hook on loopback."""
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo, Hook() as hook:
        bridge = Bridge.start(
            tmp_path_factory.mktemp("survey"),
            smtp,
            woo=woo,
            surveys=[{"shop": "boutique", **SURVEY}],
            alerts={"urls": [hook.url], "dedupe_window_minutes": 60},
        )
        try:
            yield Surveyed(bridge, hook)
        finally:
            bridge.close()


@pytest.fixture(scope="module")
def bridge(surveyed: Surveyed) -> Bridge:
    return surveyed.bridge


@dataclass(frozen=True)
class Asked:
    invoice: InvoiceRecord
    email: str
    text: str  # the receipt's plain text
    links: dict[int, str]  # score → the link of that choice
    labels: dict[int, str]  # score → the label the email shows beside it


def survey_links(text: str) -> tuple[dict[int, str], dict[int, str]]:
    links, labels = {}, {}
    for line in _SURVEY_LINE.finditer(text):
        (score,) = parse_qs(urlsplit(line["url"]).query)["score"]
        links[int(score)] = line["url"]
        labels[int(score)] = line["label"]
    return links, labels


def ask(bridge: Bridge) -> Asked:
    """A new customer's order, issued and emailed with the question."""
    email = new_email()
    invoice = bridge.issue_for(email)
    text = text_of(bridge.receipt(invoice.number))
    links, labels = survey_links(text)
    return Asked(invoice, email, text, links, labels)


@pytest.fixture(scope="module")
def asked(bridge: Bridge) -> Asked:
    """A customer asked and never answering (tests only look, or are refused)."""
    return ask(bridge)


@pytest.fixture
def fresh(bridge: Bridge) -> Asked:
    """A customer of the test's own, to answer."""
    return ask(bridge)


def score_of(bridge: Bridge, asked: Asked) -> int | None:
    survey = bridge.store.survey(asked.invoice.id)
    assert survey is not None
    return survey.score


def open_form(client: TestClient, link: str) -> httpx.Response:
    form = client.get(path_of(link))
    assert form.status_code == 200, form.text
    return form


def submit(
    client: TestClient,
    link: str,
    score: int,
    comment: str = "",
    form: httpx.Response | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """What the customer does: open the link, keep (or change) the choice, send (the CSRF
    pair of `form`, by default the link's own page)."""
    form = form or open_form(client, link)
    fields = {"score": str(score), "comment": comment, "csrf": hidden(form.text, "csrf")}
    return client.post(urlsplit(link).path, data=fields, headers=headers or {})


def alert_jobs(bridge: Bridge, invoice: InvoiceRecord) -> int:
    return sum(1 for job in bridge.jobs("survey_alert") if job.invoice_id == invoice.id)


def said(html: str, text: str) -> bool:
    return " ".join(text.replace("\u00a0", " ").split()) in visible_text(html)


# -- the question in the receipt -----------------------------------------------------------


def test_the_receipt_asks_the_shops_question(asked: Asked) -> None:
    assert QUESTION in asked.text.replace("\u00a0", " ")


def test_the_receipt_has_one_link_per_score(asked: Asked) -> None:
    assert sorted(asked.links) == [1, 2, 3, 4, 5]
    assert len(set(asked.links.values())) == 5
    assert all(url.startswith(f"{PUBLIC_URL}/survey/") for url in asked.links.values())


def test_each_score_link_carries_its_label_worst_first(asked: Asked) -> None:
    assert [asked.labels[score] for score in range(1, 6)] == LABELS


def test_the_invoice_is_recorded_as_invited(bridge: Bridge, asked: Asked) -> None:
    survey = bridge.store.survey(asked.invoice.id)
    assert survey is not None
    assert (survey.scale, survey.score, survey.comment) == (5, None, None)
    assert survey.number == asked.invoice.number


@dataclass(frozen=True)
class Credited:
    invoice: InvoiceRecord
    note: InvoiceRecord
    text: str  # the credit note's email


@pytest.fixture(scope="module")
def credited(bridge: Bridge) -> Credited:
    order = order_for(new_email(), shop=bridge.shop)
    paid = order.payment.paid_at
    refund = Refund(refund_id="r1", amount=Decimal("10.00"), reason="Geste", created_at=paid)
    invoice = bridge.issue(order.model_copy(update={"refunds": [refund]}))
    notes = [
        d
        for d in bridge.store.documents_for_order(order.shop, order.order_id)
        if d.kind == "credit_note"
    ]
    (note,) = notes
    return Credited(invoice, note, text_of(bridge.receipt(note.number)))


def test_a_credit_notes_email_asks_nothing(credited: Credited) -> None:
    assert "/survey/" not in credited.text
    assert QUESTION not in credited.text


def test_a_credit_note_is_not_recorded_as_invited(bridge: Bridge, credited: Credited) -> None:
    assert bridge.store.survey(credited.note.id) is None


@pytest.mark.parametrize(
    "survey",
    [pytest.param(None, id="no_surveys_table"), pytest.param({"enabled": False}, id="disabled")],
)
def test_a_shop_that_does_not_ask_sends_no_survey(
    tmp_path_factory: pytest.TempPathFactory, survey: dict[str, Any] | None
) -> None:
    surveys = [] if survey is None else [{"shop": "boutique", **SURVEY, **survey}]
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo:
        folder = tmp_path_factory.mktemp("no-survey")
        quiet = Bridge.start(folder, smtp, woo=woo, surveys=surveys)
        try:
            email = new_email()
            invoice = quiet.issue_for(email)
            (message,) = quiet.mails_to(email)
            invited = quiet.store.survey(invoice.id)
        finally:
            quiet.close()
    assert "/survey/" not in text_of(message) and "/survey/" not in html_of(message)
    assert invited is None


# -- scanner-proof: opening a link records nothing -----------------------------------------


def test_a_get_of_every_score_link_records_nothing(bridge: Bridge, asked: Asked) -> None:
    client = bridge.visitor()
    for link in asked.links.values():
        assert client.get(path_of(link)).status_code == 200
    assert score_of(bridge, asked) is None


def test_a_head_of_every_score_link_records_nothing(bridge: Bridge, asked: Asked) -> None:
    client = bridge.visitor()
    for link in asked.links.values():
        client.head(path_of(link))
    assert score_of(bridge, asked) is None


def test_the_page_preselects_the_score_of_the_link(bridge: Bridge, asked: Asked) -> None:
    client = bridge.visitor()
    for score, link in asked.links.items():
        html = open_form(client, link).text
        assert page(html).xpath("//input[@name='score'][@checked]/@value") == [str(score)]


def test_the_page_posts_to_its_own_link(bridge: Bridge, asked: Asked) -> None:
    html = open_form(bridge.visitor(), asked.links[2]).text
    assert page(html).xpath("//form[@method='post']/@action") == [urlsplit(asked.links[2]).path]


def test_the_page_offers_every_choice_with_its_label(bridge: Bridge, asked: Asked) -> None:
    html = open_form(bridge.visitor(), asked.links[3]).text
    choices = {
        radio.get("value"): " ".join(label.text_content().split())
        for radio in page(html).xpath("//input[@name='score']")
        for label in page(html).xpath(f"//label[@for='{radio.get('id')}']")
    }
    assert choices == {str(n): LABELS[n - 1] for n in range(1, 6)}


@pytest.mark.parametrize("missing", ["cookie", "field"])
def test_a_post_without_the_csrf_pair_records_nothing(
    bridge: Bridge, asked: Asked, missing: str
) -> None:
    client = bridge.visitor()
    form = open_form(client, asked.links[4])
    fields = {"score": "4", "comment": "Très bien", "csrf": hidden(form.text, "csrf")}
    if missing == "cookie":
        client.cookies.clear()
    else:
        del fields["csrf"]
    answer = client.post(urlsplit(asked.links[4]).path, data=fields)
    assert answer.status_code == 400
    assert score_of(bridge, asked) is None


def test_a_post_from_another_site_records_nothing(bridge: Bridge, asked: Asked) -> None:
    client = bridge.visitor()
    answer = submit(client, asked.links[1], 1, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 400
    assert score_of(bridge, asked) is None


def test_a_post_from_our_own_page_with_origin_null_records_the_answer(
    bridge: Bridge, fresh: Asked
) -> None:
    """A page served with `Referrer-Policy: no-referrer` posts its form with `Origin: null`
    (the Fetch standard; Chromium does so)."""
    answer = submit(bridge.visitor(), fresh.links[5], 5, headers={"Origin": "null"})
    assert answer.status_code == 200
    assert score_of(bridge, fresh) == 5


# -- answering, changing, closing ----------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    asked: Asked
    thanks: httpx.Response


@pytest.fixture(scope="module")
def answered(bridge: Bridge) -> Answered:
    """A customer who clicked "Ravi" in the email, chose "Satisfait" on the page and sent it
    with a comment (and then only looks)."""
    asked = ask(bridge)
    return Answered(asked, submit(bridge.visitor(), asked.links[5], 4, "Livraison rapide"))


def test_a_post_with_the_csrf_pair_records_the_score(bridge: Bridge, answered: Answered) -> None:
    assert answered.thanks.status_code == 200
    assert score_of(bridge, answered.asked) == 4


def test_a_post_with_the_csrf_pair_records_the_comment(bridge: Bridge, answered: Answered) -> None:
    survey = bridge.store.survey(answered.asked.invoice.id)
    assert survey is not None and survey.comment == "Livraison rapide"


def test_the_thanks_page_names_the_answer_recorded(answered: Answered) -> None:
    assert said(answered.thanks.text, FR["thanks_recorded"].format(label=LABELS[3]))


def test_a_second_answer_within_the_change_days_changes_it(bridge: Bridge, fresh: Asked) -> None:
    client = bridge.visitor()
    submit(client, fresh.links[4], 4, "Bien")
    first = bridge.store.survey(fresh.invoice.id)
    with moved(days=CHANGE_DAYS - 1):
        changed = submit(client, fresh.links[5], 5, "Très bien, finalement")
    assert changed.status_code == 200
    assert said(changed.text, FR["thanks_changed"].format(label=LABELS[4]))
    survey = bridge.store.survey(fresh.invoice.id)
    assert survey is not None and first is not None
    assert (survey.score, survey.comment) == (5, "Très bien, finalement")
    assert survey.first_answered_at == first.first_answered_at


def test_after_the_change_days_the_page_says_closed(bridge: Bridge, answered: Answered) -> None:
    with moved(days=CHANGE_DAYS + 1):
        closed = bridge.visitor().get(path_of(answered.asked.links[1]))
    assert closed.status_code == 410
    assert not page(closed.text).xpath("//input[@name='score']")
    assert said(closed.text, FR["closed_locked_title"])


def test_after_the_change_days_a_post_changes_nothing(
    bridge: Bridge, answered: Answered, asked: Asked
) -> None:
    with moved(days=CHANGE_DAYS + 1):
        client = bridge.visitor()
        form = open_form(client, asked.links[1])  # any open survey's form: a valid CSRF pair
        refused = submit(client, answered.asked.links[1], 1, "Finalement non", form=form)
    assert refused.status_code == 410
    survey = bridge.store.survey(answered.asked.invoice.id)
    assert survey is not None and (survey.score, survey.comment) == (4, "Livraison rapide")


def test_after_the_answer_days_an_unanswered_survey_is_closed(bridge: Bridge, asked: Asked) -> None:
    with moved(days=ANSWER_DAYS + 1):
        closed = bridge.visitor().get(path_of(asked.links[4]))
    assert closed.status_code == 410
    assert said(closed.text, FR["closed_expired_title"])
    assert score_of(bridge, asked) is None


def test_a_comment_is_erased_after_the_comment_days_and_the_score_kept(
    bridge: Bridge, fresh: Asked
) -> None:
    submit(bridge.visitor(), fresh.links[5], 5, "Emballage soigné")
    with moved(days=COMMENT_DAYS + 1):
        assert bridge.store.erase_expired_customer_data() >= 1
    survey = bridge.store.survey(fresh.invoice.id)
    assert survey is not None and (survey.score, survey.comment) == (5, None)


# -- an unhappy customer tells the owner ---------------------------------------------------


@dataclass(frozen=True)
class Unhappy:
    asked: Asked
    jobs: int  # "survey_alert" jobs of the invoice once answered
    alerts: list[dict[str, Any]]  # what the owner's hook received once they ran


@pytest.fixture(scope="module")
def unhappy(surveyed: Surveyed) -> Unhappy:
    bridge = surveyed.bridge
    asked = ask(bridge)
    submit(bridge.visitor(), asked.links[1], 1, "Colis arrivé ouvert, théière fêlée")
    jobs = alert_jobs(bridge, asked.invoice)
    work(bridge.svc, once=True)
    return Unhappy(asked, jobs, surveyed.alerts_about(asked.invoice))


def test_the_worst_score_queues_one_owner_alert(unhappy: Unhappy) -> None:
    assert unhappy.jobs == 1


def test_the_owner_alert_names_the_order(unhappy: Unhappy) -> None:
    (alert,) = unhappy.alerts
    assert unhappy.asked.invoice.snapshot.order.reference in alert["message"]


def test_the_owner_alert_carries_the_comment(unhappy: Unhappy) -> None:
    (alert,) = unhappy.alerts
    assert "Colis arrivé ouvert, théière fêlée" in alert["message"]


def test_the_second_worst_score_queues_one_owner_alert(bridge: Bridge, fresh: Asked) -> None:
    submit(bridge.visitor(), fresh.links[2], 2)
    assert alert_jobs(bridge, fresh.invoice) == 1


def test_the_middle_score_queues_no_alert(bridge: Bridge, fresh: Asked) -> None:
    assert submit(bridge.visitor(), fresh.links[3], 3).status_code == 200
    assert alert_jobs(bridge, fresh.invoice) == 0


def test_a_top_score_queues_no_alert(bridge: Bridge, answered: Answered) -> None:
    assert score_of(bridge, answered.asked) == 4
    assert alert_jobs(bridge, answered.asked.invoice) == 0


# -- the links a survey page hands out -----------------------------------------------------


def portal_links_on(html: str) -> list[str]:
    return [u for u in page(html).xpath("//a/@href") if "/portal/" in u]


def opens_documents(client: TestClient, link: str) -> bool:
    answer = client.get(path_of(link))
    return answer.status_code == 200 and 'class="documents"' in answer.text


def test_a_revoked_customers_survey_link_opens_no_portal(bridge: Bridge, fresh: Asked) -> None:
    bridge.store.revoke_customer_links(bridge.shop, fresh.email)
    client = bridge.visitor()
    thanks = submit(client, fresh.links[4], 4)
    links = portal_links_on(thanks.text)
    assert links  # the way to one's documents: the form that emails the address on file
    assert not any(opens_documents(client, link) for link in links)


def test_an_expired_survey_link_opens_no_portal(bridge: Bridge, asked: Asked) -> None:
    old_portal = portal_link(bridge.receipt(asked.invoice.number))
    with moved(days=max(ANSWER_DAYS, 90) + 30):
        client = bridge.visitor()
        assert client.get(path_of(old_portal)).status_code == 410  # the receipt's own: expired
        closed = client.get(path_of(asked.links[4]))
        assert not any(opens_documents(client, link) for link in portal_links_on(closed.text))


def test_the_survey_pages_point_to_the_new_link_form(bridge: Bridge, fresh: Asked) -> None:
    thanks = submit(bridge.visitor(), fresh.links[4], 4)
    assert [urlsplit(link).path for link in portal_links_on(thanks.text)] == [
        f"/portal/request/{bridge.shop}"
    ]


# -- every answer is private ---------------------------------------------------------------


Answer = Callable[[Bridge, Asked, Answered], httpx.Response]

ANSWERS: dict[str, tuple[Answer, int]] = {
    "form": (lambda b, a, _: b.visitor().get(path_of(a.links[3])), 200),
    "thanks": (lambda b, a, done: done.thanks, 200),
    "refused": (lambda b, a, _: b.visitor().post(urlsplit(a.links[3]).path, data={}), 400),
    "invalid": (lambda b, a, _: b.visitor().get("/survey/not-a-token?score=1"), 404),
}


def _closed(b: Bridge, a: Asked, done: Answered) -> httpx.Response:
    with moved(days=CHANGE_DAYS + 1):
        return b.visitor().get(path_of(done.asked.links[4]))


ANSWERS["closed"] = (_closed, 410)


@pytest.mark.parametrize("name", ANSWERS)
def test_every_survey_answer_is_private(
    bridge: Bridge, asked: Asked, answered: Answered, name: str
) -> None:
    answer, status = ANSWERS[name]
    response = answer(bridge, asked, answered)
    assert response.status_code == status
    assert_private(response)


# -- what the review of the first version found ------------------------------------------


def test_an_answer_changed_before_its_alert_runs_alerts_nobody(
    surveyed: Surveyed, fresh: Asked
) -> None:
    bridge = surveyed.bridge
    client = bridge.visitor()
    submit(client, fresh.links[1], 1, "Rien ne va")
    submit(client, fresh.links[5], 5, "En fait tout va bien")
    work(bridge.svc, once=True)
    assert surveyed.alerts_about(fresh.invoice) == []


def test_the_alert_job_carries_the_score_it_is_about(bridge: Bridge, fresh: Asked) -> None:
    submit(bridge.visitor(), fresh.links[2], 2)
    (job,) = [j for j in bridge.jobs("survey_alert") if j.invoice_id == fresh.invoice.id]
    assert job.payload["score"] == 2


def test_two_survey_forms_open_in_one_browser_both_submit(bridge: Bridge) -> None:
    first, second = ask(bridge), ask(bridge)
    client = bridge.visitor()
    first_form = open_form(client, first.links[4])
    open_form(client, second.links[3])  # another tab: the first form must stay valid
    assert submit(client, first.links[4], 4, form=first_form).status_code == 200
    assert score_of(bridge, first) == 4


def test_an_old_link_still_opens_after_the_owner_changes_the_scale(
    bridge: Bridge, fresh: Asked
) -> None:
    changed = bridge.replica("three-points", surveys=[{"shop": bridge.shop, "scale": 3}])
    answer = visitor(create_app(changed)).get(path_of(fresh.links[5]))
    assert answer.status_code == 200
    assert len(page(answer.text).xpath("//input[@name='score']")) == 5  # as it was asked


def test_control_and_bidi_characters_are_removed_from_a_comment(
    bridge: Bridge, fresh: Asked
) -> None:
    submit(bridge.visitor(), fresh.links[4], 4, "Bien\x1b[2J reçu\u202e merci\x07")
    survey = bridge.store.survey(fresh.invoice.id)
    assert survey is not None and survey.comment == "Bien [2J reçu merci"


def test_the_same_unhappy_answer_sent_again_alerts_the_owner_once(
    surveyed: Surveyed, fresh: Asked
) -> None:
    bridge = surveyed.bridge
    for _ in range(3):
        submit(bridge.visitor(), fresh.links[1], 1, "Toujours rien reçu")
        work(bridge.svc, once=True)
    assert len(surveyed.alerts_about(fresh.invoice)) == 1


def test_a_lost_invitation_is_recorded_on_the_scale_the_email_asked(
    bridge: Bridge, fresh: Asked
) -> None:
    with bridge.store.engine.begin() as conn:  # as if the send had not recorded it
        conn.execute(surveys.delete().where(surveys.c.invoice_id == fresh.invoice.id))
    changed = bridge.replica("lost-three", surveys=[{"shop": bridge.shop, "scale": 3}])
    assert visitor(create_app(changed)).get(path_of(fresh.links[5])).status_code == 200
    survey = bridge.store.survey(fresh.invoice.id)
    assert survey is not None and survey.scale == 5


def test_a_lost_invitation_of_a_shop_that_stopped_asking_opens_nothing(
    bridge: Bridge, fresh: Asked
) -> None:
    with bridge.store.engine.begin() as conn:
        conn.execute(surveys.delete().where(surveys.c.invoice_id == fresh.invoice.id))
    stopped = bridge.replica("stopped", surveys=[{"shop": bridge.shop, "enabled": False}])
    assert visitor(create_app(stopped)).get(path_of(fresh.links[5])).status_code == 404
    assert bridge.store.survey(fresh.invoice.id) is None
