from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.archive import Archive, ArchiveCorruptError, FileState, sha256_hex


def test_put_is_content_addressed_read_only_and_idempotent(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    first = archive.put(b"%PDF-1.4 one", number="FA-2026-000001")
    again = archive.put(b"%PDF-1.4 one", number="FA-2026-000001")
    assert first == again
    assert first.sha256 == sha256_hex(b"%PDF-1.4 one")
    assert first.path.name == f"{first.sha256}.pdf"
    assert not os.access(first.path, os.W_OK) or os.geteuid() == 0  # 0o444 (root ignores it)
    assert oct(first.path.stat().st_mode & 0o777) == "0o444"
    assert archive.read(first.sha256) == b"%PDF-1.4 one"
    assert not list(first.path.parent.glob(".tmp-*")), "no temp file left behind"


def test_alias_by_number_points_at_the_stored_file(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    stored = archive.put(b"data", number="FA/2026/7")
    alias = archive.alias_for("FA/2026/7")
    assert alias.name == "FA_2026_7.pdf"
    assert alias.resolve() == stored.path.resolve()


def test_altered_and_missing_files_are_detected(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    stored = archive.put(b"original")
    os.chmod(stored.path, 0o644)
    stored.path.write_bytes(b"tampered")
    assert archive.state(stored.sha256) is FileState.altered
    with pytest.raises(ArchiveCorruptError, match="altered"):
        archive.read(stored.sha256)
    # put() repairs an altered copy with the genuine bytes
    archive.put(b"original")
    assert archive.state(stored.sha256) is FileState.ok
    stored.path.unlink()
    assert archive.state(stored.sha256) is FileState.missing
    with pytest.raises(ArchiveCorruptError, match="missing"):
        archive.read(stored.sha256)


def test_logo_is_frozen_into_the_archive_so_old_invoices_rerender_identically(
    tmp_path: Path,
) -> None:
    from bridge.config import load_settings
    from bridge.demo import DEMO_CONFIG, sample_orders
    from bridge.pipeline import accept_order, ensure_pdf
    from bridge.render.document import render_document
    from bridge.render.preview import write_previews
    from bridge.services import Services

    logo_dir = tmp_path / "brand"
    write_previews(logo_dir, png=False)  # draws sample logos we can use as real files
    logos = sorted(logo_dir.glob("logo-*.png"))
    assert len(logos) >= 2
    logo = tmp_path / "logo.png"
    logo.write_bytes(logos[0].read_bytes())
    config = tmp_path / "q.toml"
    config.write_text(
        DEMO_CONFIG.read_text(encoding="utf-8").replace(
            'brand_color = "#2f5d50"', f'brand_color = "#2f5d50"\nlogo = "{logo}"'
        )
        + f'\n[storage]\ndatabase_url = "sqlite:///{tmp_path / "q.db"}"\n'
        f'archive_dir = "{tmp_path / "archive"}"\n',
        encoding="utf-8",
    )
    svc = Services.from_settings(load_settings(config, environ={}))
    try:
        result = accept_order(svc, sample_orders()[0][1], then=())
        assert result.invoice is not None
        original = ensure_pdf(svc, result.invoice)
        assert str(tmp_path / "archive" / "assets") in result.invoice.snapshot.seller.logo_path
        logo.write_bytes(logos[1].read_bytes())  # the shop rebrands later
        assert render_document(result.invoice.snapshot, svc.templates) == original
    finally:
        svc.close()
