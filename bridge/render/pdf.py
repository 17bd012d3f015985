"""Render an invoice snapshot to HTML (Jinja2) and to PDF bytes (xhtml2pdf over ReportLab).

Set-up that costs is done once per process: the TrueType fonts (Bitstream Vera, shipped by
ReportLab) are registered with ReportLab and mapped in xhtml2pdf's font table on first use, and
the default `Templates` (compiled Jinja2 templates) is built once.

Output is deterministic: ReportLab's invariant mode fixes the creation date and document ID,
so the same snapshot renders to the same bytes (invariant 3: an archived PDF can be
re-rendered and compared).

Page numbers "1/N": xhtml2pdf's `<pdf:pagecount/>` lays the whole document out twice
(multiBuild). We avoid that: the template prints `page_count` as plain text, we guess it from
the number of lines, render once, read the real count from the PDF's page tree and render again
only when the guess was wrong (rare: only near a page boundary).
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
from functools import lru_cache

from bridge.failures import StepError
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.render.templates import Templates
from bridge.render.view import build_view

log = logging.getLogger(__name__)

FONT_FAMILY = "QuittanceSans"  # what the template's CSS names
_FONT_FILES = {  # (bold, italic) -> ReportLab's bundled Bitstream Vera
    (0, 0): ("QuittanceSans", "Vera.ttf"),
    (1, 0): ("QuittanceSans-Bold", "VeraBd.ttf"),
    (0, 1): ("QuittanceSans-Oblique", "VeraIt.ttf"),
    (1, 1): ("QuittanceSans-BoldOblique", "VeraBI.ttf"),
}
INVOICE_TEMPLATE = "invoice.html"

# Calibrated against our template (A4) on 1- and 3-row descriptions from 5 to 150 lines: a
# table row costs ~0.54 + 0.82 per wrapped text row (a description wraps every ~45
# characters, a legal mention every ~110); the first page holds ~30 such units under the
# header blocks, the next ones ~60. Only a first guess (see render_pdf): a wrong value costs
# one extra render, never a wrong page count. Counting wrapped rows matters: with real product
# names a 10-line invoice is often 2 pages, and guessing 1 doubled its cost.
_DESCRIPTION_CHARS_PER_ROW = 45
_MENTION_CHARS_PER_ROW = 110
_ROW_FIXED, _ROW_PER_TEXT_ROW = 0.54, 0.82
_FIRST_PAGE_UNITS = 30
_NEXT_PAGE_UNITS = 60

_setup_lock = threading.Lock()
_setup_done = False


class RenderError(StepError):
    """The PDF could not be produced (template error, xhtml2pdf error).

    Retried, so that fixing a broken template override heals the queue by itself, and flagged
    for a human, because nothing else will fix it."""

    transient = True
    unexpected = True
    show_type = True


@lru_cache(maxsize=1)
def drawable_code_points() -> frozenset[int]:
    """The characters our font draws. Any other (Ł, Greek, emoji…) prints as a blank and
    cannot be read back from the PDF: the mention check must not count it as left out."""
    setup()
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(_FONT_FILES[(0, 0)][0]).face
    return frozenset(face.charToGlyph)


def setup() -> None:
    """Register fonts and set ReportLab's invariant mode. Idempotent; called by render_pdf."""
    global _setup_done
    if _setup_done:
        return
    with _setup_lock:
        if _setup_done:
            return
        from reportlab import rl_config
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from xhtml2pdf import default as x2p_default

        rl_config.invariant = 1  # fixed dates and /ID: same input, same bytes
        for (bold, italic), (name, filename) in _FONT_FILES.items():
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, filename))  # found on rl_config.TTFSearchPath
            addMapping(FONT_FAMILY, bold, italic, name)
        # xhtml2pdf copies this table into every document's context: the family resolves to
        # our registered face without an @font-face (which would re-read the TTF per render).
        x2p_default.DEFAULT_FONT[FONT_FAMILY.lower()] = FONT_FAMILY
        # A new canvas starts in Helvetica, which then sits (unembedded, unused) in every PDF's
        # resources; starting in our face keeps the PDF to embedded fonts only.
        rl_config.canvas_basefontname = FONT_FAMILY
        _setup_done = True


@lru_cache(maxsize=1)
def default_templates() -> Templates:
    return Templates()


def guess_page_count(snapshot: InvoiceSnapshot) -> int:
    units = sum(
        _ROW_FIXED
        + _ROW_PER_TEXT_ROW * -(-max(len(ln.description), 1) // _DESCRIPTION_CHARS_PER_ROW)
        for ln in snapshot.lines
    )
    units += sum(-(-len(m) // _MENTION_CHARS_PER_ROW) for m in snapshot.mentions)
    units += 3 if snapshot.buyer.shipping_lines else 0
    if units <= _FIRST_PAGE_UNITS:
        return 1
    return 1 + math.ceil((units - _FIRST_PAGE_UNITS) / _NEXT_PAGE_UNITS)


def render_html(
    snapshot: InvoiceSnapshot,
    templates: Templates | None = None,
    *,
    page_count: int | None = None,
) -> str:
    """The invoice as HTML for xhtml2pdf. `page_count=None` prints `<pdf:pagecount/>`."""
    templates = templates or default_templates()
    view = build_view(snapshot)
    return templates.render(
        INVOICE_TEMPLATE, doc=view, L=view.L, snapshot=snapshot, page_count=page_count
    )


_COUNT = re.compile(rb"/Type /Pages\s*/Count (\d+)|/Count (\d+)\s*/Kids")


def pdf_page_count(pdf: bytes) -> int:
    """Pages in a ReportLab-written PDF (its single root /Pages node), without a PDF parser."""
    counts = [int(a or b) for a, b in _COUNT.findall(pdf)]
    if not counts:
        raise RenderError("produced PDF has no page tree")
    return max(counts)


def html_to_pdf(html: str, templates: Templates | None = None) -> bytes:
    """xhtml2pdf with our fonts. No network; local reads only inside the template folders
    (relative `src` resolve against the override folder first). The logo is inlined."""
    setup()
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    templates = templates or default_templates()
    roots = [d for d in (templates.override_dir, templates.base_dir) if d is not None]
    policy = ResourceAccessPolicy(
        allow_remote=False,
        base_dir=roots[0],
        extra_roots=tuple(roots[1:]),
        max_render_seconds=120,
    )
    out = io.BytesIO()
    try:
        result = pisa.pisaDocument(
            html,
            dest=out,
            path=str(roots[0] / INVOICE_TEMPLATE),
            encoding="utf-8",
            resource_policy=policy,
        )
    except Exception as exc:
        raise RenderError(f"xhtml2pdf failed: {exc}") from exc
    if result.err:
        raise RenderError(f"xhtml2pdf reported {result.err} error(s)")
    return out.getvalue()


def render_pdf(snapshot: InvoiceSnapshot, templates: Templates | None = None) -> bytes:
    """The invoice PDF: A4, embedded TrueType fonts, "page/total" on every page, deterministic."""
    templates = templates or default_templates()
    guess = guess_page_count(snapshot)
    pdf = html_to_pdf(render_html(snapshot, templates, page_count=guess), templates)
    actual = pdf_page_count(pdf)
    if actual != guess:
        # Different digits in the footer never move the body, so the second pass is final.
        pdf = html_to_pdf(render_html(snapshot, templates, page_count=actual), templates)
    return pdf
