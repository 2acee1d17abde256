"""Which model OASIS's agents run on, how patiently, and how much an incident may spend.

Set them under `model:` in the YAML file or as `OASIS_MODEL__...` variables; see
docs/models.md. Keys are never written here: the settings name the variable (or the secrets
file) that holds them, and a key given directly is a `SecretStr`, so `repr`, logs and error
messages show `**********` instead of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Provider = Literal["none", "bedrock", "anthropic", "openai"]

DEFAULT_MODEL_IDS: dict[str, str] = {
    # The OASIS prototype ran on this one; newer Claude models need an inference profile id.
    "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
}

DEFAULT_KEY_ENVS: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetSettings(_Section):
    """What one incident's investigation may spend before OASIS falls back to statistics.

    The prices are examples (Claude Sonnet list prices when this was written): set your
    provider's for the model you use, or the cost limit means little.
    """

    max_tokens_per_incident: int = Field(200_000, ge=1, description=(
        "Tokens (input, output and cache reads and writes) one incident may use in total."))
    max_cost_per_incident_usd: float = Field(2.0, ge=0, description=(
        "Estimated US dollars one incident may cost, at the prices below."))
    price_per_million_input_tokens: float = Field(3.0, ge=0, description=(
        "USD per million uncached input tokens (an example; adjust to your model)."))
    price_per_million_output_tokens: float = Field(15.0, ge=0, description=(
        "USD per million output tokens (an example; adjust to your model)."))
    price_per_million_cache_read_tokens: float = Field(0.3, ge=0, description=(
        "USD per million input tokens read from the prompt cache (an example)."))
    price_per_million_cache_write_tokens: float = Field(3.75, ge=0, description=(
        "USD per million input tokens written to the prompt cache (an example; Anthropic "
        "and Bedrock charge 1.25 times the input price)."))


class ModelSettings(_Section):
    """The model behind the investigation and deployment agents."""

    provider: Provider = Field("none", description=(
        "bedrock (Converse), anthropic, openai (any OpenAI-compatible endpoint: OpenAI, "
        "Ollama, vLLM, llama.cpp server, LiteLLM), or none: no model, the deterministic "
        "analyst investigates and executors act directly."))
    model_id: str | None = Field(None, description=(
        "Model name or id [default per provider: bedrock "
        "anthropic.claude-3-5-sonnet-20240620-v1:0, anthropic claude-sonnet-4-5, openai "
        "gpt-4o-mini; for Ollama name a pulled model such as llama3.1]."))
    base_url: str | None = Field(None, description=(
        "Endpoint override: an OpenAI-compatible base URL such as http://localhost:11434/v1 "
        "(Ollama), the Anthropic API base URL, or Bedrock's endpoint_url (VPC endpoint)."))
    region: str | None = Field(None, description=(
        "AWS region for Bedrock [default: the AWS configuration's, else us-west-2]."))
    api_key_env: str | None = Field(None, description=(
        "Name of the environment variable (or secrets-file key) holding the API key "
        "[default: OPENAI_API_KEY or ANTHROPIC_API_KEY; Bedrock uses the AWS credential "
        "chain, or an Amazon Bedrock API key when this is set]."))
    api_key: SecretStr | None = Field(None, description=(
        "The API key itself, when neither a variable nor a secrets file can hold it. "
        "Never shown; prefer api_key_env or secrets_file so keys stay out of config files."))
    secrets_file: Path | None = Field(None, description=(
        "A YAML mapping or KEY=value file read at start: its values are used as keys (the "
        "one named by api_key_env, and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / "
        "AWS_SESSION_TOKEN for Bedrock). The environment wins over the file."))
    timeout_seconds: float = Field(60.0, gt=0, description=(
        "Connect and read timeout of one request to the provider."))
    max_retries: int = Field(3, ge=0, le=10, description=(
        "Retries of a request that was throttled (429), failed on the server (5xx) or timed "
        "out, with exponential backoff and jitter; 0 tries once."))
    max_tokens: int = Field(2000, ge=1, description="Most tokens one model answer may have.")
    temperature: float = Field(0.0, ge=0, le=2, description=(
        "Sampling temperature (OpenAI-compatible and Bedrock); 0 makes investigations as "
        "repeatable as the model allows. Anthropic's API takes no sampling parameters."))
    prompt_caching: bool = Field(True, description=(
        "Mark the system prompt and conversation for prompt caching where the provider "
        "supports it (Bedrock Claude models, Anthropic). OpenAI caches by itself."))
    redact: bool = Field(True, description=(
        "Redact secrets and personal data from logs and tool results before the model "
        "reads them (see docs/agent-safety.md)."))
    specialist: bool = Field(True, description=(
        "Let the deployment specialist agent carry out approved actions; off, executors "
        "run them directly even when a model is configured."))
    budget: BudgetSettings = Field(default_factory=BudgetSettings)

    @field_validator("secrets_file")
    @classmethod
    def _secrets_file_exists(cls, path: Path | None) -> Path | None:
        # Checked when the configuration loads, not at the first incident hours later.
        if path is not None and not path.expanduser().is_file():
            raise ValueError(f"secrets file {path} does not exist or is not a file")
        return path.expanduser() if path is not None else None

    @property
    def resolved_model_id(self) -> str:
        """`model_id`, or the provider's default."""
        return self.model_id or DEFAULT_MODEL_IDS.get(self.provider, "")

    @property
    def key_env(self) -> str | None:
        """The variable the API key is read from, or None (Bedrock's AWS credential chain)."""
        return self.api_key_env or DEFAULT_KEY_ENVS.get(self.provider)
