"""The SMS channel's parts: a customer's number as a gateway takes it (`mobile_e164`), a
text's length in segments (`measure`), the receipt text (`sms_text`), and the two gateways.

How a failed send is classified depends on what the gateway tells:

- Twilio (`send_twilio`) answers with an HTTP status and its own error code, so a bad
  number is told from an outage: 401 (20003) and every other 4xx are permanent (21211 not a
  number, 21614 not a mobile, 21610 the customer replied STOP, 21408 country not enabled,
  21606 sender unusable), 429 and 5xx transient with Retry-After honoured. It gives a message
  id, so a retry after a lost answer first looks for the text it may have sent.
- apprise (`send_apprise`) answers only True or False: a URL it cannot read is permanent;
  a False is transient, retried until `[jobs] give_up_after_hours`, since a bad number and
  an outage look the same. No message id, nothing to look for.

A number that is not a mobile (`NotAMobile`) is found before any gateway is asked.
"""

from bridge.delivery.sms.apprise_route import send_apprise
from bridge.delivery.sms.length import SmsLength, measure
from bridge.delivery.sms.numbers import NotAMobile, mobile_e164
from bridge.delivery.sms.text import sms_text
from bridge.delivery.sms.twilio import find_earlier_text, send_twilio

__all__ = [
    "NotAMobile",
    "SmsLength",
    "find_earlier_text",
    "measure",
    "mobile_e164",
    "send_apprise",
    "send_twilio",
    "sms_text",
]
