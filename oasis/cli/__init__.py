"""Command line interface: `oasis COMMAND`.

Each command lives in its own module and registers itself on `app`.
"""

from oasis.cli import demo, detect, incidents, ingest, serve, simulate  # noqa: F401  (registers commands)
from oasis.cli.app import app


def main() -> None:
    app()
