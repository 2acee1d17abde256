"""The composition root: builds the response and triage sides (and the Slack adapters they
deliver through) from `oasis.config.Settings`, once, for the service and the CLI alike.

Only faces (`oasis.api`, `oasis.cli`) import it; no flow or domain package does (the
contracts in pyproject.toml, docs/architecture.md). Import the submodule you need
(`oasis.runtime.response`, `oasis.runtime.triage`, `oasis.runtime.slack`): this package
imports nothing itself, so a CLI command pays only for the side it builds.
"""
