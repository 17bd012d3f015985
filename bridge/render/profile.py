"""A render profile: what it takes to render a document to the same bytes again.

    template set   the `tree_hash` of the effective templates folder (ours overlaid with the
                   shop's override, images included), frozen in the archive under that hash
    renderers      the versions of everything between a snapshot and the PDF's bytes

`RENDER_PROFILE_VERSION` stands for our own code in that path (`view.py`, `formatting.py`,
`labels.py`, `pdf.py`, and since version 2 `document.py`, `facturx_pdf.py` and the CII
builder `bridge/facturx/cii.py`): bump it by hand in the same change as anything that alters
the bytes of an unchanged snapshot's PDF (a label, a format, the layout of the view, a render
option, an element of the XML).
It is a hand-kept number rather than a hash of our sources because most edits there (comments,
refactors, a feature only new snapshots use) leave every stored PDF as it was, and a profile
must only say "cannot be reproduced" when that is true. Forgetting to bump it is caught anyway,
later: a restore compares the re-rendered bytes with the recorded SHA-256 and refuses on any
difference, so the number only makes the reason visible beforehand (`quittance verify`).

`RENDERED_VERSIONS` lists the versions this code still renders the way they rendered: 1 (the
plain PDF, still `render_pdf`) and 2 (the same PDF made a Factur-X PDF/A-3b). A bump that
changes the plain PDF's bytes must take "1" and "2" out of it (their documents then report
drift, truthfully); a bump that only adds a render path (as 2 did) adds itself.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata

RENDER_PROFILE_VERSION = 2
RENDERED_VERSIONS = frozenset({"1", "2"})  # see the module's docstring before a bump
FIRST_FACTURX_VERSION = 2
PROFILE_FORMAT = 1  # the layout of the JSON record itself

# key in the profile -> distribution name. Babel carries the CLDR data money and dates are
# formatted with; Pillow decodes the logo ReportLab embeds; zlib compresses the page streams;
# lxml writes the CII XML and the XMP, factur-x and pypdf embed the XML, pikepdf (over qpdf)
# writes the final PDF/A file.
_DISTRIBUTIONS = {
    "xhtml2pdf": "xhtml2pdf",
    "reportlab": "reportlab",
    "jinja2": "Jinja2",
    "babel": "Babel",
    "pillow": "pillow",
    "lxml": "lxml",
    "factur-x": "factur-x",
    "pypdf": "pypdf",
    "pikepdf": "pikepdf",
}


@cache
def renderer_versions() -> dict[str, str]:
    """The versions this process renders with (read once: they cannot change under it)."""
    versions = {key: _version(dist) for key, dist in _DISTRIBUTIONS.items()}
    versions["zlib"] = zlib.ZLIB_RUNTIME_VERSION
    versions["qpdf"] = _qpdf_version()
    versions["quittance-render"] = str(RENDER_PROFILE_VERSION)
    return versions


def _qpdf_version() -> str:
    try:
        import pikepdf
    except ImportError:
        return "absent"
    return str(pikepdf.__libqpdf_version__)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


@dataclass(frozen=True)
class RenderProfile:
    template_set: str
    renderers: dict[str, str] = field(default_factory=dict)

    @property
    def render_version(self) -> str:
        return self.renderers.get("quittance-render", "1")

    @property
    def facturx(self) -> bool:
        """Whether documents of this profile are Factur-X PDF/A-3b (else the plain PDF)."""
        return self.render_version.isdigit() and int(self.render_version) >= FIRST_FACTURX_VERSION

    @classmethod
    def current(cls, template_set: str) -> RenderProfile:
        return cls(template_set=template_set, renderers=dict(renderer_versions()))

    def to_json(self) -> bytes:
        data = {"format": PROFILE_FORMAT, "template_set": self.template_set}
        data["renderers"] = dict(sorted(self.renderers.items()))
        return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> RenderProfile:
        """Raises ValueError on anything but a profile record this version can read."""
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
            raise ValueError(f"not a format-{PROFILE_FORMAT} render profile")
        template_set, renderers = data.get("template_set"), data.get("renderers")
        if not isinstance(template_set, str) or not isinstance(renderers, dict):
            raise ValueError("a render profile needs a template_set and its renderers")
        return cls(
            template_set=template_set, renderers={str(k): str(v) for k, v in renderers.items()}
        )

    def differences(self, installed: dict[str, str] | None = None) -> list[str]:
        """ "xhtml2pdf 0.2.16 (installed: 0.2.17)" for each recorded version that differs here.

        A component this profile did not record (tracked since) is not a difference: there is
        nothing to compare it with, and the re-rendered bytes are the proof either way. Nor is
        an earlier `quittance-render` this code still renders the way it did."""
        installed = renderer_versions() if installed is None else installed
        return [
            f"{key} {version} (installed: {installed.get(key, 'absent')})"
            for key, version in sorted(self.renderers.items())
            if installed.get(key, "absent") != version
            and not (key == "quittance-render" and version in RENDERED_VERSIONS)
        ]
