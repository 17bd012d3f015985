"""The owner's dashboard's store code on SQLite and PostgreSQL: its accounts, sessions, cookie
key, rate-limit counts and audit trail (bridge/store/dashboard.py, dashboard_side.py), the
document search (bridge/store/search.py) and the delivery log (bridge/store/delivery_log.py),
over documents issued through a bare store's real numbering.

Every date comes from the store's frozen clock, set to the present when a test starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import update

from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.store import InvoiceRecord, Store
from bridge.store.deliveries import DeliveryIn
from bridge.store.delivery_log import DeliveryFilter, DeliveryLine
from bridge.store.schema import dashboard_users
from bridge.store.search import DocumentQuery
from tests.support.clock import FrozenClock
from tests.support.credit_notes import CREDIT_SERIES, REFUND_AFTER, credit_note_of
from tests.support.snapshots import make_snapshot

HOUR = timedelta(hours=1)
WORKER = "dashboard-store-test"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    with Store.open(db_url, clock=clock) as s:
        yield s


def issue_doc(
    store: Store,
    order_id: str,
    *,
    shop: str = "shop-a",
    series: str = "FA",
    name: str = "Marie Dupont",
    company: str = "",
    email: str = "marie@example.fr",
) -> InvoiceRecord:
    """The b2c case's invoice for `order_id`, its buyer as given, issued now by the store's
    clock."""
    now = store.clock()

    def build(seq: int) -> InvoiceSnapshot:
        snapshot = make_snapshot(seq, shop=shop, order_id=order_id, series=series, issued_at=now)
        buyer = snapshot.buyer.model_copy(update={"name": name, "company": company, "email": email})
        return snapshot.model_copy(update={"buyer": buyer})

    return store.issue_invoice(
        shop=shop, order_id=order_id, kind="invoice", series=series, period=str(now.year),
        build=build,
    ).invoice  # fmt: skip


def credit(
    store: Store, invoice: InvoiceRecord, *, lines: Sequence[int] = (1,), reference: str
) -> InvoiceRecord:
    """A credit note giving back `lines` of `invoice` (issued after it, as a refund's is)."""
    period = str((invoice.issued_at + REFUND_AFTER + timedelta(minutes=2)).year)

    def build(seq: int, _earlier: list[InvoiceSnapshot]) -> InvoiceSnapshot:
        return credit_note_of(invoice.snapshot, lines=lines, sequence=seq, reference=reference)

    return store.issue_credit_note(
        original=invoice, source=f"refund:{reference}", series=CREDIT_SERIES, period=period,
        build=build,
    ).invoice  # fmt: skip


def deliver(
    store: Store, invoice: InvoiceRecord, channel: str, status: str, target: str = ""
) -> None:
    """One hand-over of `invoice` on `channel` (a job and its delivery row), left `status`
    as the job queue leaves it."""
    target = target or f"{channel}-{invoice.number}"
    job_id = store.enqueue_delivery(channel, invoice, {}, target=target)
    if status == "pending":
        return
    (job,) = [j for j in store.claim_jobs(WORKER, limit=100, kinds=[channel]) if j.id == job_id]
    for other in store.claim_jobs(WORKER, limit=100, kinds=[channel]):
        store.release_job(other.id, WORKER)
    entry = DeliveryIn(channel, target, status)
    if status == "sent":
        assert store.complete_job(job.id, WORKER, delivery=entry)
    elif status == "failed":
        assert store.kill_job(job.id, WORKER, error="550 refused", delivery=entry)
    elif status == "skipped":
        assert store.skip_job(job.id, WORKER, reason="no address", delivery=entry)
    else:
        run_at = store.clock() + HOUR
        assert store.retry_job(job.id, WORKER, error="timeout", run_at=run_at, delivery=entry)


def numbers(docs: Sequence[InvoiceRecord]) -> list[str]:
    return [d.number for d in docs]


def found(store: Store, **query: str) -> set[str]:
    """The numbers a search by these text fields finds."""
    return set(numbers(store.find_documents(DocumentQuery(**query))))


def open_session(store: Store, session_id: str, username: str, until: datetime) -> None:
    user = store.dashboard_user(username)
    assert user is not None
    store.open_dashboard_session(session_id, user.id, f"csrf-{session_id}", until)


# -- accounts -------------------------------------------------------------------------------


def test_save_dashboard_user_creates_then_updates(store: Store) -> None:
    assert store.save_dashboard_user("alice", "hash-1", "owner", "en") is True
    assert store.save_dashboard_user("alice", "hash-2", "accountant", "fr") is False
    user = store.dashboard_user("alice")
    assert user is not None
    assert (user.password_hash, user.role, user.locale) == ("hash-2", "accountant", "fr")
    assert [u.username for u in store.dashboard_users()] == ["alice"]


def test_updating_a_dashboard_user_ends_that_users_sessions_only(
    store: Store, clock: FrozenClock
) -> None:
    store.save_dashboard_user("alice", "hash-1", "owner", "en")
    store.save_dashboard_user("bob", "hash-1", "accountant", "en")
    open_session(store, "s-alice", "alice", clock() + HOUR)
    open_session(store, "s-bob", "bob", clock() + HOUR)
    clock.advance(minutes=1)
    store.save_dashboard_user("alice", "hash-2", "owner", "en")
    assert store.dashboard_session("s-alice") is None
    assert store.dashboard_session("s-bob") is not None


def test_updating_a_dashboard_user_records_the_password_change(
    store: Store, clock: FrozenClock
) -> None:
    store.save_dashboard_user("alice", "hash-1", "owner", "en")
    created = clock()
    clock.advance(minutes=5)
    store.save_dashboard_user("alice", "hash-2", "owner", "en")
    user = store.dashboard_user("alice")
    assert user is not None
    assert user.created_at == created and user.password_changed_at == clock()


# -- sessions -------------------------------------------------------------------------------


def test_dashboard_session_is_found_before_it_expires(store: Store, clock: FrozenClock) -> None:
    store.save_dashboard_user("alice", "hash", "owner", "en")
    until = clock() + HOUR
    open_session(store, "s1", "alice", until)
    clock.advance(minutes=59)
    found_session = store.dashboard_session("s1")
    assert found_session is not None
    assert found_session.user.username == "alice"
    assert (found_session.csrf, found_session.expires_at) == ("csrf-s1", until)


def test_dashboard_session_is_none_once_expired(store: Store, clock: FrozenClock) -> None:
    store.save_dashboard_user("alice", "hash", "owner", "en")
    open_session(store, "s1", "alice", clock() + HOUR)
    clock.advance(hours=1)
    assert store.dashboard_session("s1") is None


def test_dashboard_session_is_none_for_a_disabled_user(store: Store, clock: FrozenClock) -> None:
    store.save_dashboard_user("alice", "hash", "owner", "en")
    open_session(store, "s1", "alice", clock() + HOUR)
    assert store.disable_dashboard_user("alice") is True
    assert store.dashboard_session("s1") is None


def test_dashboard_session_is_none_for_a_user_disabled_behind_its_back(
    store: Store, clock: FrozenClock
) -> None:
    """The account's own `disabled_at` is checked, not only the sessions disabling deletes."""
    store.save_dashboard_user("alice", "hash", "owner", "en")
    open_session(store, "s1", "alice", clock() + HOUR)
    with store.engine.begin() as conn:
        conn.execute(update(dashboard_users).values(disabled_at=clock()))
    assert store.dashboard_session("s1") is None


def test_dashboard_session_is_none_when_opened_before_the_latest_password_change(
    db_url: str, store: Store, clock: FrozenClock
) -> None:
    """A replica that checked the old password (its clock a little behind) opens the session
    after another replica changed the password and ended the sessions: the session begun
    before the change does not count."""
    store.save_dashboard_user("alice", "hash-1", "owner", "en")
    clock.advance(minutes=1)
    store.save_dashboard_user("alice", "hash-2", "owner", "en")
    behind = FrozenClock(clock() - timedelta(seconds=5))
    with Store.open(db_url, clock=behind) as late_replica:
        open_session(late_replica, "s1", "alice", clock() + HOUR)
    assert store.dashboard_session("s1") is None


def test_close_dashboard_session_ends_it(store: Store, clock: FrozenClock) -> None:
    store.save_dashboard_user("alice", "hash", "owner", "en")
    open_session(store, "s1", "alice", clock() + HOUR)
    open_session(store, "s2", "alice", clock() + HOUR)
    store.close_dashboard_session("s1")
    assert store.dashboard_session("s1") is None
    assert store.dashboard_session("s2") is not None


# -- the cookie key ---------------------------------------------------------------------------


def test_dashboard_key_is_made_once(store: Store) -> None:
    assert store.dashboard_key("cookie", lambda: "first") == "first"
    assert store.dashboard_key("cookie", lambda: "second") == "first"
    assert store.dashboard_key("other", lambda: "third") == "third"


def test_dashboard_key_is_the_same_for_a_second_store_on_the_database(
    db_url: str, store: Store, clock: FrozenClock
) -> None:
    made = store.dashboard_key("cookie", lambda: "made-by-one")
    with Store.open(db_url, clock=clock) as two:
        assert two.dashboard_key("cookie", lambda: "made-by-two") == made


def race_for_key(replicas: dict[str, Store], name: str) -> dict[str, str]:
    """Each replica asks for key `name` at the same moment, offering a value of its own:
    what each read back."""
    start = threading.Barrier(len(replicas))
    got: dict[str, str] = {}
    errors: list[BaseException] = []

    def ask(me: str, replica: Store) -> None:
        start.wait()
        try:
            got[me] = replica.dashboard_key(name, lambda: f"made-by-{me}")
        except BaseException as exc:  # reported in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=item) for item in replicas.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    return got


def test_two_replicas_racing_for_the_dashboard_key_read_the_same_value(
    db_url: str, clock: FrozenClock
) -> None:
    with Store.open(db_url, clock=clock) as one, Store.open(db_url, clock=clock) as two:
        for n in range(5):
            got = race_for_key({"one": one, "two": two}, f"key-{n}")
            assert got["one"] == got["two"] in ("made-by-one", "made-by-two")


# -- rate-limit counts ------------------------------------------------------------------------


def test_counted_reads_what_allow_request_counted(store: Store) -> None:
    for _ in range(3):
        assert store.allow_request("login:alice", 10, HOUR)
    assert store.counted("login:alice", HOUR) == 3
    assert store.counted("login:bob", HOUR) == 0


def test_counted_is_zero_once_the_window_has_passed(store: Store, clock: FrozenClock) -> None:
    store.allow_request("login:alice", 10, HOUR)
    store.allow_request("login:alice", 10, HOUR)
    clock.advance(minutes=59)
    assert store.counted("login:alice", HOUR) == 2
    clock.advance(minutes=1)
    assert store.counted("login:alice", HOUR) == 0


def test_counted_starts_again_with_the_next_window(store: Store, clock: FrozenClock) -> None:
    store.allow_request("login:alice", 10, HOUR)
    store.allow_request("login:alice", 10, HOUR)
    clock.advance(hours=2)
    store.allow_request("login:alice", 10, HOUR)
    assert store.counted("login:alice", HOUR) == 1


# -- audit trail ------------------------------------------------------------------------------


def test_audit_trail_is_newest_first(store: Store, clock: FrozenClock) -> None:
    for action in ("login", "document.resend", "logout"):
        store.audit(action, user="alice", invoice_number="FA-1" if "." in action else None)
        clock.advance(seconds=1)
    trail = store.audit_trail()
    assert [e.kind for e in trail] == ["dashboard.logout", "dashboard.document.resend",
                                       "dashboard.login"]  # fmt: skip
    assert [e.id for e in trail] == sorted((e.id for e in trail), reverse=True)
    assert trail[1].invoice_number == "FA-1" and trail[1].detail == {"user": "alice"}


def test_audit_keeps_its_detail_with_the_user(store: Store) -> None:
    store.audit("document.credit", user="alice", shop="shop-a", order_id="1001", issued=["AV-1"])
    (line,) = store.audit_trail()
    assert (line.shop, line.order_id) == ("shop-a", "1001")
    assert line.detail == {"user": "alice", "issued": ["AV-1"]}


def test_audit_trail_pages_with_before_id(store: Store) -> None:
    for n in range(5):
        store.audit("login", user=f"user{n}")
    first = store.audit_trail(limit=2)
    second = store.audit_trail(limit=2, before_id=first[-1].id)
    third = store.audit_trail(limit=2, before_id=second[-1].id)
    users = [e.detail["user"] for page in (first, second, third) for e in page]
    assert users == ["user4", "user3", "user2", "user1", "user0"]
    assert store.audit_trail(limit=2, before_id=third[-1].id) == []


def test_audit_trail_holds_only_dashboard_events(store: Store) -> None:
    store.audit("login", user="alice")
    invoice = issue_doc(store, "1001")
    store.append_event("dashboardish", detail={})
    store.audit("logout", user="alice")
    assert store.has_event("invoice.issued", invoice.number)
    assert [e.kind for e in store.audit_trail()] == ["dashboard.logout", "dashboard.login"]


# -- document search --------------------------------------------------------------------------


def test_find_documents_by_part_of_the_number_any_case(store: Store) -> None:
    a = issue_doc(store, "1001", series="FA")
    second = issue_doc(store, "1002", series="FA")
    b = issue_doc(store, "1003", series="FB")
    assert found(store, number=a.number.lower()) == {a.number}
    assert found(store, number="fb-") == {b.number}
    assert found(store, number=f"  {second.number[-4:]} ") == {second.number}  # spaces ignored
    assert found(store, number="zz") == set()


def test_find_documents_by_part_of_the_customers_name(store: Store) -> None:
    marie = issue_doc(store, "1001", name="Marie Dupont")
    issue_doc(store, "1002", name="Bernard Lenoir")
    assert found(store, customer="DUPON") == {marie.number}


def test_find_documents_by_part_of_the_customers_email_any_case(store: Store) -> None:
    marie = issue_doc(store, "1001", email="Marie.Dupont@Example.FR")
    issue_doc(store, "1002", email="bernard@example.fr")
    assert found(store, customer="marie.dupont@example") == {marie.number}


def test_find_documents_by_part_of_the_customers_company(store: Store) -> None:
    acme = issue_doc(store, "1001", name="Marie Dupont", company="Acme SARL")
    issue_doc(store, "1002", name="Bernard Lenoir")
    assert found(store, customer="acme") == {acme.number}


def test_find_documents_looks_at_the_buyer_only(store: Store) -> None:
    """Not the seller or the lines: a word of the seller's address finds nothing."""
    doc = issue_doc(store, "1001")
    seller_name = doc.snapshot.seller.legal_name
    assert seller_name and seller_name.lower() not in doc.snapshot.buyer.name.lower()
    assert found(store, customer=seller_name) == set()


def test_find_documents_by_a_non_ascii_name_in_lower_case(store: Store) -> None:
    emilie = issue_doc(store, "1001", name="Émilie Dûpont", email="emilie@example.fr")
    issue_doc(store, "1002", name="Marie Dupont", email="marie@example.fr")
    assert found(store, customer="dûpont") == {emilie.number}


def test_find_documents_by_a_non_ascii_name_whatever_its_case(store: Store) -> None:
    """Upper-case accented letters are lowered too, in the document and in the query."""
    emilie = issue_doc(store, "1001", name="ÉMILIE DÛPONT", email="emilie@example.fr")
    issue_doc(store, "1002", name="Emilie Dupont", email="other@example.fr")
    assert found(store, customer="émilie dû") == {emilie.number}
    assert found(store, customer="Émilie") == {emilie.number}
    assert found(store, customer="DÛPONT") == {emilie.number}


def test_a_percent_typed_is_taken_literally(store: Store) -> None:
    bio = issue_doc(store, "1001", name="100% Bio")
    issue_doc(store, "1002", name="1000 Bio")
    assert found(store, customer="100%") == {bio.number}
    assert found(store, customer="%") == {bio.number}


def test_an_underscore_typed_is_taken_literally(store: Store) -> None:
    marie = issue_doc(store, "1001", email="marie_dupont@example.fr")
    issue_doc(store, "1002", email="marie.dupont@example.fr")
    assert found(store, customer="marie_dupont") == {marie.number}
    assert found(store, customer="_") == {marie.number}


def test_a_backslash_typed_is_taken_literally(store: Store) -> None:
    odd = issue_doc(store, "1001", name="Dupont \\ Fils")
    issue_doc(store, "1002", name="Dupont Fils")
    assert found(store, customer="t \\ f") == {odd.number}


def test_find_documents_by_order_id_exactly_with_a_leading_hash_ignored(store: Store) -> None:
    first = issue_doc(store, "1001")
    issue_doc(store, "10010")
    assert found(store, order_id="1001") == {first.number}
    assert found(store, order_id="#1001") == {first.number}
    assert found(store, order_id=" #1001 ") == {first.number}
    assert found(store, order_id="100") == set()


def test_find_documents_by_shop(store: Store) -> None:
    a = issue_doc(store, "1001", shop="shop-a")
    b = issue_doc(store, "1001", shop="shop-b")
    assert found(store, shop="shop-a") == {a.number}
    assert found(store, shop="shop-b") == {b.number}


def test_find_documents_by_kind(store: Store, clock: FrozenClock) -> None:
    invoice = issue_doc(store, "1001")
    note = credit(store, invoice, reference="re_1")
    assert found(store, kind="invoice") == {invoice.number}
    assert found(store, kind="credit_note") == {note.number}


def test_find_documents_since_included_until_excluded(store: Store, clock: FrozenClock) -> None:
    start = clock()
    first = issue_doc(store, "1001")
    clock.advance(days=1)
    second = issue_doc(store, "1002")
    clock.advance(days=1)
    third = issue_doc(store, "1003")
    day = timedelta(days=1)
    assert found(store) == {first.number, second.number, third.number}
    query = DocumentQuery(since=start + day, until=start + 2 * day)
    assert numbers(store.find_documents(query)) == [second.number]
    assert numbers(store.find_documents(DocumentQuery(since=start + day))) == [
        third.number,
        second.number,
    ]
    assert numbers(store.find_documents(DocumentQuery(until=start + day))) == [first.number]


def test_find_documents_since_and_until_in_another_timezone(
    store: Store, clock: FrozenClock
) -> None:
    """Aware instants in the seller's zone compare as the instants they are."""
    doc = issue_doc(store, "1001")
    paris_ish = doc.issued_at.astimezone(timezone(timedelta(hours=2)))
    assert numbers(store.find_documents(DocumentQuery(since=paris_ish))) == [doc.number]
    assert store.find_documents(DocumentQuery(until=paris_ish)) == []


def test_find_documents_newest_first(store: Store, clock: FrozenClock) -> None:
    issued = []
    for n in range(3):
        issued.append(issue_doc(store, f"100{n}"))
        clock.advance(minutes=1)
    assert numbers(store.find_documents(DocumentQuery())) == numbers(issued[::-1])


def test_find_documents_orders_by_issue_time_before_id(store: Store, clock: FrozenClock) -> None:
    """A document issued earlier but stored later (another series' counter) is listed by its
    issue time."""
    later = issue_doc(store, "1001")
    clock.advance(minutes=-5)
    earlier = issue_doc(store, "1002")
    assert earlier.id > later.id
    assert numbers(store.find_documents(DocumentQuery())) == [later.number, earlier.number]


def test_find_documents_pages_with_before_id(store: Store, clock: FrozenClock) -> None:
    """Keyset pages: documents issued in the same instant are paged by id, none twice or
    left out, and a document issued meanwhile does not shift the next page."""
    issued = []
    for n in range(7):
        issued.append(issue_doc(store, f"20{n}"))
        if n % 3 == 2:
            clock.advance(minutes=1)
    first = store.find_documents(DocumentQuery(), limit=3)
    clock.advance(minutes=1)
    issue_doc(store, "999")  # newer than all: page one's, not page two's
    second = store.find_documents(DocumentQuery(), before_id=first[-1].id, limit=3)
    third = store.find_documents(DocumentQuery(), before_id=second[-1].id, limit=3)
    assert numbers(first + second + third) == numbers(issued[::-1])
    assert store.find_documents(DocumentQuery(), before_id=third[-1].id) == []


def test_find_documents_pages_a_filtered_search(store: Store, clock: FrozenClock) -> None:
    mine = []
    for n in range(4):
        mine.append(issue_doc(store, f"30{n}", email="marie@example.fr"))
        issue_doc(store, f"40{n}", name="Bernard Lenoir", email="bernard@example.fr")
        clock.advance(minutes=1)
    query = DocumentQuery(customer="marie")
    first = store.find_documents(query, limit=2)
    second = store.find_documents(query, before_id=first[-1].id, limit=2)
    assert numbers(first + second) == numbers(mine[::-1])


def test_document_states_report_what_credit_notes_credit(store: Store) -> None:
    invoice = issue_doc(store, "1001")
    notes = [credit(store, invoice, lines=(n,), reference=f"re_{n}") for n in (1, 2)]
    other = issue_doc(store, "1002")
    states = store.document_states([invoice.id, other.id])
    expected = sum((n.snapshot.totals.total_incl for n in notes), Decimal(0))
    assert states[invoice.id].credited == expected > 0
    assert states[invoice.id].credit_notes == 2
    assert (states[other.id].credited, states[other.id].credit_notes) == (0, 0)


def test_document_states_report_the_latest_delivery_per_channel(store: Store) -> None:
    doc = issue_doc(store, "1001")
    deliver(store, doc, "email", "failed")
    deliver(store, doc, "email", "sent")  # a resend that went through
    deliver(store, doc, "attach", "sent")
    deliver(store, doc, "attach", "failed")  # a later one that did not
    deliver(store, doc, "sms", "pending")
    assert store.document_states([doc.id])[doc.id].channels == {
        "email": "sent",
        "attach": "failed",
        "sms": "pending",
    }


def test_document_states_keep_each_documents_deliveries_apart(store: Store) -> None:
    a = issue_doc(store, "1001")
    b = issue_doc(store, "1002")
    c = issue_doc(store, "1003")
    deliver(store, a, "email", "sent")
    deliver(store, b, "email", "failed")
    states = store.document_states([a.id, b.id, c.id])
    assert [states[d.id].channels for d in (a, b, c)] == [
        {"email": "sent"},
        {"email": "failed"},
        {},
    ]


def test_document_states_of_no_documents_is_empty(store: Store) -> None:
    assert store.document_states([]) == {}


# -- delivery log -----------------------------------------------------------------------------


@pytest.fixture
def logged(store: Store) -> dict[str, InvoiceRecord]:
    """Two shops' documents and their hand-overs, oldest first:
    a: email sent, attach failed; b: email failed, email sent (resend); c (shop-b): email
    skipped, attach sent."""
    docs = {
        "a": issue_doc(store, "1001", shop="shop-a"),
        "b": issue_doc(store, "1002", shop="shop-a"),
        "c": issue_doc(store, "1003", shop="shop-b"),
    }
    for name, channel, status in [
        ("a", "email", "sent"), ("a", "attach", "failed"), ("b", "email", "failed"),
        ("b", "email", "sent"), ("c", "email", "skipped"), ("c", "attach", "sent"),
    ]:  # fmt: skip
        deliver(store, docs[name], channel, status, target=f"{name}-{channel}-{status}")
    return docs


def targets(lines: Sequence[DeliveryLine]) -> list[str]:
    return [line.target for line in lines]


def test_delivery_log_is_newest_first(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    assert targets(store.delivery_log()) == [
        "c-attach-sent", "c-email-skipped", "b-email-sent", "b-email-failed",
        "a-attach-failed", "a-email-sent",
    ]  # fmt: skip


def test_delivery_log_joins_the_documents_number_and_shop(
    store: Store, logged: dict[str, InvoiceRecord]
) -> None:
    by_target = {line.target: line for line in store.delivery_log()}
    line = by_target["c-email-skipped"]
    assert (line.number, line.shop, line.channel, line.status) == (
        logged["c"].number, "shop-b", "email", "skipped",
    )  # fmt: skip
    assert by_target["a-email-sent"].number == logged["a"].number


def test_delivery_log_filters_by_channel(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    only = DeliveryFilter(channel="attach")
    assert targets(store.delivery_log(only=only)) == ["c-attach-sent", "a-attach-failed"]


def test_delivery_log_filters_by_status(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    only = DeliveryFilter(status="sent")
    assert targets(store.delivery_log(only=only)) == [
        "c-attach-sent", "b-email-sent", "a-email-sent",
    ]  # fmt: skip


def test_delivery_log_filters_by_shop(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    only = DeliveryFilter(shop="shop-b")
    assert targets(store.delivery_log(only=only)) == ["c-attach-sent", "c-email-skipped"]


def test_delivery_log_combines_its_filters(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    only = DeliveryFilter(channel="email", status="sent", shop="shop-a")
    assert targets(store.delivery_log(only=only)) == ["b-email-sent", "a-email-sent"]


def test_delivery_log_pages_by_before_id(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    first = store.delivery_log(limit=4)
    deliver(store, logged["a"], "email", "sent", target="newest")  # does not shift page two
    second = store.delivery_log(limit=4, before_id=first[-1].id)
    assert targets(first + second) == [
        "c-attach-sent", "c-email-skipped", "b-email-sent", "b-email-failed",
        "a-attach-failed", "a-email-sent",
    ]  # fmt: skip
    assert store.delivery_log(before_id=second[-1].id) == []


def test_delivery_log_pages_a_filtered_log(store: Store, logged: dict[str, InvoiceRecord]) -> None:
    only = DeliveryFilter(channel="email")
    first = store.delivery_log(limit=2, only=only)
    second = store.delivery_log(limit=2, before_id=first[-1].id, only=only)
    assert targets(first + second) == [
        "c-email-skipped", "b-email-sent", "b-email-failed", "a-email-sent",
    ]  # fmt: skip
