"""Batch files for financing platforms that take uploads over SFTP (or a shared folder).

    drop = SftpDrop(sftp_config, inbox="scf/inbox", outbox="scf/outbox")   # or FolderDrop(inbox, outbox)
    name = submit_batch_file(drop, "B-2026-0001", invoices, fmt="csv")
    ...
    for ack in read_acknowledgements(drop): ack.batch_file, ack.lines

Batch files are uploaded under a temporary name (``.<name>.part``) and renamed when complete, so the
platform never reads half a file. Acknowledgements (``<stem>.ack.csv`` / ``.ack.xml``) are read with
the ordinary file sources (``connectors.transport``) and moved to ``outbox/processed`` once read.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import posixpath
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko
from lxml import etree

from connectors.transport import LocalFolderConfig, LocalFolderSource, SFTPConfig, SFTPSource
from connectors.transport.base import FileSource
from connectors.xmlsafe import XmlError, parse_document
from ledgerlink.errors import TransportError

from .rest import FinancingError, PayableInvoice

BATCH_NS = "urn:scf-sandbox:batch:1"
ACK_NS = "urn:scf-sandbox:ack:1"
CSV_COLUMNS = ("buyer_reference", "supplier_id", "invoice_number", "currency", "amount", "due_date", "iban")
XML_TAGS = ("BuyerReference", "SupplierId", "InvoiceNumber", "Currency", "Amount", "DueDate", "Iban")
ACK_PATTERN = "*.ack.*"


# ------------------------------------------------------------------------------------ formats
def batch_csv(invoices: Sequence[PayableInvoice]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for inv in invoices:
        row = inv.to_json()
        writer.writerow([row[c] for c in CSV_COLUMNS])
    return out.getvalue().encode()


def batch_xml(invoices: Sequence[PayableInvoice], batch_id: str) -> bytes:
    root = etree.Element(f"{{{BATCH_NS}}}InvoiceBatch", nsmap={None: BATCH_NS}, id=batch_id)
    for inv in invoices:
        el = etree.SubElement(root, f"{{{BATCH_NS}}}Invoice")
        row = inv.to_json()
        for tag, column in zip(XML_TAGS, CSV_COLUMNS, strict=True):
            etree.SubElement(el, f"{{{BATCH_NS}}}{tag}").text = row[column]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@dataclass(frozen=True)
class AckLine:
    line: int  # line in the batch file (CSV: physical line; XML: n-th Invoice); 0: the whole file
    buyer_reference: str
    invoice_number: str
    accepted: bool
    platform_id: str
    reason: str


@dataclass(frozen=True)
class Acknowledgement:
    file_name: str  # the ack file
    batch_file: str  # the batch file it answers
    lines: tuple[AckLine, ...]

    @property
    def file_refused(self) -> bool:
        return any(line.line == 0 for line in self.lines)


def parse_ack_csv(data: bytes, name: str) -> list[AckLine]:
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        return [
            AckLine(
                int(r["line"]),
                r["buyer_reference"],
                r["invoice_number"],
                r["result"] == "accepted",
                r["platform_id"],
                r["reason"],
            )
            for r in reader
        ]
    except (UnicodeDecodeError, KeyError, ValueError, TypeError) as exc:
        raise FinancingError(
            f"acknowledgement {name}: not a valid ack CSV ({exc})", call="read ack"
        ) from None


def parse_ack_xml(data: bytes, name: str) -> list[AckLine]:
    try:
        root = parse_document(data, name=name)
        return [
            AckLine(
                int(el.get("number")),
                el.get("buyerReference", ""),
                el.get("invoiceNumber", ""),
                el.get("result") == "accepted",
                el.get("platformId", ""),
                (el.text or "").strip(),
            )
            for el in root.iterfind(f"{{{ACK_NS}}}Line")
        ]
    except (XmlError, ValueError, TypeError) as exc:
        raise FinancingError(
            f"acknowledgement {name}: not a valid ack XML ({exc})", call="read ack"
        ) from None


# ------------------------------------------------------------------------------------ targets
class DropTarget(Protocol):
    def upload(self, name: str, data: bytes) -> str:
        """Put ``data`` into the inbox as ``name`` (temporary name first); returns the final path."""
        ...

    def outbox_source(self) -> FileSource:
        """A file source over the outbox listing acknowledgement files."""
        ...


class FolderDrop:
    def __init__(self, inbox: Path | str, outbox: Path | str) -> None:
        self.inbox = Path(inbox)
        self.outbox = Path(outbox)

    def upload(self, name: str, data: bytes) -> str:
        final = self.inbox / name
        if final.exists():
            raise TransportError(f"{final} already exists; batch file names must be unique")
        self.inbox.mkdir(parents=True, exist_ok=True)
        part = self.inbox / f".{name}.part"
        with open(part, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, final)
        return str(final)

    def outbox_source(self) -> FileSource:
        self.outbox.mkdir(parents=True, exist_ok=True)
        return LocalFolderSource(
            LocalFolderConfig(self.outbox, pattern=ACK_PATTERN, stable_seconds=0, processed_dir="processed")
        )


class SftpDrop:
    """Inbox and outbox folders on an SFTP server (host key pinned as for every SFTP source)."""

    def __init__(self, config: SFTPConfig, inbox: str = "inbox", outbox: str = "outbox") -> None:
        self.config = config
        self.inbox = inbox
        self.outbox = outbox

    def outbox_source(self) -> FileSource:
        return SFTPSource(self._config(self.outbox))

    def _config(self, remote_dir: str) -> SFTPConfig:
        return dataclasses.replace(
            self.config,
            remote_dir=remote_dir,
            pattern=ACK_PATTERN,
            stable_seconds=0,
            processed_dir="processed",
            done_suffix=None,
            failed_dir=None,
        )

    def upload(self, name: str, data: bytes) -> str:
        with SFTPSource(self._config(self.inbox)) as source:
            sftp = source.sftp
            part = posixpath.join(self.inbox, f".{name}.part")
            final = posixpath.join(self.inbox, name)
            try:
                sftp.putfo(io.BytesIO(data), part, file_size=len(data), confirm=True)
                sftp.rename(part, final)  # SFTPv3 rename never replaces an existing file
            except (OSError, EOFError, paramiko.SSHException) as exc:
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    sftp.remove(part)
                raise TransportError(f"SFTP {self.config.address}: cannot upload {final!r}: {exc}") from None
            return final


# ------------------------------------------------------------------------------------ operations
def submit_batch_file(
    target: DropTarget, batch_id: str, invoices: Sequence[PayableInvoice], fmt: str = "csv"
) -> str:
    """Write the batch as ``<batch_id>.csv`` or ``.xml`` into the target's inbox; returns the file name."""
    if not invoices:
        raise FinancingError(f"batch {batch_id}: no invoices", call="submit batch file")
    if fmt not in ("csv", "xml"):
        raise FinancingError(
            f"batch {batch_id}: format must be csv or xml, not {fmt!r}", call="submit batch file"
        )
    if not batch_id or "/" in batch_id or batch_id.startswith("."):
        raise FinancingError(f"batch id {batch_id!r} cannot be a file name", call="submit batch file")
    name = f"{batch_id}.{fmt}"
    data = batch_csv(invoices) if fmt == "csv" else batch_xml(invoices, batch_id)
    target.upload(name, data)
    return name


def read_acknowledgements(target: DropTarget) -> list[Acknowledgement]:
    """Every acknowledgement waiting in the outbox, parsed; each is moved to ``processed`` once read."""
    out = []
    with target.outbox_source() as source, tempfile.TemporaryDirectory(prefix="ledgerlink-ack-") as tmp:
        for remote in source.list_ready():
            fetched = source.fetch(remote, Path(tmp))
            data = fetched.path.read_bytes()
            stem, _, ext = remote.name.rpartition(".ack.")
            lines = parse_ack_xml(data, remote.name) if ext == "xml" else parse_ack_csv(data, remote.name)
            out.append(Acknowledgement(remote.name, f"{stem}.{ext}", tuple(lines)))
            source.mark_done(remote, ok=True)
    return out
