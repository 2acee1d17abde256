"""OASIS: an open-source, self-hosted AI operations agent."""

__version__ = "0.1.0"
