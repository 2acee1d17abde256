"""The notification dispatcher: one pass sends every due delivery in the outbox over the
configured channels, whichever flow queued it (the response loop's incident mail, the
triage flow's ticket mail, the Slack watcher's messages).

The service runs it on its own interval (`oasis.runtime.loops`), with or without the
monitor and the response loop. Rows are claimed one by one (`Outbox.deliver_due`), so two
dispatchers on one database never send the same row twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from oasis.notify.channels import Channel
from oasis.notify.outbox import Delivery, Outbox


class Dispatcher:
    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel],
                 on_outcome: Callable[[Delivery], None] | None = None) -> None:
        """`on_outcome` hears of every delivery a pass touched (sent, failed or waiting
        for a retry); the composition root audits them."""
        self.outbox, self.channels, self.on_outcome = outbox, channels, on_outcome

    def dispatch(self, now: datetime | None = None) -> list[Delivery]:
        """Send what is due now; the deliveries as they ended up."""
        touched = self.outbox.deliver_due(self.channels, now)
        if self.on_outcome is not None:
            for delivery in touched:
                self.on_outcome(delivery)
        return touched
