"""Browser tests in a real Chromium: the OS's package, driven by Playwright from PyPI.

A pytest plugin (`pytest_plugins` in tests/conftest.py), so any test module may ask for:

- `browser`: one headless Chromium per test process (session scope: it takes a second to start);
- `page`: a tab in a fresh context (cookies, storage), closed after the test;
- and call `screenshot(page, name, "phone" | "desktop")`, PNGs in test-results/screenshots/.

Playwright never downloads a browser here: its wheel carries only its driver, and we launch the
OS's Chromium by `executable_path`, so neither `playwright install` nor its cache is needed.

Without Chromium or Playwright's driver, browser tests are skipped on a developer's machine and
fail when `CI` is set: CI installs Chromium (.ci/run), and a suite whose browser tests silently
stopped running would hide the portal's bugs.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import pytest

if TYPE_CHECKING:
    # Only for the types: without Playwright this module must still import, so that the rest
    # of the suite runs and the browser tests skip (or fail under CI) with a useful reason.
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM_ENV = "QUITTANCE_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FALLBACK = "/usr/bin/chromium"  # Debian's, for a PATH without /usr/bin
INSTALL_CHROMIUM = "apt-get install chromium"
INSTALL_PLAYWRIGHT = "pip install -e '.[dev]'"  # the dev extras pin it

# Root in a container: Chromium's sandbox needs user namespaces that containers seldom grant,
# /dev/shm is often 64 MB there (tabs then crash), and there is no GPU.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")

Width = Literal["phone", "desktop"]
VIEWPORTS: dict[Width, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 900},
}

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


def find_chromium() -> str | None:
    """The OS's Chromium: $QUITTANCE_CHROMIUM when set, else the first of CHROMIUM_NAMES on
    PATH, else Debian's path; None when there is none.

    The variable is authoritative: a wrong value finds nothing rather than quietly testing
    some other browser than the one asked for.
    """
    wanted = os.environ.get(CHROMIUM_ENV)
    if wanted:
        return shutil.which(wanted)  # a name is looked up on PATH, a path checked as is
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return shutil.which(CHROMIUM_FALLBACK)


def screenshot(page: Page, name: str, width: Width) -> Path:
    """Save the whole page at a phone's or a desktop's viewport as `<name>-<width>.png`.

    The tab's own viewport is put back afterwards, so a test may go on after its screenshots.
    Names must differ between tests: two test processes write into the same folder.
    """
    if not name or Path(name).name != name:
        raise ValueError(f"a screenshot's name is a file name, not {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    before = page.viewport_size
    page.set_viewport_size(VIEWPORTS[width])
    try:
        page.screenshot(path=path, full_page=True)
    finally:
        if before is not None:
            page.set_viewport_size(before)
    return path


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


class _PlaywrightLoop:
    """Playwright's sync API leaves its event loop marked as running in the main thread
    between its calls (it runs in a greenlet of the same thread). Left so, every later test of
    the same process that calls `asyncio.run()` would fail, depending on which tests xdist
    gave that process before it. So the mark is set only while a browser test, or the
    teardown of a scope holding one, runs.
    """

    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def resume(cls) -> None:
        if cls.loop is not None:
            asyncio.events._set_running_loop(cls.loop)

    @classmethod
    def park(cls) -> None:
        if cls.loop is not None and asyncio.events._get_running_loop() is cls.loop:
            asyncio.events._set_running_loop(None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this test process, from the OS, never downloaded."""
    executable = find_chromium()
    if executable is None:
        if wanted := os.environ.get(CHROMIUM_ENV):
            _unavailable(f"${CHROMIUM_ENV}={wanted} is no executable: {INSTALL_CHROMIUM}")
        _unavailable(
            f"no Chromium ({', '.join(CHROMIUM_NAMES)} on PATH, {CHROMIUM_FALLBACK}): "
            f"{INSTALL_CHROMIUM} (or set ${CHROMIUM_ENV})"
        )
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable(f"Playwright is not installed: {INSTALL_PLAYWRIGHT}")
    try:
        playwright = sync_playwright().start()
    except Error as error:  # its driver (Node.js and a script) ships in the wheel: a broken one
        failure = str(error)
    else:
        failure = None
    if failure is not None:
        _collect_playwright_garbage()
        _unavailable(f"Playwright's driver does not start ({failure}): {INSTALL_PLAYWRIGHT}")
    try:
        # A Chromium that is there but does not start is a real failure, under CI or not.
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
    except BaseException:
        playwright.stop()
        raise
    _PlaywrightLoop.loop = asyncio.events._get_running_loop()
    try:
        yield chromium
    finally:
        # The last test to end may be any test: let Playwright's loop run to close.
        _PlaywrightLoop.resume()
        chromium.close()
        playwright.stop()
        _PlaywrightLoop.park()
        _PlaywrightLoop.loop = None
        _collect_playwright_garbage()


def _collect_playwright_garbage() -> None:
    """A stopped (or failed) Playwright leaves cycles for the garbage collector: its greenlet,
    tasks, futures. Collected at some later point, in the middle of a module's compile() (the
    summary imports modules), their finalizers made CPython abort it: "SystemError: AST
    constructor recursion depth mismatch". So collect them now, between two tests."""
    gc.collect()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A tab at the desktop viewport in a fresh context: no cookie or storage from another
    test."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    try:
        yield context.new_page()
    finally:
        context.close()


# The session, packages, modules and classes holding a browser test: their fixtures may call
# Playwright when they are torn down, at the end of whichever test comes last among them.
_BROWSER_NODES: set[str] = set()


def _drives_chromium(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whatever drives Chromium carries the `browser` mark, even where the module forgot it,
    so `-m "not browser"` leaves out every browser test."""
    for item in items:
        if _drives_chromium(item):
            item.add_marker(pytest.mark.browser)
            _BROWSER_NODES.update(node.nodeid for node in item.listchain()[:-1])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Before the fixtures: a browser test's module- or class-scoped ones call Playwright too.
    if _drives_chromium(item):
        _PlaywrightLoop.resume()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # This teardown also ends the scopes (module, class...) that the next test is not in.
    staying = set(nextitem.listchain()) if nextitem is not None else set()
    ending = [node for node in item.listchain()[:-1] if node not in staying]
    if _drives_chromium(item) or any(node.nodeid in _BROWSER_NODES for node in ending):
        _PlaywrightLoop.resume()
    try:
        return (yield)
    finally:
        _PlaywrightLoop.park()
