"""`quittance …` — the command line. Thin: parse, load settings, call the pipeline, print.

Exit codes: 0 ok, 1 the command ran and found a problem (quarantine, verify failure),
2 bad configuration or usage. One module per group of commands; importing this package
registers them all on `app`.
"""

from bridge.cli import (  # noqa: F401 - they register commands
    accounting,
    admin,
    corrections,
    documents,
    jobs,
    portal,
    service,
    shops,
    stats,
)
from bridge.cli.app import app, console, err_console, main

__all__ = ["app", "console", "err_console", "main"]
