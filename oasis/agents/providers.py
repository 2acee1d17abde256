"""One Strands model from `model:` settings, whichever provider they name.

Each provider's own client does the retrying (429, 5xx, timeouts; exponential backoff with
jitter) and enforces the timeout, so a request is retried in one place and the number in
the settings is the number that happens. Keys come from the environment or the secrets
file and go straight into the client: they are held as `SecretStr` until then, and no
message here ever contains one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import SecretStr

from oasis.agents.settings import ModelSettings
from oasis.signals.errors import Unavailable

if TYPE_CHECKING:
    from strands.models import Model

log = logging.getLogger(__name__)

AWS_SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# OpenAI-compatible servers such as Ollama or llama.cpp ignore the key, but the client
# refuses to start without one.
UNUSED_KEY = "unused"


class ModelUnavailable(Unavailable):
    """No model can be built from these settings; the message says what to change."""


def load_secrets(path: Path) -> dict[str, SecretStr]:
    """The values of a YAML mapping or `KEY=value` file, each wrapped as a secret.

    Errors name the file and line, never the content: a broken line may be half a key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelUnavailable(f"cannot read secrets file {path}: {exc.strerror}") from None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None  # not YAML; KEY=value lines often are not
    if isinstance(parsed, dict):
        return {str(k): SecretStr(str(v)) for k, v in parsed.items() if v is not None}
    return _key_value_lines(text, path)


def _key_value_lines(text: str, path: Path) -> dict[str, SecretStr]:
    secrets: dict[str, SecretStr] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ModelUnavailable(f"secrets file {path}, line {number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        secrets[name.strip()] = SecretStr(value)
    return secrets


def secret_named(name: str, secrets: dict[str, SecretStr]) -> SecretStr | None:
    """`name` from the environment, else from the secrets file; empty counts as unset."""
    if value := os.environ.get(name):
        return SecretStr(value)
    found = secrets.get(name)
    return found if found is not None and found.get_secret_value() else None


def resolve_api_key(settings: ModelSettings, secrets: dict[str, SecretStr]) -> SecretStr | None:
    """The key given directly, else the one in `settings.key_env`, else None."""
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return settings.api_key
    return secret_named(settings.key_env, secrets) if settings.key_env else None


def build_model(settings: ModelSettings) -> Model:
    """A Strands model for `settings.provider`, or `ModelUnavailable` saying why not."""
    if settings.provider == "none":
        raise ModelUnavailable("model.provider is none: no model is configured, so the "
                               "deterministic analyst is used")
    secrets = load_secrets(settings.secrets_file) if settings.secrets_file else {}
    builders = {"bedrock": _bedrock, "anthropic": _anthropic, "openai": _openai}
    model = builders[settings.provider](settings, secrets)
    log.info("model: %s %s%s", settings.provider, settings.resolved_model_id,
             f" at {shown_url(settings.base_url)}" if settings.base_url else "")
    return model


def shown_url(url: str) -> str:
    """`url` fit for a log line: a user:password part (some proxies take one) is hidden."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _missing_key(settings: ModelSettings) -> ModelUnavailable:
    where = f" or in the secrets file {settings.secrets_file}" if settings.secrets_file else ""
    return ModelUnavailable(
        f"no API key for provider {settings.provider}: set the environment variable "
        f"{settings.key_env}{where} (model.api_key_env names another variable)")


def _missing_extra(provider: str, exc: ImportError) -> ModelUnavailable:
    return ModelUnavailable(
        f"provider {provider} needs the strands-agents[{provider}] extra ({exc.name} is not "
        f"installed): pip install 'strands-agents[{provider}]'")


def _openai(settings: ModelSettings, secrets: dict[str, SecretStr]) -> Model:
    try:
        from strands.models.openai import OpenAIModel
    except ImportError as exc:
        raise _missing_extra("openai", exc) from None
    key = resolve_api_key(settings, secrets)
    # A local server (Ollama, vLLM, llama.cpp) needs no key, unless one was asked for.
    if key is None and (settings.base_url is None or settings.api_key_env):
        raise _missing_key(settings)
    client_args: dict[str, Any] = {
        "api_key": key.get_secret_value() if key else UNUSED_KEY,
        "timeout": settings.timeout_seconds,
        "max_retries": settings.max_retries,
    }
    if settings.base_url:
        client_args["base_url"] = settings.base_url
    # OpenAI caches long prompt prefixes by itself; there is no marker to send.
    return OpenAIModel(client_args=client_args, model_id=settings.resolved_model_id,
                       params={"max_tokens": settings.max_tokens,
                               "temperature": settings.temperature})


def _anthropic(settings: ModelSettings, secrets: dict[str, SecretStr]) -> Model:
    try:
        from strands.models import CacheConfig
        from strands.models.anthropic import AnthropicModel
    except ImportError as exc:
        raise _missing_extra("anthropic", exc) from None
    key = resolve_api_key(settings, secrets)
    if key is None:
        raise _missing_key(settings)
    client_args: dict[str, Any] = {
        "api_key": key.get_secret_value(),
        "timeout": settings.timeout_seconds,
        "max_retries": settings.max_retries,
    }
    if settings.base_url:
        client_args["base_url"] = settings.base_url
    # No temperature: Anthropic's current API version (the SDK's default since 2.17)
    # refuses every sampling parameter, and its newest models accept only the defaults.
    config: dict[str, Any] = {"model_id": settings.resolved_model_id,
                              "max_tokens": settings.max_tokens}
    if settings.prompt_caching:
        # cache_control on the system prompt and on the latest user turn.
        config["cache_config"] = CacheConfig(strategy="anthropic")
    return AnthropicModel(client_args=client_args, **config)


def _bedrock(settings: ModelSettings, secrets: dict[str, SecretStr]) -> Model:
    try:
        import boto3
        from botocore.config import Config
        from strands.models import CacheConfig
        from strands.models.bedrock import BedrockModel
    except ImportError as exc:
        raise _missing_extra("bedrock", exc) from None
    # Not the "max_attempts" key: botocore reads that one as retries, not attempts.
    client_config = Config(connect_timeout=settings.timeout_seconds,
                           read_timeout=settings.timeout_seconds,
                           retries={"total_max_attempts": settings.max_retries + 1,
                                    "mode": "standard"})
    config: dict[str, Any] = {"model_id": settings.resolved_model_id, "streaming": False,
                              "max_tokens": settings.max_tokens,
                              "temperature": settings.temperature}
    if settings.prompt_caching:
        # "auto" marks only models that support it (Claude): a cachePoint after the system
        # prompt and after the latest user turn.
        config["cache_config"] = CacheConfig(strategy="auto")
    api_key = None
    if settings.api_key_env or settings.api_key is not None:
        api_key = resolve_api_key(settings, secrets)
        if api_key is None:
            raise _missing_key(settings)
    return BedrockModel(boto_session=boto3.Session(region_name=settings.region,
                                                   **_aws_credentials(secrets)),
                        boto_client_config=client_config, endpoint_url=settings.base_url,
                        api_key=api_key.get_secret_value() if api_key else None, **config)


def _aws_credentials(secrets: dict[str, SecretStr]) -> dict[str, str]:
    """Keys from the secrets file for boto3, unless the environment already has some."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or not secrets.get("AWS_ACCESS_KEY_ID"):
        return {}
    return {name.lower(): secrets[name].get_secret_value()
            for name in AWS_SECRET_NAMES if name in secrets}
