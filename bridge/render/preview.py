"""`quittance preview`: render an invoice for each legal case to PDF (and PNG) to look at.

`preview_cases()` returns the sample snapshots (issued through the real `build_invoice`, so
they pass every legal rule); `owner_cases(settings, now=…)` the same cases as the owner's own
invoices (see there); `write_previews(out_dir)` writes `<case>.pdf` and, when `pdftoppm`
(poppler-utils) is on PATH, `<case>-1.png`, `<case>-2.png`… at 100 dpi. This module does file
I/O on purpose: it is the one render helper meant for a person, not for the pipeline.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.invoicing import cases as samples
from bridge.invoicing.amounts import cents
from bridge.invoicing.build import Numbering, OrderNotInvoiceable, build_invoice, local_date
from bridge.invoicing.cases import all_cases
from bridge.invoicing.mentions import LegalTerms
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order
from bridge.render.document import render_document
from bridge.render.templates import Templates

if TYPE_CHECKING:
    from bridge.config import Settings

PREVIEW_DPI = 100


def preview_cases(*, logos: Mapping[str, Path] | None = None) -> dict[str, InvoiceSnapshot]:
    """One invoice per case: b2c, b2b, franchise, intra_eu, export, foreign_currency, refunded,
    hundred_lines. `logos` maps the seller kind ("company", "franchise") to a logo file."""
    return all_cases(logos=logos)


@dataclass(frozen=True)
class OwnerPreview:
    cases: dict[str, InvoiceSnapshot]
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why it does not apply


def owner_cases(settings: Settings, *, now: datetime) -> OwnerPreview:
    """The preview cases as the owner's own invoices: their `[seller]` (identity, VAT regime,
    brand colour, logo), `[legal]` wording and `[numbering]` format, issued at `now`.

    The number is the owner's format applied to sequence 1 and the day `now` falls on: a
    sample, never one of the real series (nothing is read from or written to the store). Each
    order is moved in time so that it was paid just before `now`, as in the samples. A seller
    in franchise en base charges no VAT, so every order is shown without it; a VAT-registered
    seller has no franchise case."""
    seller = settings.seller
    numbering = settings.numbering
    number = numbering.format_number(1, local_date(now, seller.timezone))
    terms = LegalTerms(**settings.legal.model_dump())
    franchise = seller.vat_regime == "franchise"
    preview = OwnerPreview(cases={})
    for name in samples.CASE_BUILDERS:
        if name == "franchise" and not franchise:
            preview.skipped[name] = f"your VAT regime is {seller.vat_regime!r}, not franchise"
            continue
        order = _as_of(samples.case_order(name), now)
        try:
            preview.cases[name] = build_invoice(
                _untaxed(order) if franchise else order,
                seller,
                Numbering(series=numbering.series, number=number, sequence=1),
                issued_at=now,
                terms=terms,
                facts=samples.case_facts(name, at=now),
            )
        except OrderNotInvoiceable as exc:
            preview.skipped[name] = str(exc)
    return preview


def _as_of(order: Order, now: datetime) -> Order:
    """The sample order moved in time so that its issue falls at `now`."""
    shift = now - samples.ISSUED
    refunds = [
        r.model_copy(update={"created_at": r.created_at + shift if r.created_at else None})
        for r in order.refunds
    ]
    payment = order.payment.model_copy(update={"paid_at": order.payment.paid_at + shift})
    return order.model_copy(
        update={"created_at": order.created_at + shift, "payment": payment, "refunds": refunds}
    )


def _untaxed(order: Order) -> Order:
    """The order as a seller in franchise en base sells it: the same lines, no VAT."""
    lines = [line.model_copy(update={"taxes": []}) for line in order.lines]
    return order.model_copy(
        update={
            "lines": lines,
            "total": sum((cents(line.total) for line in lines), Decimal(0)),
            "total_tax": Decimal(0),
            # the counter-value was of a VAT-inclusive total: it no longer applies
            "shop_currency_total": None,
            "shop_currency_tax": None,
        }
    )


SAMPLE_LOGOS = {  # seller kind -> (initials, name, colour)
    "company": ("LT", "La Théière", "#2f5d50"),
    "franchise": ("AC", "Atelier Camille", "#8a4b2a"),
}


def sample_logo(path: Path, initials: str, name: str, color: str) -> Path:
    """A small PNG logo (initials on the brand colour), so previews show where a logo goes."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab import rl_config

    size = (520, 120)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 119, 119), radius=22, fill=color)
    font = None
    for folder in rl_config.TTFSearchPath:
        candidate = Path(folder) / "VeraBd.ttf"
        if candidate.is_file():
            font = ImageFont.truetype(str(candidate), 56)
            break
    font = font or ImageFont.load_default()
    draw.text((60, 60), initials, fill="white", font=font, anchor="mm")
    draw.text((140, 60), name, fill=color, font=font.font_variant(size=40), anchor="lm")
    image.save(path, format="PNG", optimize=False)
    return path


def write_previews(
    out_dir: Path,
    *,
    templates: Templates | None = None,
    logo: Path | None = None,
    png: bool = True,
    cases: Mapping[str, InvoiceSnapshot] | None = None,
) -> list[Path]:
    """Render every case to `out_dir/<case>.pdf` (+ PNG pages via pdftoppm); the paths written.

    `cases` (e.g. `owner_cases(…).cases`) are rendered as they are; without them, the sample
    cases, with `logo` for every seller or sample logos drawn into `out_dir/logo-<kind>.png`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cases is None:
        cases = preview_cases(logos=_logos(out_dir, logo))
    written: list[Path] = []
    pdftoppm = shutil.which("pdftoppm") if png else None
    for name, snapshot in cases.items():
        pdf_path = out_dir / f"{name}.pdf"
        pdf_path.write_bytes(render_document(snapshot, templates))
        written.append(pdf_path)
        if pdftoppm:
            for old in out_dir.glob(f"{name}-*.png"):
                old.unlink()
            subprocess.run(
                [pdftoppm, "-png", "-r", str(PREVIEW_DPI), str(pdf_path), str(out_dir / name)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            written.extend(sorted(out_dir.glob(f"{name}-*.png")))
    return written


def _logos(out_dir: Path, logo: Path | None) -> dict[str, Path]:
    if logo is not None:
        return {kind: logo for kind in SAMPLE_LOGOS}
    return {
        kind: sample_logo(out_dir / f"logo-{kind}.png", *spec)
        for kind, spec in SAMPLE_LOGOS.items()
    }
