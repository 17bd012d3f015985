"""Rendering a document for the archive, and again years later, with its own render profile.

The first render of an invoice freezes the service's templates into the archive (the folder
under its `tree_hash`, like the logo is frozen under its SHA-256) and renders FROM that frozen
copy, so the recorded profile names exactly the files the bytes came from. The PDF is checked
for every mandatory mention (`pdf_check`) before anything else is written: an incomplete
document raises `PdfIncompleteError` and leaves only the frozen templates behind. Then the
profile is recorded under the PDF's SHA-256 — before the PDF itself, so an archived PDF never
lacks its profile.

A re-render (`quittance render`, restoring a lost file) reads that profile and uses the frozen
templates, whatever the live templates have become, and the render path of its profile's
version: a document archived as a plain PDF (render version 1, before Factur-X) is rendered
as that plain PDF again, never "upgraded". A document archived before profiles
existed has none: it is rendered with the service's templates, as it always was. Renderer
versions that differ from the recorded ones are not refused up front — identical bytes are
their own proof — but reported, and named when the bytes then differ. Missing or altered
frozen templates are refused (`RenderProfileError`): never re-render with other files in their
place. This module does I/O on the archive on purpose: it is where rendering meets storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.archive import Archive, FileState, sha256_hex
from bridge.failures import PdfIncompleteError, PdfMismatchError, RenderProfileError
from bridge.invoicing.legal import MissingMention
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.render.document import render_document
from bridge.render.pdf_check import missing_on_pdf
from bridge.render.profile import RenderProfile
from bridge.render.templates import Templates

# Compiled frozen sets, per archive and set hash: immutable by construction, so one per process.
_FROZEN: dict[tuple[str, str], Templates] = {}


@dataclass(frozen=True)
class Reproduction:
    pdf: bytes
    profile: RenderProfile | None  # None: archived before render profiles existed
    drift: list[str] = field(default_factory=list)  # recorded renderer versions not installed

    @property
    def sha256(self) -> str:
        return sha256_hex(self.pdf)


def freeze(archive: Archive, templates: Templates) -> RenderProfile:
    """Store the templates' files in the archive (idempotent) and return the profile now."""
    return RenderProfile.current(archive.put_template_set(templates.files))


def frozen_templates(archive: Archive, template_set: str) -> Templates:
    """The `Templates` over a frozen set, checked intact first (every call: a few small files)."""
    state = archive.template_set_state(template_set)
    if state is not FileState.ok:
        raise RenderProfileError(
            f"the frozen templates {archive.template_set_dir(template_set)} are {state.value}: "
            "restore that folder from the archive's backup"
        )
    key = (str(archive.root), template_set)
    if key not in _FROZEN:
        _FROZEN[key] = Templates(base_dir=archive.template_set_dir(template_set))
    return _FROZEN[key]


def render_for_archive(
    archive: Archive, snapshot: InvoiceSnapshot, templates: Templates
) -> tuple[bytes, RenderProfile]:
    """The PDF of a new document, rendered from its frozen templates, complete, its profile
    recorded: ready for `archive.put`. Raises `PdfIncompleteError` naming each missing rule."""
    profile = freeze(archive, templates)
    pdf = render_document(snapshot, frozen_templates(archive, profile.template_set))
    missing = missing_on_pdf(snapshot, pdf)
    if missing:
        raise PdfIncompleteError(incomplete_message(snapshot.number, missing, templates))
    archive.put_profile(sha256_hex(pdf), profile.to_json())
    return pdf, profile


def incomplete_message(number: str, missing: list[MissingMention], templates: Templates) -> str:
    rules = sorted({m.rule for m in missing})
    details = "; ".join(str(m) for m in missing)
    if templates.override_dir is not None:
        remedy = (
            f"Fix the template override in [templates] dir ({templates.override_dir}) so it "
            "prints them, restart Quittance, then `quittance retry --all` (or the job's id)."
        )
    else:
        remedy = "Our own templates left them out: this is a bug, please report it."
    return (
        f"invoice {number}: the PDF lacks mandatory mention(s) {', '.join(rules)} — {details}. "
        f"Nothing was archived or sent. {remedy}"
    )


def recorded_profile(archive: Archive, pdf_sha256: str) -> RenderProfile | None:
    raw = archive.read_profile(pdf_sha256)
    if raw is None:
        return None
    try:
        return RenderProfile.from_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RenderProfileError(
            f"the render profile {archive.profile_path(pdf_sha256)} is unreadable ({exc}): "
            "restore it from the archive's backup"
        ) from None


def rerender(
    archive: Archive, snapshot: InvoiceSnapshot, pdf_sha256: str, fallback: Templates
) -> Reproduction:
    """The document rendered again with its own profile (`fallback`: the templates for a
    document archived without one). Raises `RenderProfileError` if the profile is unusable."""
    profile = recorded_profile(archive, pdf_sha256)
    if profile is None:
        return Reproduction(render_document(snapshot, fallback, facturx=False), None)
    templates = frozen_templates(archive, profile.template_set)
    pdf = render_document(snapshot, templates, facturx=profile.facturx)
    return Reproduction(pdf, profile, profile.differences())


def restore(
    archive: Archive,
    snapshot: InvoiceSnapshot,
    pdf_sha256: str,
    fallback: Templates,
) -> bytes:
    """Put back a lost or altered archived PDF, only if a re-render gives the recorded bytes."""
    again = rerender(archive, snapshot, pdf_sha256, fallback)
    if again.sha256 != pdf_sha256:
        raise PdfMismatchError(
            f"invoice {snapshot.number}: archived PDF is missing or altered and a fresh "
            f"render does not match the recorded SHA-256 {pdf_sha256}{_why(again)}"
        )
    archive.put(again.pdf, number=snapshot.number)
    return again.pdf


def _why(again: Reproduction) -> str:
    if again.profile is None:
        return " (archived without a render profile: rendered with the current templates)"
    if again.drift:
        return f" (it was rendered with {', '.join(again.drift)})"
    return ""


class ProfileCheck:
    """`quittance verify`'s question for each archived PDF: could it be rendered again here?
    Each frozen set is hashed once per check, however many documents share it."""

    def __init__(self, archive: Archive, witnessed: dict[str, str] | None = None) -> None:
        self.archive = archive
        self.witnessed = witnessed or {}  # PDF SHA-256 → template set, from the event log
        self._states: dict[str, FileState] = {}

    def problems(self, pdf_sha256: str) -> list[str]:
        try:
            profile = recorded_profile(self.archive, pdf_sha256)
        except RenderProfileError as exc:
            return [str(exc)]
        if profile is None and pdf_sha256 in self.witnessed:
            return [
                f"render profile missing: {self.archive.profile_path(pdf_sha256)} (the event "
                f"log recorded template set {self.witnessed[pdf_sha256]}); restore it from "
                "the archive's backup"
            ]
        if profile is None:
            return []  # archived before profiles: the current templates are its profile
        out = []
        digest = profile.template_set
        if digest not in self._states:
            self._states[digest] = self.archive.template_set_state(digest)
        if self._states[digest] is not FileState.ok:
            out.append(
                f"frozen templates {self._states[digest].value}: "
                f"{self.archive.template_set_dir(digest)} (it cannot be re-rendered)"
            )
        drift = profile.differences()
        if drift:
            out.append(
                "rendered with " + ", ".join(drift) + ": a re-render here may differ (the "
                "archived PDF is intact; keep its backup, or install those versions to restore)"
            )
        return out
