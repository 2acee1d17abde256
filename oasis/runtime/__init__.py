"""The composition root: builds the response and triage sides (and the Slack adapters they
deliver through) from `oasis.config.Settings`, once, for the service and the CLI alike;
`oasis.runtime.services` opens everything the service's faces use (`Services`) and
`oasis.runtime.loops` runs its background loops (monitor, responder, notification
dispatcher, retention).

Only faces (`oasis.api`, `oasis.web`, `oasis.cli`) import it; no flow or domain package
does (the contracts in pyproject.toml, docs/architecture.md). Import the submodule you need
(`oasis.runtime.response`, `oasis.runtime.triage`, `oasis.runtime.slack`,
`oasis.runtime.services`, `oasis.runtime.loops`): this package imports nothing itself, so a
CLI command pays only for the side it builds.
"""
