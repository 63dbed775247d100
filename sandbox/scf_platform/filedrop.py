"""The platform's batch-file channel: poll an inbox folder, answer with acknowledgement files.

Platforms that predate their REST API take batches as files over SFTP. The sandbox's sshd serves a
local folder, so the platform reads that folder directly:

* ``<name>.csv`` (UTF-8, header ``buyer_reference,supplier_id,invoice_number,currency,amount,due_date,iban``)
  or ``<name>.xml`` (``<InvoiceBatch xmlns="urn:scf-sandbox:batch:1">`` with ``<Invoice>`` elements);
* names that look unfinished (dotfiles, ``*.part``, ``*.tmp``) are left alone, so writers upload
  under a temporary name and rename;
* each file is answered by ``<stem>.ack.csv`` / ``<stem>.ack.xml`` in the outbox: one line per
  invoice, ``accepted`` (with the platform id) or ``rejected`` (with the reason); a file that cannot
  be read at all, or whose content was processed before, gets one line 0 ``rejected``;
* processed files move to ``inbox/processed``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.transport.base import is_in_progress_name
from connectors.xmlsafe import XmlError, parse_document

from .state import Party, PlatformError, PlatformState

BATCH_NS = "urn:scf-sandbox:batch:1"
ACK_NS = "urn:scf-sandbox:ack:1"
COLUMNS = ("buyer_reference", "supplier_id", "invoice_number", "currency", "amount", "due_date", "iban")
XML_FIELDS = {
    "BuyerReference": "buyer_reference",
    "SupplierId": "supplier_id",
    "InvoiceNumber": "invoice_number",
    "Currency": "currency",
    "Amount": "amount",
    "DueDate": "due_date",
    "Iban": "iban",
}
ACK_COLUMNS = ("line", "buyer_reference", "invoice_number", "result", "platform_id", "reason")
_CHECKS = {
    "currency": re.compile(r"[A-Z]{3}"),
    "amount": re.compile(r"-?\d+(\.\d{1,3})?"),
    "due_date": re.compile(r"\d{4}-\d{2}-\d{2}"),
}


class BatchFileError(Exception):
    """The file as a whole cannot be read."""


@dataclass
class AckLine:
    line: int
    buyer_reference: str
    invoice_number: str
    result: str  # accepted | rejected
    platform_id: str
    reason: str


def _check_row(row: dict[str, str]) -> str | None:
    for column in COLUMNS:
        if not row.get(column, "").strip():
            return f"{column} is missing"
    for column, pattern in _CHECKS.items():
        if not pattern.fullmatch(row[column].strip()):
            return f"{column} {row[column]!r} is not valid"
    return None


def read_csv_batch(data: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BatchFileError(f"header lacks column(s) {', '.join(missing)}")
    rows = []
    for row in reader:
        rows.append((reader.line_num, {k: (row.get(k) or "").strip() for k in COLUMNS}))
    return rows


def read_xml_batch(data: bytes, name: str) -> list[tuple[int, dict[str, str]]]:
    try:
        root = parse_document(data, name=name)
    except XmlError as exc:
        raise BatchFileError(str(exc)) from None
    if root.tag != f"{{{BATCH_NS}}}InvoiceBatch":
        raise BatchFileError(f"root element is {root.tag}, expected {{{BATCH_NS}}}InvoiceBatch")
    rows = []
    for number, el in enumerate(root.iterfind(f"{{{BATCH_NS}}}Invoice"), start=1):
        row = {}
        for tag, key in XML_FIELDS.items():
            child = el.find(f"{{{BATCH_NS}}}{tag}")
            row[key] = (child.text or "").strip() if child is not None else ""
        rows.append((number, row))
    return rows


def write_ack_csv(lines: list[AckLine]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ACK_COLUMNS)
    for a in lines:
        writer.writerow([a.line, a.buyer_reference, a.invoice_number, a.result, a.platform_id, a.reason])
    return out.getvalue().encode()


def write_ack_xml(lines: list[AckLine], file_name: str) -> bytes:
    root = etree.Element(f"{{{ACK_NS}}}InvoiceBatchAck", nsmap={None: ACK_NS}, file=file_name)
    for a in lines:
        el = etree.SubElement(
            root,
            f"{{{ACK_NS}}}Line",
            number=str(a.line),
            result=a.result,
            platformId=a.platform_id,
            buyerReference=a.buyer_reference,
            invoiceNumber=a.invoice_number,
        )
        if a.reason:
            el.text = a.reason
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class FileDropChannel:
    def __init__(self, state: PlatformState, party: Party, inbox: Path, outbox: Path) -> None:
        self.state = state
        self.party = party
        self.inbox = inbox
        self.outbox = outbox
        self.processed_dir = inbox / "processed"
        self.seen: dict[str, str] = {}  # sha256 -> first file name
        self.acks: list[str] = []

    def poll(self) -> list[str]:
        """Process every complete batch file in the inbox, oldest name first. Returns the names."""
        if not self.inbox.is_dir():
            return []
        names = sorted(
            e.name
            for e in os.scandir(self.inbox)
            if e.is_file(follow_symlinks=False) and not is_in_progress_name(e.name)
        )
        for name in names:
            self._process(name)
        return names

    def _process(self, name: str) -> None:
        path = self.inbox / name
        data = path.read_bytes()
        stem, _, ext = name.rpartition(".")
        ext = ext.lower()
        lines = self._lines(name, ext, data)
        ack_ext = "xml" if ext == "xml" else "csv"
        body = write_ack_xml(lines, name) if ack_ext == "xml" else write_ack_csv(lines)
        self.outbox.mkdir(parents=True, exist_ok=True)
        ack_name = f"{stem or name}.ack.{ack_ext}"
        part = self.outbox / f".{ack_name}.part"
        part.write_bytes(body)
        os.replace(part, self.outbox / ack_name)
        self.acks.append(ack_name)
        self.processed_dir.mkdir(exist_ok=True)
        os.replace(path, self.processed_dir / name)

    def _lines(self, name: str, ext: str, data: bytes) -> list[AckLine]:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:
            return [
                AckLine(0, "", "", "rejected", "", f"duplicate file: same content as {self.seen[digest]}")
            ]
        try:
            if ext == "csv":
                rows = read_csv_batch(data)
            elif ext == "xml":
                rows = read_xml_batch(data, name)
            else:
                raise BatchFileError("unsupported file type (expected .csv or .xml)")
            if not rows:
                raise BatchFileError("no invoices in the file")
        except BatchFileError as exc:
            return [AckLine(0, "", "", "rejected", "", f"file refused: {exc}")]
        self.seen[digest] = name
        out: dict[int, AckLine] = {}
        valid: list[tuple[int, dict[str, Any]]] = []
        for line, row in rows:
            problem = _check_row(row)
            if problem:
                out[line] = AckLine(
                    line, row["buyer_reference"], row["invoice_number"], "rejected", "", problem
                )
            else:
                valid.append((line, row))
        if valid:
            try:
                _, results = self.state.submit_batch(
                    self.party, [row for _, row in valid], source=f"file:{name}"
                )
            except PlatformError as exc:
                results = [{"id": "", "status": "rejected", "reason": exc.message} for _ in valid]
            for (line, row), result in zip(valid, results, strict=True):
                accepted = result["status"] == "uploaded"
                out[line] = AckLine(
                    line,
                    row["buyer_reference"],
                    row["invoice_number"],
                    "accepted" if accepted else "rejected",
                    result["id"],
                    result.get("reason") or "",
                )
        return [out[k] for k in sorted(out)]
