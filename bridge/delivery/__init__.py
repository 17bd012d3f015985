"""Delivery channels (email, alerts) and the transient/permanent classification of failures."""

from bridge.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnexpectedDeliveryError,
    as_delivery_error,
    classify,
    classify_smtp_error,
)

__all__ = [
    "DeliveryError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "UnexpectedDeliveryError",
    "as_delivery_error",
    "classify",
    "classify_smtp_error",
]
