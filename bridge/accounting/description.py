"""LISEZMOI.txt: what the export holds, written for the accountant who opens it (in French).
Pure: the request, the result and the settings in, the text out."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bridge.accounting.ereporting import CATEGORIES, SPECIFICATION
from bridge.accounting.fec import COLUMNS

if TYPE_CHECKING:
    from bridge.accounting.export_files import ExportRequest, ExportResult
    from bridge.config import Settings

_SEPARATOR_NAMES = {"tab": "une tabulation", "pipe": "le caractère « | »"}
_ENCODING_NAMES = {"utf-8": "UTF-8 (sans BOM)", "iso-8859-15": "ISO 8859-15 (Latin-9)"}


def description_text(
    settings: Settings, request: ExportRequest, result: ExportResult, stamp: datetime
) -> str:
    accounting = settings.accounting
    accounts = accounting.accounts
    seller = settings.seller
    shops = request.shop or "toutes les boutiques"
    fec_files = ", ".join(result.fec_files) or "aucun (aucune écriture dans la période)"
    by_method = "".join(
        f"\n    règlements « {method} »       {account}"
        for method, account in sorted(accounts.payment_methods.items())
    )
    by_rate = "".join(
        f"\n    TVA collectée {rate} %         {account}"
        for rate, account in sorted(accounts.vat_by_rate.items())
    )
    problems = (
        "\n".join(f"  - {problem}" for problem in result.problems) if result.problems else "  aucun"
    )
    numbering = "intacte" if result.numbering_intact else "RUPTURE : voir numerotation.txt"
    if result.numbering_out_of_order:  # whatever the shop: other shops explain gaps only
        numbering = (
            "RUPTURE : numéro(s) hors d'ordre "
            + ", ".join(result.numbering_out_of_order)
            + " ; voir numerotation.txt"
        )
    elif result.numbering_shared and not result.numbering_intact:
        numbering = (
            "numéros manquants dans cette boutique : les séries sont partagées avec les "
            "autres boutiques ; un export sans --shop vérifie la numérotation"
        )
    return f"""\
Export comptable Quittance
==========================

Vendeur : {seller.legal_name}, SIREN {seller.siren}
Période : du {request.first:%d/%m/%Y} au {request.last:%d/%m/%Y} (date d'émission des documents)
Boutique(s) : {shops}
Généré le : {stamp:%d/%m/%Y à %H:%M} ({seller.timezone})
Documents : {result.invoices} facture(s) acquittée(s), {result.credit_notes} avoir(s)
Numérotation : {numbering}

Contenu
-------
  factures/, avoirs/        chaque PDF tel qu'archivé (PDF/A-3 avec sa facture Factur-X)
  journal-des-ventes.csv    une ligne par document ; « ; » entre les champs, virgule
                            décimale, UTF-8 ; montants dans la devise du document, avoirs
                            en négatif ; une colonne base et une colonne TVA par taux
  {fec_files}
                            les écritures de ventes et d'encaissements au format FEC
  e-reporting/              les agrégats quotidiens des ventes aux particuliers (B2C)
  numerotation.txt          premier et dernier numéro par série et période, ruptures
  SHA256SUMS                l'empreinte SHA-256 de chaque fichier : `sha256sum -c SHA256SUMS`

Le FEC
------
Ce fichier ne contient QUE la partie de la comptabilité que Quittance connaît : les ventes
(journal {accounting.sales_journal} « {accounting.sales_journal_label} ») et les
encaissements et remboursements de ces ventes (journal {accounting.receipts_journal}
« {accounting.receipts_journal_label} »). Il est à fusionner avec le reste de la comptabilité :
il n'a ni écritures d'achats, ni à-nouveaux, ni écritures d'inventaire. Un fichier par
exercice (clôture au {accounting.fiscal_year_end}, mois-jour) ; chaque écriture est dans celui
de sa propre date (EcritureDate) : un paiement reçu avant l'exercice de sa facture (payé le
31 décembre, facturé le 2 janvier) est dans le fichier de l'exercice du paiement, la facture
dans celui de son émission, lettrés ensemble (même code EcritureLet dans les deux fichiers) ;
un export qui commence le 2 janvier contient donc aussi un fichier de l'exercice précédent.

Format (art. A47 A-1 du LPF) : fichier à plat, première ligne le nom des {len(COLUMNS)} champs,
champs séparés par {_SEPARATOR_NAMES[accounting.fec_separator]}, fin de ligne CR LF, codage
{_ENCODING_NAMES[accounting.fec_encoding]}, dates AAAAMMJJ, montants avec une virgule décimale,
sans séparateur de milliers ni signe (colonnes Debit et Credit). Les libellés sont nettoyés
des séparateurs et des retours à la ligne.

  - EcritureNum et PieceRef : le numéro du document (séquence continue par série).
  - EcritureDate : la date d'émission pour la vente, la date du paiement pour l'encaissement ;
    ValidDate : la date d'émission.
  - Facture : débit clients du TTC, crédit ventes par nature et par taux, crédit TVA par taux
    (la TVA d'un autre État membre déclarée au guichet unique OSS sur son propre compte).
    Avoir : l'inverse. Chaque écriture est équilibrée.
  - Encaissement : débit du compte du moyen de paiement, crédit clients ; lettré (EcritureLet,
    DateLet) avec la facture, puisque ces factures sont acquittées. Remboursement d'un avoir :
    l'inverse, lettré avec l'avoir. Une facture réémise et l'avoir refait sur elle n'ont pas
    d'encaissement : l'argent a été compté avec le document qu'ils remplacent.
  - Remboursement réparti entre plusieurs moyens de comptes différents (carte et avoir en
    boutique) : le montant par moyen n'est pas connu, il n'est donc pas passé ; l'avoir est
    passé non lettré et nommé dans les problèmes, à compléter à la main.
  - Document en devise : montants en euros au cours BCE enregistré sur le document,
    Montantdevise et Idevise donnent le montant et la devise d'origine.

Comptes utilisés ([accounting.accounts] dans la configuration)
    clients                      {accounts.customers}
    ventes de marchandises       {accounts.goods}
    prestations de services      {accounts.services}
    ports et frais facturés      {accounts.shipping}
    TVA collectée                {accounts.vat}{by_rate}
    TVA collectée OSS            {accounts.vat_oss}
    banque                       {accounts.bank}{by_method}

E-reporting B2C
---------------
{SPECIFICATION}. Un groupe par jour × devise × catégorie
({", ".join(f"{code} {label}" for code, label in CATEGORIES.items())}),
avec le total HT, la TVA en euros, le nombre de transactions et, par taux, la base et la TVA.
Les avoirs comptent en négatif le jour de leur émission. Les ventes aux professionnels n'y sont
pas (elles passent par la facturation électronique).

Problèmes
---------
{problems}
"""
