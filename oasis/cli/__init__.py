"""Command line interface: `oasis COMMAND`.

Each command lives in its own module and registers itself on `app`.
"""

import oasis.cli.users  # noqa: F401  (registers `oasis users`, first in the help as before)
from oasis.cli import (  # noqa: F401  (each module registers its commands)
    audit,
    db,
    demo,
    detect,
    events,
    incidents,
    ingest,
    kb,
    mail,
    serve,
    simulate,
    triage_eval,
)
from oasis.cli.app import app


def main() -> None:
    app()
