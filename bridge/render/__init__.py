"""Invoice snapshot → HTML → PDF bytes. Pure: reads only the snapshot (and the seller's logo file).

Public API::

    from bridge.render import Templates, render_html, render_pdf
    pdf: bytes = render_pdf(snapshot)                       # our templates
    pdf = render_pdf(snapshot, Templates(Path("my-templates")))   # a shop's overrides
"""

from bridge.render.formatting import format_date, format_money, format_quantity, format_rate
from bridge.render.pdf import RenderError, render_html, render_pdf
from bridge.render.templates import TemplateCheckError, Templates, default_templates_dir

__all__ = [
    "RenderError",
    "TemplateCheckError",
    "Templates",
    "default_templates_dir",
    "format_date",
    "format_money",
    "format_quantity",
    "format_rate",
    "render_html",
    "render_pdf",
]
