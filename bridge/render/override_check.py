"""A template override must carry every mandatory mention: checked before it renders invoices.

`check_override(templates)` renders every preview case (`bridge.invoicing.cases`: B2C, B2B,
franchise, intra-EU, export, foreign currency, refunded, 100 lines, and a credit note — each
legal situation the document must handle) with the override and runs the same PDF check as
every invoice (`pdf_check.missing_on_pdf`). Our own templates pass it (the tests prove it),
so without an override there is nothing to check. A few seconds, paid once per `Templates`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.archive import tree_hash
from bridge.invoicing.legal import MissingMention
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.render.pdf import INVOICE_TEMPLATE, render_pdf
from bridge.render.pdf_check import missing_on_pdf
from bridge.render.templates import TemplateCheckError, Templates

# Results per (override folder, tree hash of the files): the same files give the same answer,
# so the pre-serving refusal and the start-up warnings render the cases once between them.
_CHECKED: dict[tuple[str, str], list[OverrideProblem]] = {}


@dataclass(frozen=True)
class OverrideProblem:
    """One preview case the override renders without a mandatory mention (or not at all)."""

    file: str  # the override file the invoice is rendered from
    case: str
    missing: MissingMention

    def __str__(self) -> str:
        return f"{self.file}: case {self.case!r}: {self.missing}"


def override_file(templates: Templates) -> str:
    """What to name in a message: the overridden invoice.html, else every overriding file."""
    folder = templates.override_dir
    if folder is None:
        return str(templates.base_dir / INVOICE_TEMPLATE)
    names = templates.names(only_overrides=True)
    if INVOICE_TEMPLATE in names or not names:
        return str(folder / INVOICE_TEMPLATE)
    return ", ".join(str(folder / name) for name in names)


def check_override(
    templates: Templates, cases: Mapping[str, InvoiceSnapshot] | None = None
) -> list[OverrideProblem]:
    """Every mandatory mention the override leaves out of a preview case (remembered per
    folder and content when `cases` is the default set)."""
    if templates.override_dir is None:
        return []
    key = (str(templates.override_dir), tree_hash(templates.files))
    if cases is None and key in _CHECKED:
        return _CHECKED[key]
    from bridge.invoicing.cases import all_cases  # lazy: builds invoices, only when checking

    problems = [
        problem
        for name, snapshot in (all_cases() if cases is None else cases).items()
        for problem in _check_case(templates, name, snapshot)
    ]
    if cases is None:
        _CHECKED[key] = problems
    return problems


def _check_case(
    templates: Templates, name: str, snapshot: InvoiceSnapshot
) -> list[OverrideProblem]:
    file = override_file(templates)
    try:
        missing = missing_on_pdf(snapshot, render_pdf(snapshot, templates))
    except Exception as exc:  # whatever breaks the render or its reading: not live
        return [
            OverrideProblem(file, name, MissingMention("render", f"{type(exc).__name__}: {exc}"))
        ]
    return [OverrideProblem(file, name, m) for m in missing]


def problems_text(problems: list[OverrideProblem]) -> str:
    """One line per rule, with the cases it fails in and its first finding."""
    by_rule: dict[str, list[OverrideProblem]] = {}
    for problem in problems:
        by_rule.setdefault(problem.missing.rule, []).append(problem)
    lines = [f"the invoice template {problems[0].file} leaves mandatory mentions out:"]
    for rule, found in by_rule.items():
        cases = ", ".join(dict.fromkeys(p.case for p in found))
        lines.append(f"  - {rule} (case {cases}): {found[0].missing.message}")
    lines.append(
        "Every invoice rendered with it would be refused and nothing sent. Fix the template "
        "(`quittance preview -c CONFIG` renders each case and checks it), then start again."
    )
    return "\n".join(lines)


def refuse_incomplete_override(templates: Templates) -> None:
    """Raise `TemplateCheckError` naming the file, the cases and the rules, if any is missing."""
    problems = check_override(templates)
    if problems:
        raise TemplateCheckError(problems_text(problems), filename=problems[0].file)
