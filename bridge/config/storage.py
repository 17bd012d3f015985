"""`[storage]`: the database URL (SQLite or PostgreSQL) and the archive folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
)

from bridge.settings_types import (
    Section,
    expand_user,
    fail,
    redact_url,
)


class StorageConfig(Section):
    database_url: str = Field(
        default="sqlite:///var/quittance.db",
        description="sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
    )
    archive_dir: Annotated[Path, BeforeValidator(expand_user)] = Field(
        default=Path("var/archive"), description="the folder keeping the PDFs (10 years)"
    )
    chain_key_file: Annotated[Path | None, BeforeValidator(expand_user)] = Field(
        default=None,
        description="the secret that signs every link of the invoice chain (created on first "
        "issue; default: chain.key beside the archive folder). Keep it OUT of the database "
        "backups' reach and back it up for ten years with the archive",
    )
    archive_min_free_mb: int = Field(
        default=200,
        ge=0,
        description="free space (MB) the archive's disk must keep; below it /readyz says "
        "not ready and the owner is alerted",
    )

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value[len("postgresql://") :]
        if value.startswith("postgres://"):
            raise fail(
                "postgresql://… (not postgres://), e.g. postgresql://quittance@db:5432/quittance"
            )
        if value.startswith(("sqlite:///", "postgresql+psycopg://")) and len(value) > 12:
            return value
        raise fail(
            "a database URL starting with sqlite:/// (e.g. sqlite:///var/quittance.db) or "
            "postgresql:// (e.g. postgresql://quittance@127.0.0.1:5432/quittance)"
        )

    @property
    def chain_key_path(self) -> Path:
        """Beside the archive, not in it: a copy of the archive handed to the accountant must
        not carry the key that signs it."""
        if self.chain_key_file is not None:
            return self.chain_key_file
        return self.archive_dir.parent / "chain.key"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" else value
