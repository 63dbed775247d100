"""The XML invoice embedded in a hybrid PDF (Factur-X / ZUGFeRD PDF/A-3, XRechnung in a PDF).

The PDF is read with pypdf (its own limits on decompressed stream sizes stay on); the invoice
is the embedded file under one of the names the standards give, else the only XML attachment.
"""

from __future__ import annotations

from pathlib import Path

from .model import EInvoiceError

PDF_MAGIC = b"%PDF-"
# Factur-X 1.0 / ZUGFeRD 2.1+, ZUGFeRD 1.0 and 2.0 (compared case-insensitively), XRechnung.
INVOICE_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
MAX_XML_BYTES = 20 * 1024 * 1024


def is_pdf(head: bytes) -> bool:
    # PDF readers accept the header anywhere in the first 1024 bytes.
    return PDF_MAGIC in head[:1024]


def extract_xml(path: Path | str) -> tuple[str, bytes]:
    """(attachment name, its bytes) of the invoice XML in a PDF; EInvoiceError when there is none."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    file = str(path)
    try:
        reader = PdfReader(file)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EInvoiceError(file, None, "the PDF is encrypted: its attachments cannot be read")
        attachments = reader.attachments
        names = list(attachments)
    except EInvoiceError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise EInvoiceError(file, None, f"not a readable PDF: {type(exc).__name__}: {exc}") from None
    by_lower = {name.lower(): name for name in names}
    chosen = next((by_lower[n.lower()] for n in INVOICE_NAMES if n.lower() in by_lower), None)
    if chosen is None:
        xml_names = [n for n in names if n.lower().endswith(".xml")]
        if len(xml_names) == 1:
            chosen = xml_names[0]
    if chosen is None:
        listed = ", ".join(repr(n) for n in names) or "none"
        raise EInvoiceError(file, "PDF /Root/Names/EmbeddedFiles",
                            "no embedded invoice XML (factur-x.xml, zugferd-invoice.xml or xrechnung.xml) "
                            f"in the PDF; attachments: {listed}")
    try:
        contents = attachments[chosen]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise EInvoiceError(file, f"PDF attachment {chosen}", f"cannot be extracted: {exc}") from None
    data = contents[0] if contents else b""
    if len(data) > MAX_XML_BYTES:
        raise EInvoiceError(file, f"PDF attachment {chosen}",
                            f"{len(data)} bytes, more than the {MAX_XML_BYTES} accepted for an invoice XML")
    if not data.strip():
        raise EInvoiceError(file, f"PDF attachment {chosen}", "the embedded invoice XML is empty")
    return chosen, data
