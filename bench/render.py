"""Render bench: median ms per invoice, ours vs plain xhtml2pdf vs a ReportLab canvas floor.

    .venv/bin/python bench/render.py              # the table
    .venv/bin/python bench/render.py --profile    # + cProfile of our 10-line render
    .venv/bin/python bench/render.py -n 40        # more repeats

All variants run in this one process, on the same snapshots:
  ours                 bridge.render.render_pdf(snapshot)  (view + Jinja2 + xhtml2pdf + page count)
  Factur-X document    render_document(snapshot): ours + CII XML + XSD check + embedding +
                       PDF/A-3b finishing (what is archived and sent), and each of those parts
  ours, <pdf:pagecount> the same HTML with xhtml2pdf's own page count (two layout passes)
  plain xhtml2pdf      pisa.CreatePDF(html) on the HTML ours produced, nothing else
  reportlab floor      canvas drawing of the same 10-line invoice (same fonts, embedded)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.facturx.cii import build_cii
from bridge.facturx.schema import check_xsd
from bridge.invoicing.cases import lines_snapshot
from bridge.render import pdf as render_mod
from bridge.render.document import pdf_meta, render_document
from bridge.render.facturx_pdf import facturx_pdf
from bridge.render.pdf import render_html, render_pdf
from bridge.render.view import build_view

OURS = "ours: render_pdf()"
PAGECOUNT = "ours with <pdf:pagecount/> (2 passes)"
DOCUMENT = "Factur-X PDF/A-3b: render_document()"
FACTURX_PARTS = (
    "  of which CII XML (build_cii)",
    "  of which XSD check",
    "  of which embed + PDF/A-3b",
)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median ms of each fn, run round-robin so that load on a shared machine hits all alike."""
    for fn in fns.values():
        fn()  # warm-up (font registration, template compile, Babel data)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(ts) for name, ts in times.items()}


def plain_xhtml2pdf(html: str) -> Callable[[], bytes]:
    from xhtml2pdf import pisa

    def run() -> bytes:
        out = io.BytesIO()
        pisa.CreatePDF(html, dest=out)
        return out.getvalue()

    return run


def xsd_check(snapshot) -> Callable[[], None]:
    xml = build_cii(snapshot)
    return lambda: check_xsd(xml)


def embedding(snapshot) -> Callable[[], bytes]:
    plain, xml, meta = render_pdf(snapshot), build_cii(snapshot), pdf_meta(snapshot)
    return lambda: facturx_pdf(plain, xml, meta)


def reportlab_floor(snapshot) -> Callable[[], bytes]:
    """The same invoice drawn straight on a canvas: the least any PDF of it can cost."""
    from reportlab.lib.colors import HexColor, white
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    render_mod.setup()  # the registered Vera faces; their subsetting/embedding is part of the floor

    def run() -> bytes:
        v = build_view(snapshot)
        out = io.BytesIO()
        c = Canvas(out, pagesize=A4, initialFontName="QuittanceSans")
        w, h = A4
        left, right = 42.0, w - 42.0
        brand = HexColor(v.brand_color)
        y = h - 50
        c.setFillColor(brand)
        c.setFont("QuittanceSans-Bold", 12)
        c.drawString(left, y, v.seller_name)
        c.setFont("QuittanceSans-Bold", 20)
        c.drawRightString(right, y, v.title)
        c.setFillColor("#222222")
        c.setFont("QuittanceSans", 8.5)
        yy = y
        for text in [
            v.seller_trade_name,
            v.seller_legal,
            *v.seller_address,
            " · ".join(v.seller_ids),
            " · ".join(v.seller_contact),
        ]:
            yy -= 11
            c.drawString(left, yy, text)
        c.setFont("QuittanceSans-Bold", 11)
        c.drawRightString(right, y - 16, f"{v.L['number']} {v.number}")
        c.setFont("QuittanceSans", 8.5)
        my = y - 30
        for row in v.meta:
            c.drawRightString(right - 90, my, row.label)
            c.drawRightString(right, my, row.value)
            my -= 11
        y = min(yy, my) - 20
        c.setFont("QuittanceSans-Bold", 7.5)
        c.drawString(left, y, v.L["bill_to"])
        c.drawString(w / 2, y, v.L["ship_to"])
        c.setFont("QuittanceSans", 8.5)
        by = y
        for text in [v.buyer_name, v.buyer_company, *v.buyer_address, " · ".join(v.buyer_ids)]:
            by -= 11
            c.drawString(left, by, text)
        sy = y
        for text in [v.buyer_name, *v.ship_address]:
            sy -= 11
            c.drawString(w / 2, sy, text)
        y = min(by, sy) - 24
        c.setStrokeColor("#1e7b34")
        c.rect(left, y - 4, right - left, 18)
        c.setFillColor("#1e7b34")
        c.setFont("QuittanceSans-Bold", 10)
        c.drawString(left + 6, y + 2, f"{v.stamp_title} — {v.stamp_text}")
        y -= 26
        cols = [left, left + 190, left + 260, left + 300, left + 360, left + 410, left + 450]
        c.setFillColor(brand)
        c.rect(left, y - 4, right - left, 14, fill=1, stroke=0)
        c.setFillColor(white)
        c.setFont("QuittanceSans-Bold", 7.5)
        heads = [
            "description",
            "sku",
            "quantity",
            "unit_price",
            "discount",
            "vat_rate",
            "line_total",
        ]
        for x, key in zip(cols, heads, strict=True):
            c.drawString(x + 3, y, v.L[key])
        c.setFillColor("#222222")
        c.setFont("QuittanceSans", 8.5)
        c.setStrokeColor("#d0d0d0")
        for line in v.lines:
            y -= 15
            if y < 80:
                c.showPage()
                c.setFont("QuittanceSans", 8.5)
                y = h - 60
            cells = [
                line.description,
                line.sku,
                line.quantity,
                line.unit_price,
                line.discount,
                line.vat_rate,
                line.total_excl,
            ]
            for x, text in zip(cols, cells, strict=True):
                c.drawString(x + 3, y, text)
            c.line(left, y - 4, right, y - 4)
        y -= 24
        ty = y
        for row in v.vat_rows:
            c.drawString(left, ty, f"{v.L['rate']} {row.rate}")
            c.drawRightString(left + 150, ty, row.base)
            c.drawRightString(left + 220, ty, row.amount)
            ty -= 11
        for row in v.totals:
            c.setFont("QuittanceSans-Bold" if row.strong else "QuittanceSans", 8.5)
            c.drawString(w / 2 + 40, y, row.label)
            c.drawRightString(right, y, row.value)
            y -= 11
        c.setFont("QuittanceSans", 7)
        y -= 14
        for m in v.mentions:
            c.drawString(left, y, m)
            y -= 9
        c.drawString(left, 30, v.seller_footer)
        c.drawRightString(right, 30, "Page 1/1")
        c.showPage()
        c.save()
        return out.getvalue()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repeat", type=int, default=20, help="runs per 10-line cell")
    parser.add_argument("--profile", action="store_true", help="cProfile our 10-line render")
    args = parser.parse_args()
    n10, n100 = args.repeat, max(3, args.repeat // 4)

    s10, s100 = lines_snapshot(10), lines_snapshot(100)
    html10 = render_html(s10, page_count=1)
    html100 = render_html(s100, page_count=render_mod.guess_page_count(s100))
    html10_pc, html100_pc = render_html(s10), render_html(s100)

    variants = [
        (OURS, lambda s, h, hp: lambda: render_pdf(s)),
        (DOCUMENT, lambda s, h, hp: lambda: render_document(s)),
        (FACTURX_PARTS[0], lambda s, h, hp: lambda: build_cii(s)),
        (FACTURX_PARTS[1], lambda s, h, hp: xsd_check(s)),
        (FACTURX_PARTS[2], lambda s, h, hp: embedding(s)),
        ("  of which view + Jinja2 (render_html)", lambda s, h, hp: lambda: render_html(s)),
        (
            "ours with <pdf:pagecount/> (2 passes)",
            lambda s, h, hp: lambda: render_mod.html_to_pdf(hp),
        ),
        ("(a) plain pisa.CreatePDF(same html)", lambda s, h, hp: plain_xhtml2pdf(h)),
        ("(b) reportlab canvas floor", lambda s, h, hp: reportlab_floor(s)),
    ]
    results = {}
    for n_lines, snap, html, html_pc, repeat in (
        (10, s10, html10, html10_pc, n10),
        (100, s100, html100, html100_pc, n100),
    ):
        fns = {name: make(snap, html, html_pc) for name, make in variants}
        results[n_lines] = interleaved_medians(fns, repeat)
    floor10 = results[10]["(b) reportlab canvas floor"]
    floor100 = results[100]["(b) reportlab canvas floor"]

    print(f"$ {Path(sys.executable).name} {' '.join(sys.argv)}")
    print(
        f"python {sys.version.split()[0]}; median of {n10} (10 lines) / {n100} (100 lines) "
        "runs, variants interleaved"
    )
    print(f"{'variant':<40} {'10 lines ms':>11} {'x floor':>8} {'100 lines ms':>13} {'x floor':>8}")
    print("-" * 84)
    for name, _ in variants:
        ms10, ms100 = results[10][name], results[100][name]
        print(
            f"{name:<40} {ms10:>11.1f} {ms10 / floor10:>8.1f} {ms100:>13.1f} "
            f"{ms100 / floor100:>8.1f}"
        )
    print("x floor: ratio to the ReportLab canvas drawing of the same invoice (same line count)")
    ours10 = results[10][OURS]
    verdict = "OK" if ours10 <= 5 * floor10 else "OVER"
    print(f"target: ours, 10 lines, within 5x floor -> {ours10 / floor10:.1f}x {verdict}")
    for n_lines in (10, 100):
        r = results[n_lines]
        extra = r[DOCUMENT] - r[OURS]
        parts = sum(r[name] for name in FACTURX_PARTS)
        print(
            f"Factur-X at {n_lines} lines: {extra:+.1f} ms per document "
            f"({r[DOCUMENT] / r[OURS]:.2f}x the plain render); its parts measured alone: "
            f"{parts:.1f} ms ({parts / r[OURS]:.1%} of the plain render)"
        )
    pc10 = results[10][PAGECOUNT] - ours10
    pc100 = results[100][PAGECOUNT] - results[100][OURS]
    print(
        f"<pdf:pagecount/> would cost {pc10:+.1f} ms at 10 lines, {pc100:+.1f} ms at 100 lines"
        " (render_pdf prints a precomputed count instead)"
    )

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n10):
            render_pdf(s10)
        prof.disable()
        stats = pstats.Stats(prof).sort_stats("cumulative")
        stats.print_stats(35)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
