"""The audit trail: append-only, hash-chained records of everything OASIS did and why.

`AuditLog(url, keys=AuditKeys(...)).append(...)` records, each link an HMAC keyed with an
audit key kept outside the database; `verify()` finds edits and deletions; `anchor()` keeps a
signed head somewhere the database's writers cannot reach, and `verify(anchors=...)` holds the
chain to it; `export_jsonl` and `export_s3` copy the chain. See docs/audit.md.
"""

from oasis.audit.anchors import Anchor, AnchorCheck, anchor, load_check, read_anchors
from oasis.audit.chain import (
    GENESIS_HASH,
    AuditError,
    AuditHead,
    AuditRecord,
    VerifyResult,
    record_hash,
    record_link,
    verify_jsonl,
)
from oasis.audit.keys import AuditKeys, key_id
from oasis.audit.kinds import AuditKind
from oasis.audit.log import AuditLog
from oasis.audit.settings import AuditSettings

__all__ = ["GENESIS_HASH", "Anchor", "AnchorCheck", "AuditError", "AuditHead", "AuditKeys",
           "AuditKind", "AuditLog", "AuditRecord", "AuditSettings", "VerifyResult", "anchor",
           "key_id", "load_check", "read_anchors", "record_hash", "record_link",
           "verify_jsonl"]
