"""The audit trail: append-only, hash-chained records of everything OASIS did and why.

`AuditLog(url).append(...)` records; `verify()` finds edits and deletions; `export_jsonl` and
`export_s3` copy the chain somewhere it cannot be quietly rewritten. See docs/audit.md.
"""

from oasis.audit.chain import (
    GENESIS_HASH,
    AuditError,
    AuditRecord,
    VerifyResult,
    record_hash,
    verify_jsonl,
)
from oasis.audit.kinds import AuditKind
from oasis.audit.log import AuditHead, AuditLog
from oasis.audit.settings import AuditSettings

__all__ = ["GENESIS_HASH", "AuditError", "AuditHead", "AuditKind", "AuditLog", "AuditRecord",
           "AuditSettings", "VerifyResult", "record_hash", "verify_jsonl"]
