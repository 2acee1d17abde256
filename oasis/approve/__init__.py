"""The approval gate: signed single-use links and the policies that may skip asking."""

from oasis.approve.links import (
    Decision,
    LinkClaim,
    LinkError,
    LinkLedger,
    LinkSigner,
    expiry,
)
from oasis.approve.policy import auto_approval
from oasis.approve.settings import ApproveSettings, AutoApproveRule

__all__ = ["ApproveSettings", "AutoApproveRule", "Decision", "LinkClaim", "LinkError",
           "LinkLedger", "LinkSigner", "auto_approval", "expiry"]
