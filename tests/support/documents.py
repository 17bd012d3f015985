"""Reading what we send back: the text of a PDF, the PDF attached to an email."""

from __future__ import annotations

from email.message import EmailMessage
from io import BytesIO

from pypdf import PdfReader


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(data)).pages)


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    return part.get_filename() or "", part.get_content()
