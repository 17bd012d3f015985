"""Test support, one place for each piece every test file would otherwise write again.

- `paths`: where the repo, its samples and its copies of real payloads (`tests/fixtures/`) are.
- `waiting.eventually`: the one way to wait for something; its cap only catches hangs.
- `clock.Clock`: the store clock a test moves forward (time is an input).
- `config`: the one config writer (the demo seller plus the tables a test needs).
- `shops`: the `[[shops]]` table for a sandbox shop of each platform.
- `smtp`, `hook`: a scriptable SMTP server and an HTTP endpoint recording apprise alerts.
- `app`: the FastAPI app served by uvicorn in a thread; `service`: `quittance run` as a process.
- `bridges`: a whole running bridge (sandbox shop, SMTP, Services, the app) for either platform.
- `postgres`: a throwaway schema on the test server (shared with `bench/`).
- `orders`, `snapshots`, `documents`: sample orders, issued snapshots (through
  `bridge/invoicing/cases.py`), and reading PDFs and emails back.
"""
