"""The words of the customer's pages, in French and English, and the survey's default wording.

The portal and survey pages are one template each for both languages: every sentence they
show comes from `PAGE_WORDING[locale]`. A sentence with a `{name}` field is filled in by the
template with `str.format` (before autoescaping), so both locales of a key carry the same
fields. French typography: a non-breaking space (U+00A0) before ; : ! ? and inside « ».

Transactional wording only: the customer came for a document or was asked one question;
nothing here sells.
"""

from __future__ import annotations

LOCALES = ("fr", "en")
SURVEY_SCALES = (3, 5)

PAGE_WORDING: dict[str, dict[str, str]] = {
    "fr": {
        # every page
        "skip_link": "Aller au contenu",
        "footer_contact": "Une question\u00a0? Écrivez à",
        # documents.html
        "documents_title": "Vos documents",
        "documents_intro": "Voici les factures et avoirs de vos commandes chez {shop}.",
        "documents_caption": "Factures et avoirs",
        "col_number": "Numéro",
        "col_kind": "Type",
        "col_date": "Date",
        "col_amount": "Montant",
        "col_order": "Commande",
        "col_download": "Document",
        "kind_invoice": "Facture",
        "kind_credit_note": "Avoir",
        "download_invoice": "Télécharger la facture {number} (PDF)",
        "download_credit_note": "Télécharger l'avoir {number} (PDF)",
        "documents_empty": "Aucun document n'est encore disponible.",
        "documents_expires": "Ce lien est valable jusqu'au {date}.",
        "documents_private": "Il est personnel\u00a0: ne le partagez pas.",
        "documents_new_link_intro": "Besoin d'un nouveau lien plus tard\u00a0?",
        "documents_new_link": "Recevoir un nouveau lien par e-mail",
        # expired.html
        "expired_title": "Ce lien a expiré",
        "expired_body": (
            "Pour protéger vos documents, les liens d'accès ne sont valables qu'un temps. "
            "Vous pouvez en recevoir un nouveau à l'adresse e-mail connue de la boutique."
        ),
        "expired_button": "Recevoir un nouveau lien",
        # invalid.html
        "invalid_title": "Ce lien n'est pas valide",
        "invalid_body": (
            "Il est peut-être incomplet\u00a0: vérifiez qu'il a été copié en entier depuis "
            "l'e-mail reçu."
        ),
        "invalid_help": (
            "Si le problème persiste, contactez la boutique auprès de laquelle vous avez commandé."
        ),
        # request.html
        "request_title": "Recevoir un lien vers vos documents",
        "request_intro": (
            "Indiquez l'adresse e-mail utilisée pour vos commandes chez {shop}. Si la boutique "
            "la connaît, vous recevrez un lien personnel vers vos factures et avoirs."
        ),
        "email_label": "Adresse e-mail",
        "request_button": "Recevoir le lien",
        "error_email_invalid": (
            "Cette adresse e-mail ne semble pas valide. Vérifiez-la et réessayez."
        ),
        "error_form_expired": "Le formulaire a expiré. Veuillez l'envoyer à nouveau.",
        # sent.html
        "sent_title": "Vérifiez votre messagerie",
        "sent_body": (
            "Si cette adresse est connue de la boutique, un lien vient de lui être envoyé. "
            "Il est valable {days}\u00a0jours."
        ),
        "sent_body_one": (
            "Si cette adresse est connue de la boutique, un lien vient de lui être envoyé. "
            "Il est valable {days}\u00a0jour."
        ),
        "sent_hint": (
            "Le message peut mettre quelques minutes à arriver. Pensez à regarder aussi dans "
            "les courriers indésirables."
        ),
        # slow_down.html
        "slow_down_title": "Trop de demandes",
        "slow_down_body": (
            "Pour protéger vos documents, le nombre de demandes est limité. Veuillez réessayer "
            "dans {minutes}\u00a0min."
        ),
        # survey/form.html
        "survey_title": "Votre avis",
        "survey_about": "Commande {order}, facture {number}",
        "survey_answered": "Vous avez déjà répondu. Vous pouvez modifier votre réponse ci-dessous.",
        "survey_answered_until": (
            "Vous avez déjà répondu. Vous pouvez modifier votre réponse jusqu'au {date}."
        ),
        "comment_label": "Commentaire (facultatif)",
        "comment_hint": "Il sera lu par l'équipe de la boutique.",
        "survey_submit": "Envoyer ma réponse",
        "survey_change": "Modifier ma réponse",
        # survey/thanks.html
        "thanks_title": "Merci pour votre réponse",
        "thanks_recorded": "Votre réponse «\u00a0{label}\u00a0» a bien été enregistrée.",
        "thanks_changed": "Votre réponse a été modifiée\u00a0: «\u00a0{label}\u00a0».",
        "thanks_change_until": (
            "Vous pouvez encore la modifier jusqu'au {date} avec le lien reçu par e-mail."
        ),
        "portal_link": "Recevoir un lien vers mes factures et avoirs",
        # survey/closed.html
        "closed_expired_title": "Ce questionnaire est fermé",
        "closed_expired_body": "Le délai pour répondre à ce questionnaire est passé.",
        "closed_locked_title": "Votre réponse est enregistrée",
        "closed_locked_body": "Elle ne peut plus être modifiée. Merci de l'avoir donnée.",
    },
    "en": {
        "skip_link": "Skip to content",
        "footer_contact": "A question? Write to",
        "documents_title": "Your documents",
        "documents_intro": "Here are the invoices and credit notes of your orders at {shop}.",
        "documents_caption": "Invoices and credit notes",
        "col_number": "Number",
        "col_kind": "Type",
        "col_date": "Date",
        "col_amount": "Amount",
        "col_order": "Order",
        "col_download": "Document",
        "kind_invoice": "Invoice",
        "kind_credit_note": "Credit note",
        "download_invoice": "Download invoice {number} (PDF)",
        "download_credit_note": "Download credit note {number} (PDF)",
        "documents_empty": "There is no document yet.",
        "documents_expires": "This link is valid until {date}.",
        "documents_private": "It is personal: please do not share it.",
        "documents_new_link_intro": "Need a new link later?",
        "documents_new_link": "Get a new link by email",
        "expired_title": "This link has expired",
        "expired_body": (
            "To protect your documents, access links are only valid for a while. "
            "You can get a new one at the email address the shop has on file."
        ),
        "expired_button": "Send me a new link",
        "invalid_title": "This link is not valid",
        "invalid_body": (
            "It may be incomplete: please check that it was copied in full from the email "
            "you received."
        ),
        "invalid_help": "If the problem persists, please contact the shop you ordered from.",
        "request_title": "Get a link to your documents",
        "request_intro": (
            "Enter the email address you used for your orders at {shop}. If the shop knows it, "
            "you will receive a personal link to your invoices and credit notes."
        ),
        "email_label": "Email address",
        "request_button": "Send me the link",
        "error_email_invalid": (
            "This email address does not look valid. Please check it and try again."
        ),
        "error_form_expired": "The form has expired. Please send it again.",
        "sent_title": "Check your inbox",
        "sent_body": (
            "If the shop knows this address, a link has just been sent to it. "
            "It is valid for {days} days."
        ),
        "sent_body_one": (
            "If the shop knows this address, a link has just been sent to it. "
            "It is valid for {days} day."
        ),
        "sent_hint": (
            "The message may take a few minutes to arrive. Please also look in your spam folder."
        ),
        "slow_down_title": "Too many requests",
        "slow_down_body": (
            "To protect your documents, the number of requests is limited. Please try again "
            "in {minutes} min."
        ),
        "survey_title": "Your opinion",
        "survey_about": "Order {order}, invoice {number}",
        "survey_answered": "You have already answered. You can change your answer below.",
        "survey_answered_until": (
            "You have already answered. You can change your answer until {date}."
        ),
        "comment_label": "Comment (optional)",
        "comment_hint": "It will be read by the shop's team.",
        "survey_submit": "Send my answer",
        "survey_change": "Change my answer",
        "thanks_title": "Thank you for your answer",
        "thanks_recorded": "Your answer “{label}” has been recorded.",
        "thanks_changed": "Your answer has been changed to “{label}”.",
        "thanks_change_until": (
            "You can still change it until {date} with the link in your email."
        ),
        "portal_link": "Get a link to my invoices and credit notes",
        "closed_expired_title": "This survey is closed",
        "closed_expired_body": "The time to answer this survey has passed.",
        "closed_locked_title": "Your answer is recorded",
        "closed_locked_body": "It can no longer be changed. Thank you for giving it.",
    },
}

# Worst first: the score of a label is its position + 1.
_SURVEY_LABELS: dict[str, dict[int, tuple[str, ...]]] = {
    "fr": {
        3: ("Pas satisfait(e)", "Moyennement satisfait(e)", "Très satisfait(e)"),
        5: (
            "Pas du tout satisfait(e)",
            "Peu satisfait(e)",
            "Moyennement satisfait(e)",
            "Satisfait(e)",
            "Très satisfait(e)",
        ),
    },
    "en": {
        3: ("Not happy", "It was OK", "Very happy"),
        5: ("Not happy at all", "Not really happy", "It was OK", "Happy", "Very happy"),
    },
}

_SURVEY_QUESTIONS = {
    "fr": "Tout s'est-il bien passé avec votre commande\u00a0?",
    "en": "Did everything go well with your order?",
}


def _check_locale(locale: str) -> None:
    # a silent fallback would show an English page to a French customer without anyone noticing
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r} (expected one of {', '.join(LOCALES)})")


def default_survey_labels(scale: int, locale: str) -> list[str]:
    """The answers offered when the shop sets none: `scale` labels, worst first."""
    _check_locale(locale)
    if scale not in SURVEY_SCALES:
        raise ValueError(f"survey scale must be 3 or 5, not {scale!r}")
    return list(_SURVEY_LABELS[locale][scale])


def default_survey_question(locale: str) -> str:
    """The question asked when the shop sets none."""
    _check_locale(locale)
    return _SURVEY_QUESTIONS[locale]
