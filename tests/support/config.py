"""The one config writer of the tests: the demo seller plus the tables a test asks for.

Tables are plain dicts rendered as TOML, so a test states what it changes (`jobs={...}`) and
two tests never disagree about the rest. `shops` become `[[shops]]` entries (see `shops.py`).
"""

from __future__ import annotations

import atexit
import copy
import json
import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from bridge.config import Settings, load_settings
from bridge.demo import DEMO_CONFIG
from bridge.ecb_sandbox import write_carried_forward

Table = Mapping[str, Any]

# Quick tests: retries far in the future unless the test moves the clock. The lease outlives
# one send at the default [email] timeout (30 s: 5 replies + a heartbeat); tests that need it
# to lapse move the clock.
TEST_JOBS: dict[str, Any] = {
    "lease_seconds": 160,
    "heartbeat_seconds": 1,
    "backoff_initial_seconds": 60,
    "backoff_max_seconds": 600,
    "give_up_after_hours": 1,
    "quick_retries": 0,
}
# Processes left to themselves (`quittance run`, `worker`): retries soon, by the real clock.
SOON_RETRY_JOBS: dict[str, Any] = {
    "lease_seconds": 160,  # outlives a send at the default [email] timeout (5 × 30 s + 2 s)
    "heartbeat_seconds": 2,
    "backoff_initial_seconds": 1,
    "backoff_max_seconds": 2,
}
SERVER: dict[str, Any] = {
    "public_url": "https://factures.latheiere.example.fr",
    "link_secret": "a-long-link-secret-for-tests-0123456789",
}


@cache
def stand_in_rates() -> Path:
    """The ECB rates file every test config reads unless it names its own: the bundled history
    carried forward a week past today (bridge/ecb_sandbox.py), so that an order paid today
    finds a rate offline. Written once per process, removed at its exit."""
    folder = Path(tempfile.mkdtemp(prefix="quittance-ecb-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_carried_forward(folder / "eurofxref-hist.zip", date.today() + timedelta(days=7))


def currency_table(**overrides: Any) -> dict[str, Any]:
    """`[currency]` of the tests: never downloads (no test reaches the ECB), stand-in rates."""
    return {"refresh_url": "", "rates_file": str(stand_in_rates()), **overrides}


def smtp_table(port: int, **overrides: Any) -> dict[str, Any]:
    """`[email]` for an SMTP server on loopback, without TLS."""
    table = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "bonjour@latheiere.example.fr",
        "from_name": "La Théière",
        "timeout": 3,
    }
    table.update(overrides)
    return {k: v for k, v in table.items() if v is not None}


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    raise TypeError(f"no TOML for {type(value).__name__} {value!r}: write it as a string")


def _pairs(table: Table) -> list[str]:
    # None means "leave the key out", as in `merged`: never the string "None"
    return [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]


def toml_text(data: Table, prefix: str = "") -> str:
    """TOML for nested dicts; a list of dicts becomes an array of tables (`[[shops]]`)."""
    arrays = {k: v for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    scalars = {k: v for k, v in data.items() if k not in arrays and k not in tables}
    out = [f"[{prefix}]"] if prefix and (scalars or not tables) else []
    out += _pairs(scalars)
    for name, table in tables.items():
        out.append(toml_text(table, f"{prefix}.{toml_key(name)}" if prefix else toml_key(name)))
    for name, items in arrays.items():
        for item in items:
            if any(isinstance(v, Mapping) for v in item.values()):
                raise TypeError(f"[[{name}]] entries take plain values only: {item!r}")
            out.append(f"[[{prefix + '.' if prefix else ''}{toml_key(name)}]]")
            out += _pairs(item)
    return "\n".join(out) + "\n"


def merged(base: Table, **tables: Table | None) -> dict[str, Any]:
    """`base` with each table updated key by key; a None value removes the key (or table)."""
    out = copy.deepcopy(dict(base))
    for name, values in tables.items():
        if values is None:
            out.pop(name, None)
            continue
        table = out.setdefault(name, {})
        for key, value in values.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return out


def demo_tables() -> dict[str, Any]:
    """The demo seller and numbering, as `quittance demo` runs them."""
    return tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))


def write_config(
    path: Path,
    *,
    database_url: str | None = None,
    archive_dir: Path | None = None,
    smtp_port: int | None = None,
    jobs: Table | None = None,
    shops: Sequence[Table] = (),
    **tables: Table | None,
) -> Path:
    """Write `path` (a `.toml` file) and return it. Storage defaults to the file's folder."""
    folder = path.parent
    storage = {
        "database_url": database_url or f"sqlite:///{folder / 'q.db'}",
        "archive_dir": str(archive_dir or folder / "archive"),
    }
    data = merged(
        demo_tables(),
        storage=storage,
        jobs={**TEST_JOBS, **(jobs or {})},
        email=smtp_table(smtp_port) if smtp_port is not None else None,
        currency=currency_table(),
        # No test reaches the Commission's VIES: a test that needs one starts the local fake
        # and names it; any other asks a port where nothing listens and is told so at once.
        vies={"wsdl_url": "http://127.0.0.1:9/checkVatService.wsdl"},
        # Services run side by side: none takes the dashboard's default port unless asked.
        dashboard={"port": 0},
    )
    data = merged(data, **tables)
    if shops:
        data["shops"] = [dict(shop) for shop in shops]
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def settings_for(
    tmp_path: Path,
    database_url: str | None = None,
    *,
    smtp_port: int | None = None,
    alert_url: str | None = None,
    quick_retries: int = 0,
    username: str | None = None,
    password: str | None = None,
    templates_dir: Path | None = None,
    jobs: Table | None = None,
) -> Settings:
    """Loaded settings for the pipeline, worker and CLI tests (`jobs`: `[jobs]` keys over
    the quick-test ones)."""
    tables: dict[str, Table | None] = {}
    if smtp_port is not None:
        login = {"username": username or None, "password": password or None}
        tables["email"] = smtp_table(smtp_port, **login)
    if alert_url:
        tables["alerts"] = {"urls": [alert_url], "dedupe_window_minutes": 60}
    if templates_dir:
        tables["templates"] = {"dir": str(templates_dir)}
    path = write_config(
        tmp_path / "quittance.toml",
        database_url=database_url,
        jobs={"quick_retries": quick_retries, **(jobs or {})},
        **tables,
    )
    return load_settings(path, environ={})
