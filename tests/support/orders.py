"""Sample orders: the bundled samples by id, and many distinct copies of one valid order."""

from __future__ import annotations

from pathlib import Path

from bridge.demo import sample_orders
from bridge.invoicing import cases
from bridge.model import Order
from tests.support.paths import SAMPLES

CARD_SAMPLE = SAMPLES / "01_fr_b2c_card_coupon.json"


def orders_by_id() -> dict[str, Order]:
    return {order.order_id: order for _, order in sample_orders()}


def sample_path(prefix: str) -> Path:
    (path,) = SAMPLES.glob(f"{prefix}*.json")
    return path


def distinct_orders(count: int, *, first_id: int = 50000) -> list[Order]:
    """`count` valid French B2C card orders, each with its own id, customer email and payment
    reference (so one email per customer proves one send per order)."""
    base = Order.model_validate_json(CARD_SAMPLE.read_bytes())
    orders = []
    for i in range(count):
        order_id = str(first_id + i)
        orders.append(
            base.model_copy(
                update={
                    "order_id": order_id,
                    "reference": f"#{order_id}",
                    "customer": base.customer.model_copy(
                        update={"email": f"client{i:04d}@example.fr"}
                    ),
                    "payment": base.payment.model_copy(
                        update={"transaction_ref": f"ch_{order_id}"}
                    ),
                }
            )
        )
    return orders


def make_order(order_id: str = "1001", shop: str = "shop-a") -> Order:
    """The b2c case's order (`bridge/invoicing/cases.py`) as order `order_id` of `shop`."""
    return cases.b2c_order().model_copy(
        update={"shop": shop, "order_id": order_id, "reference": f"#{order_id}"}
    )
