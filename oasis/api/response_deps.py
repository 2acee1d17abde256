"""Dependencies of the decision routes: the responder, actions, and the link signer, from
the app's `Services`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from oasis.api.deps import ServicesDep
from oasis.approve import LinkLedger, LinkSigner
from oasis.notify import Outbox
from oasis.respond import ActionStore, Responder


def get_responder(services: ServicesDep) -> Responder:
    return services.responder


def get_actions(services: ServicesDep) -> ActionStore:
    return services.actions


def get_signer(services: ServicesDep) -> LinkSigner:
    return services.signer


def get_ledger(services: ServicesDep) -> LinkLedger:
    return services.ledger


ResponderDep = Annotated[Responder, Depends(get_responder)]
ActionsDep = Annotated[ActionStore, Depends(get_actions)]
SignerDep = Annotated[LinkSigner, Depends(get_signer)]
LedgerDep = Annotated[LinkLedger, Depends(get_ledger)]


def get_outbox(services: ServicesDep) -> Outbox:
    return services.outbox


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
