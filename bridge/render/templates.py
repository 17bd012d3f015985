"""Finding and loading the Jinja2 templates: ours, optionally overridden file by file by a shop.

`Templates(override_dir)` builds ONE Jinja2 environment (compiled templates are cached in it):
a file in `override_dir` wins, any file it lacks falls back to ours. A broken override is
reported when the `Templates` is built — `TemplateCheckError("…/invoice.html:12: unexpected
'}'")` — not in the middle of a render job.

`templates.files` holds the bytes of the effective folder (ours overlaid with the override,
images included), read once when the `Templates` is built, like the compiled templates: it is
the template set an archived document is frozen with (`bridge.render.archived`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import jinja2

TEMPLATE_SUFFIXES = (".html", ".htm", ".xml", ".txt", ".css", ".j2", ".jinja")
# Every invoice freezes a copy of the set when it changes: a folder holding more than
# templates and a few images (a photo library, a build output) is a mistake to say out loud.
MAX_TEMPLATE_SET_BYTES = 16 * 1024 * 1024
_SKIPPED_PARTS = ("__pycache__",)


class TemplateCheckError(Exception):
    """A template does not compile (or the override folder is unusable); `str()` names file:line."""

    def __init__(self, message: str, *, filename: str = "", lineno: int | None = None):
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno


def default_templates_dir() -> Path:
    """Our templates: `bridge/_templates` in an installed wheel, else the repo's `templates/`."""
    package = Path(__file__).resolve().parent.parent  # bridge/
    for candidate in (package / "_templates", package.parent / "templates"):
        if (candidate / "invoice.html").is_file():
            return candidate
    raise FileNotFoundError(
        f"invoice templates not found in {package / '_templates'} "
        f"nor in {package.parent / 'templates'}"
    )


class Templates:
    """A Jinja2 environment over (override_dir, ours); autoescaped HTML, strict undefined."""

    def __init__(self, override_dir: Path | None = None, *, base_dir: Path | None = None):
        self.base_dir = Path(base_dir) if base_dir else default_templates_dir()
        self.override_dir = Path(override_dir) if override_dir is not None else None
        loaders: list[jinja2.BaseLoader] = []
        if self.override_dir is not None:
            if not self.override_dir.is_dir():
                raise TemplateCheckError(
                    f"templates override folder {self.override_dir} does not exist",
                    filename=str(self.override_dir),
                )
            loaders.append(jinja2.FileSystemLoader(self.override_dir))
        loaders.append(jinja2.FileSystemLoader(self.base_dir))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(("html", "htm", "xml")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # compiled once per process; restart to pick up edits
            cache_size=-1,
        )
        if self.override_dir is not None:
            self.check(only_overrides=True)
        self.files: Mapping[str, bytes] = MappingProxyType(self._read_files())

    def _read_files(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for root in (self.base_dir, self.override_dir):  # the override's files win
            if root is not None:
                files.update({name: path.read_bytes() for name, path in folder_files(root)})
        size = sum(len(data) for data in files.values())
        if size > MAX_TEMPLATE_SET_BYTES:
            where = self.override_dir or self.base_dir
            raise TemplateCheckError(
                f"the templates in {where} weigh {size // 1024} KiB (at most "
                f"{MAX_TEMPLATE_SET_BYTES // 1024} KiB): keep only templates and their images",
                filename=str(where),
            )
        return files

    def names(self, *, only_overrides: bool = False) -> list[str]:
        dirs = [self.override_dir] if only_overrides else [self.override_dir, self.base_dir]
        found: set[str] = set()
        for d in dirs:
            if d is None:
                continue
            for path in d.rglob("*"):
                if path.is_file() and path.suffix.lower() in TEMPLATE_SUFFIXES:
                    found.add(path.relative_to(d).as_posix())
        return sorted(found)

    def check(self, *, only_overrides: bool = False) -> list[str]:
        """Compile every template (the effective one for each name); return the names checked."""
        names = self.names(only_overrides=only_overrides)
        for name in names:
            self.get(name)
        return names

    def get(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or name
            raise TemplateCheckError(
                f"{where}:{exc.lineno}: {exc.message}", filename=where, lineno=exc.lineno
            ) from exc

    def render(self, name: str, **context: object) -> str:
        return self.get(name).render(**context)


def folder_files(root: Path) -> list[tuple[str, Path]]:
    """(posix name, path) of every regular file under `root`, hidden files and caches aside."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        # a name with a line break could not be listed in the set's `sha256sum`-style hash
        if any(p.startswith(".") or p in _SKIPPED_PARTS for p in parts) or "\n" in str(path):
            continue
        if path.is_file():
            found.append(("/".join(parts), path))
    return found
