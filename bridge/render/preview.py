"""`quittance preview`: render a sample invoice for each legal case to PDF (and PNG) to look at.

`preview_cases()` returns the snapshots (issued through the real `build_invoice`, so they pass
every legal rule); `write_previews(out_dir)` writes `<case>.pdf` and, when `pdftoppm`
(poppler-utils) is on PATH, `<case>-1.png`, `<case>-2.png`… at 100 dpi. This module does file
I/O on purpose: it is the one render helper meant for a person, not for the pipeline.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bridge.invoicing.cases import all_cases
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.render.pdf import render_pdf
from bridge.render.templates import Templates

PREVIEW_DPI = 100


def preview_cases(*, logos: Mapping[str, Path] | None = None) -> dict[str, InvoiceSnapshot]:
    """One invoice per case: b2c, b2b, franchise, intra_eu, export, foreign_currency, refunded,
    hundred_lines. `logos` maps the seller kind ("company", "franchise") to a logo file."""
    return all_cases(logos=logos)


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
) -> list[Path]:
    """Render every case to `out_dir/<case>.pdf` (+ PNG pages via pdftoppm); the paths written.

    `logo` (the shop's own, from config) is used for every case; without it, sample logos are
    drawn into `out_dir/logo-<kind>.png`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if logo is not None:
        logos = {kind: logo for kind in SAMPLE_LOGOS}
    else:
        logos = {
            kind: sample_logo(out_dir / f"logo-{kind}.png", *spec)
            for kind, spec in SAMPLE_LOGOS.items()
        }
    written: list[Path] = []
    pdftoppm = shutil.which("pdftoppm") if png else None
    for name, snapshot in preview_cases(logos=logos).items():
        pdf_path = out_dir / f"{name}.pdf"
        pdf_path.write_bytes(render_pdf(snapshot, templates))
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
