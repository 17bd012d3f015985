"""The words every dashboard page shares, in French and English. Each view keeps its own
words beside its code (a `WORDING` dict of the same shape), merged over these."""

from __future__ import annotations

LOCALES = ("fr", "en")

Wording = dict[str, dict[str, str]]

COMMON: Wording = {
    "fr": {
        "dashboard": "Tableau de bord",
        "skip_link": "Aller au contenu",
        "nav_overview": "Vue d'ensemble",
        "nav_documents": "Documents",
        "nav_failures": "Problèmes",
        "nav_deliveries": "Envois",
        "nav_integrity": "Intégrité",
        "nav_satisfaction": "Satisfaction",
        "nav_exports": "Exports",
        "nav_audit": "Journal",
        "signed_in_as": "Connecté en tant que",
        "role_owner": "propriétaire",
        "role_accountant": "comptable",
        "sign_out": "Se déconnecter",
        "other_language": "English",
        "login_title": "Connexion",
        "username": "Identifiant",
        "password": "Mot de passe",
        "sign_in": "Se connecter",
        "login_failed": "Identifiant ou mot de passe incorrect.",
        "login_throttled": "Trop de tentatives : réessayez dans 15 minutes.",
        "login_expired": "Le formulaire a expiré : saisissez à nouveau vos identifiants.",
        "forbidden": "Votre rôle ne permet pas cette action.",
        "form_expired": "Le formulaire a expiré : rechargez la page et recommencez.",
        "not_found": "Introuvable.",
        "none": "Aucun",
        "shop": "Boutique",
        "all_shops": "Toutes les boutiques",
        "order": "Commande",
        "number": "Numéro",
        "date": "Date",
        "customer": "Client",
        "amount": "Montant",
        "state": "État",
        "reason": "Motif",
        "channel": "Canal",
        "status": "Statut",
        "attempts": "Tentatives",
        "never": "jamais",
        "yes": "oui",
        "no": "non",
    },
    "en": {
        "dashboard": "Dashboard",
        "skip_link": "Skip to content",
        "nav_overview": "Overview",
        "nav_documents": "Documents",
        "nav_failures": "Failures",
        "nav_deliveries": "Deliveries",
        "nav_integrity": "Integrity",
        "nav_satisfaction": "Satisfaction",
        "nav_exports": "Exports",
        "nav_audit": "Audit log",
        "signed_in_as": "Signed in as",
        "role_owner": "owner",
        "role_accountant": "accountant",
        "sign_out": "Sign out",
        "other_language": "Français",
        "login_title": "Sign in",
        "username": "User name",
        "password": "Password",
        "sign_in": "Sign in",
        "login_failed": "Wrong user name or password.",
        "login_throttled": "Too many attempts: try again in 15 minutes.",
        "login_expired": "The form expired: enter your user name and password again.",
        "forbidden": "Your role does not allow this.",
        "form_expired": "The form expired: reload the page and try again.",
        "not_found": "Not found.",
        "none": "None",
        "shop": "Shop",
        "all_shops": "All shops",
        "order": "Order",
        "number": "Number",
        "date": "Date",
        "customer": "Customer",
        "amount": "Amount",
        "state": "State",
        "reason": "Reason",
        "channel": "Channel",
        "status": "Status",
        "attempts": "Attempts",
        "never": "never",
        "yes": "yes",
        "no": "no",
    },
}


def merged(view: Wording | None, locale: str) -> dict[str, str]:
    words = dict(COMMON[locale])
    if view:
        words.update(view[locale])
    return words
