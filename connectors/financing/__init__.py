"""Connectors to supply-chain-finance / invoice-financing platforms: REST and batch-file drops."""

from .filedrop import (
    AckLine,
    Acknowledgement,
    FolderDrop,
    SftpDrop,
    read_acknowledgements,
    submit_batch_file,
)
from .rest import (
    BatchItem,
    BatchResult,
    FinancingError,
    PayableInvoice,
    ReplayGuard,
    ScfClient,
    StatusListing,
    WebhookSignature,
    WebhookVerificationError,
    parse_retry_after,
    read_signature,
    to_financing_request,
    verify_webhook,
)

__all__ = [
    "AckLine",
    "Acknowledgement",
    "BatchItem",
    "BatchResult",
    "FinancingError",
    "FolderDrop",
    "PayableInvoice",
    "ReplayGuard",
    "ScfClient",
    "SftpDrop",
    "StatusListing",
    "WebhookSignature",
    "WebhookVerificationError",
    "parse_retry_after",
    "read_signature",
    "read_acknowledgements",
    "submit_batch_file",
    "to_financing_request",
    "verify_webhook",
]
