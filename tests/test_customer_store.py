"""The customer's side of the store, on SQLite and PostgreSQL: customers made from the
documents they are sent, rate-limit windows shared by every process on the database, survey
answers that may change for a while and then not, and migration 0007 making customers of the
documents issued before it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import ColumnElement, Engine, Table, func, select

from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.store import InvoiceRecord, Store
from bridge.store.engine import writer
from bridge.store.migrate import alembic_config, current_revisions, migrate
from bridge.store.portal import CHANGED, LOCKED, RECORDED, attach_document
from bridge.store.schema import customer_documents, customers, rate_limits
from tests.support import postgres
from tests.support.clock import Clock
from tests.support.paths import ROOT
from tests.support.snapshots import make_snapshot

MINUTE = timedelta(minutes=1)
CHANGE_DAYS, COMMENT_DAYS = 14, 365
OLD_DATABASE = ROOT / "tests" / "fixtures" / "databases" / "queued_by_b85858e.sqlite"


@dataclass(frozen=True)
class Database:
    url: str
    store: Store
    clock: Clock  # real time plus an offset the tests move forward (never back)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One database per dialect for the module (migrating one is most of a test's time); each
    test keeps to a shop, keys and addresses of its own."""
    clock = Clock()
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('customers') / 'quittance.db'}"
        else:
            url = stack.enter_context(postgres.schema_url())
        yield Database(url, stack.enter_context(Store.open(url, clock=clock)), clock)


@pytest.fixture
def store(database: Database) -> Store:
    return database.store


@pytest.fixture
def clock(database: Database) -> Clock:
    return database.clock


@pytest.fixture
def shop() -> str:
    return f"shop-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def key() -> str:
    return f"page:{uuid.uuid4().hex}"


def issue_for(store: Store, shop: str, order_id: str, email: str) -> InvoiceRecord:
    """Issue the b2c case for `order_id` of `shop`, its buyer's address `email`, now by the
    store's clock."""
    now = store.clock()

    def build(seq: int) -> InvoiceSnapshot:
        snapshot = make_snapshot(seq, shop=shop, order_id=order_id, issued_at=now)
        buyer = snapshot.buyer.model_copy(update={"email": email})
        return snapshot.model_copy(update={"buyer": buyer})

    return store.issue_invoice(
        shop=shop, order_id=order_id, kind="invoice", series="FA", period=str(now.year),
        build=build, follow_up_jobs=[],
    ).invoice  # fmt: skip


def rows_of(store: Store, table: Table, where: ColumnElement[bool]) -> int:
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(where)
        return int(conn.execute(query).scalar_one())


def customers_of(store: Store, shop: str) -> int:
    return rows_of(store, customers, customers.c.shop == shop)


# -- customers and their documents ---------------------------------------------------------


def test_a_document_makes_its_buyer_a_customer(store: Store, shop: str) -> None:
    invoice = issue_for(store, shop, "1001", "marie@example.fr")
    customer = store.customer(shop, "marie@example.fr")
    assert customer is not None and customer.generation == 0
    assert store.owner_of(invoice.id) == customer


def test_a_customer_is_found_whatever_the_case_of_their_address(store: Store, shop: str) -> None:
    issue_for(store, shop, "1001", "Marie.Dupont@Example.FR")
    customer = store.customer(shop, "marie.dupont@EXAMPLE.fr")
    assert customer is not None and customer.email == "marie.dupont@example.fr"


def test_one_address_in_two_shops_is_two_customers(store: Store, shop: str) -> None:
    other = f"{shop}-b"
    for name in (shop, other):
        issue_for(store, name, "1001", "marie@example.fr")
    a, b = (store.customer(name, "marie@example.fr") for name in (shop, other))
    assert a is not None and b is not None and a.id != b.id


def test_a_document_without_an_address_has_no_customer(store: Store, shop: str) -> None:
    invoice = issue_for(store, shop, "1001", "")
    assert store.owner_of(invoice.id) is None
    assert customers_of(store, shop) == 0


def test_a_customers_documents_are_listed_newest_first(
    store: Store, clock: Clock, shop: str
) -> None:
    first = issue_for(store, shop, "1001", "marie@example.fr")
    clock.advance(days=3)
    second = issue_for(store, shop, "1002", "marie@example.fr")
    issue_for(store, shop, "1003", "paul@example.fr")
    customer = store.customer(shop, "marie@example.fr")
    assert customer is not None
    numbers = [d.number for d in store.customer_documents(customer.id)]
    assert numbers == [second.number, first.number]


def test_attaching_a_document_again_changes_nothing(store: Store, shop: str) -> None:
    invoice = issue_for(store, shop, "1001", "marie@example.fr")
    for email in ("marie@example.fr", " MARIE@example.fr "):
        with writer(store.engine).begin() as conn:
            attach_document(conn, invoice_id=invoice.id, shop=shop, email=email, now=store.clock())
    customer = store.customer(shop, "marie@example.fr")
    assert customer is not None
    assert [d.id for d in store.customer_documents(customer.id)] == [invoice.id]
    assert customers_of(store, shop) == 1
    assert rows_of(store, customer_documents, customer_documents.c.invoice_id == invoice.id) == 1


def test_revoking_a_customer_bumps_their_generation(store: Store, shop: str) -> None:
    issue_for(store, shop, "1001", "marie@example.fr")
    assert store.revoke_customer_links(shop, "Marie@example.fr") == 1
    assert store.revoke_customer_links(shop, "marie@example.fr") == 2
    customer = store.customer(shop, "marie@example.fr")
    assert customer is not None and customer.generation == 2


def test_revoking_an_unknown_address_revokes_nobody(store: Store, shop: str) -> None:
    issue_for(store, shop, "1001", "marie@example.fr")
    assert store.revoke_customer_links(shop, "nobody@example.fr") is None
    customer = store.customer(shop, "marie@example.fr")
    assert customer is not None and customer.generation == 0


def test_each_download_is_counted(store: Store, shop: str) -> None:
    invoice = issue_for(store, shop, "1001", "marie@example.fr")
    store.record_download(invoice.id, via="portal")
    store.record_download(invoice.id, via="link")
    assert store.downloads_of(invoice.id) == 2


# -- rate limits ---------------------------------------------------------------------------


def test_requests_are_allowed_up_to_the_limit_of_a_window(store: Store, key: str) -> None:
    answers = [store.allow_request(key, 3, MINUTE) for _ in range(4)]
    assert answers == [True, True, True, False]


def test_each_key_is_counted_apart(store: Store, key: str) -> None:
    assert [store.allow_request(key, 1, MINUTE) for _ in range(2)] == [True, False]
    assert store.allow_request(f"{key}-b", 1, MINUTE)


def test_the_count_goes_on_within_the_window(store: Store, clock: Clock, key: str) -> None:
    assert store.allow_request(key, 1, MINUTE)
    clock.advance(seconds=59)
    assert not store.allow_request(key, 1, MINUTE)


def test_the_count_starts_again_after_the_window(store: Store, clock: Clock, key: str) -> None:
    for _ in range(3):
        store.allow_request(key, 2, MINUTE)
    clock.advance(seconds=61)
    assert [store.allow_request(key, 2, MINUTE) for _ in range(3)] == [True, True, False]


def test_two_stores_on_one_database_share_the_count(database: Database, key: str) -> None:
    with Store.open(database.url, clock=database.clock) as other:
        stores = (database.store, other, database.store, other)
        answers = [s.allow_request(key, 2, MINUTE) for s in stores]
    assert answers == [True, True, False, False]


def test_spent_windows_are_forgotten(store: Store, clock: Clock, key: str) -> None:
    store.allow_request(key, 1, MINUTE)
    clock.advance(days=2)
    store.erase_expired_customer_data()
    assert rows_of(store, rate_limits, rate_limits.c.key == key) == 0


# -- survey answers ------------------------------------------------------------------------


@pytest.fixture
def invited(store: Store, shop: str) -> InvoiceRecord:
    invoice = issue_for(store, shop, "1001", "marie@example.fr")
    store.invite_survey(invoice.id, shop, 5)
    return invoice


def answer(store: Store, invoice: InvoiceRecord, score: int, comment: str | None = None) -> str:
    return store.answer_survey(
        invoice.id, score, comment, change_days=CHANGE_DAYS, comment_days=COMMENT_DAYS
    )


def test_inviting_again_keeps_the_first_invitation(
    store: Store, clock: Clock, shop: str, invited: InvoiceRecord
) -> None:
    first = store.survey(invited.id)
    clock.advance(days=1)
    store.invite_survey(invited.id, shop, 3)
    assert store.survey(invited.id) == first


def test_the_first_answer_is_recorded(store: Store, invited: InvoiceRecord) -> None:
    assert answer(store, invited, 4, "Rapide") == RECORDED
    survey = store.survey(invited.id)
    assert survey is not None
    assert (survey.score, survey.comment) == (4, "Rapide")
    assert survey.first_answered_at is not None
    assert survey.first_answered_at == survey.answered_at


def test_an_answer_within_the_change_window_is_changed(
    store: Store, clock: Clock, invited: InvoiceRecord
) -> None:
    answer(store, invited, 4)
    first = store.survey(invited.id)
    clock.advance(days=CHANGE_DAYS - 1)
    assert answer(store, invited, 2, "Finalement, un souci") == CHANGED
    survey = store.survey(invited.id)
    assert survey is not None and first is not None
    assert (survey.score, survey.comment) == (2, "Finalement, un souci")
    assert survey.first_answered_at == first.first_answered_at
    assert survey.answered_at is not None and first.answered_at is not None
    assert survey.answered_at > first.answered_at


def test_an_answer_after_the_change_window_is_locked(
    store: Store, clock: Clock, invited: InvoiceRecord
) -> None:
    answer(store, invited, 4, "Rapide")
    clock.advance(days=CHANGE_DAYS + 1)
    assert answer(store, invited, 1, "Non") == LOCKED
    survey = store.survey(invited.id)
    assert survey is not None and (survey.score, survey.comment) == (4, "Rapide")


def test_an_answer_without_an_invitation_is_refused(store: Store, shop: str) -> None:
    invoice = issue_for(store, shop, "1001", "marie@example.fr")
    with pytest.raises(LookupError):
        answer(store, invoice, 5)
    assert store.survey(invoice.id) is None


def test_a_comment_is_kept_until_its_keeping_time(
    store: Store, clock: Clock, invited: InvoiceRecord
) -> None:
    answer(store, invited, 2, "Colis abîmé")
    clock.advance(days=COMMENT_DAYS - 1)
    store.erase_expired_customer_data()
    survey = store.survey(invited.id)
    assert survey is not None and survey.comment == "Colis abîmé"


def test_a_comment_is_erased_after_its_keeping_time_and_the_score_stays(
    store: Store, clock: Clock, invited: InvoiceRecord
) -> None:
    answer(store, invited, 2, "Colis abîmé")
    clock.advance(days=COMMENT_DAYS + 1)
    assert store.erase_expired_customer_data() >= 1
    survey = store.survey(invited.id)
    assert survey is not None and (survey.score, survey.comment) == (2, None)


# -- migration 0007 ------------------------------------------------------------------------


def downgrade(engine: Engine, revision: str) -> None:
    """What `alembic downgrade` does, on the store's writer connection."""
    cfg = alembic_config()
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_migration_0007_makes_customers_of_the_documents_issued_before(db_url: str) -> None:
    with Store.open(db_url) as store:
        marie = [issue_for(store, "shop-a", order, "Marie@example.fr") for order in ("1", "2")]
        paul = issue_for(store, "shop-a", "3", "paul@example.fr")
        issue_for(store, "shop-a", "4", "")
        downgrade(store.engine, "0006")
        assert current_revisions(store.engine) == ("0006",)
        migrate(store.engine)
        found = store.customer("shop-a", "marie@example.fr")
        assert found is not None
        assert {d.id for d in store.customer_documents(found.id)} == {i.id for i in marie}
        assert store.owner_of(paul.id) == store.customer("shop-a", "paul@example.fr")
        assert customers_of(store, "shop-a") == 2


def test_an_older_versions_database_gets_a_customer_per_address(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, database)
    with Store.open(f"sqlite:///{database}") as store:
        invoices = list(store.iter_invoices())
        assert invoices
        for invoice in invoices:
            owner = store.owner_of(invoice.id)
            assert owner is not None and owner.email == invoice.snapshot.buyer.email.lower()
            assert [d.id for d in store.customer_documents(owner.id)] == [invoice.id]
