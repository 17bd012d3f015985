"""What the issue asks to show: `quittance demo --keep-running` prints the dashboard's line,
and those credentials open it, served by `quittance run` on its own port (never the
webhooks' one)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.support.dashboard import csrf_of

pytestmark = pytest.mark.slow

DASHBOARD_LINE = re.compile(r"^dashboard: (http://\S+) \(user (\S+), password (\S+)\)$", re.M)


def read_until(proc: subprocess.Popen[str], pattern: re.Pattern[str], cap: float) -> str:
    """The demo's output up to the line matching `pattern` (a cap that only catches hangs)."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if pattern.search(line.rstrip("\n")):
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(cap), "".join(seen)[-3000:]
    return "".join(seen)


def test_the_demo_prints_dashboard_credentials_that_open_it(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "demo", "--workdir", "demo", "--keep-running"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output = read_until(demo, DASHBOARD_LINE, cap=300)
        url, user, password = DASHBOARD_LINE.search(output).groups()  # type: ignore[union-attr]
        browser = requests.Session()
        form = browser.get(f"{url}/login", timeout=10)
        signed = browser.post(
            f"{url}/login",
            data={"username": user, "password": password, "csrf": csrf_of(form.text)},
            timeout=30,
        )
        assert signed.status_code == 200 and user in signed.text
        assert "woo" in signed.text and "shopify" in signed.text  # the demo's two shops
        public = re.search(r"is up in [\d.]+ s on (http://\S+)", output)
        assert public is not None
        assert requests.get(f"{public.group(1)}/login", timeout=10).status_code == 404
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
