"""Dependencies of the decision routes: the responder, actions, and the link signer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oasis.approve import LinkLedger, LinkSigner
from oasis.notify import Outbox
from oasis.respond import ActionStore, Responder


def get_responder(request: Request) -> Responder:
    return request.app.state.responder


def get_actions(request: Request) -> ActionStore:
    return request.app.state.actions


def get_signer(request: Request) -> LinkSigner:
    return request.app.state.signer


def get_ledger(request: Request) -> LinkLedger:
    return request.app.state.ledger


ResponderDep = Annotated[Responder, Depends(get_responder)]
ActionsDep = Annotated[ActionStore, Depends(get_actions)]
SignerDep = Annotated[LinkSigner, Depends(get_signer)]
LedgerDep = Annotated[LinkLedger, Depends(get_ledger)]


def get_outbox(request: Request) -> Outbox:
    return request.app.state.outbox


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
