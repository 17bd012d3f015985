"""Where things are. Nothing outside the repository is ever read: a clone alone passes."""

from __future__ import annotations

from pathlib import Path

from bridge.demo import SAMPLES_DIR

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# Real payloads written by others, copied into the repo; each folder's SOURCES.md says whence.
FIXTURES = TESTS / "fixtures"
SAMPLES = SAMPLES_DIR
