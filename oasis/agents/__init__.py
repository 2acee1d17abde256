"""AI agents: the monitoring agent that investigates incidents and the deployment specialist,
on the model chosen under `model:` (see docs/agents.md and docs/models.md)."""
