"""Model providers over real HTTP: a Strands agent built by `build_model` talks to local
fakes of the OpenAI, Anthropic and Bedrock Converse APIs (tests/fakes/llm_servers.py).

Each test checks what a user would see (the tool ran, the answer came back, a throttled
request was retried, a hung provider failed fast, the key stayed out of the logs) and what
the provider received (the tool result, the cache markers, the forced structured answer).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError
from strands import Agent, tool

from oasis.agents.providers import ModelUnavailable, build_model, load_secrets, shown_url
from oasis.agents.settings import BudgetSettings, ModelSettings
from oasis.agents.usage import Budget, BudgetExceeded, Usage, cost, usage_from_result
from tests.fakes.llm_servers import Script, anthropic_app, bedrock_app, openai_app
from tests.helpers import wait_until
from tests.servers import serving

FAKES = {"openai": (openai_app, "/v1"), "anthropic": (anthropic_app, ""),
         "bedrock": (bedrock_app, "")}
PROVIDERS = list(FAKES)
ID_PREFIXES = {"openai": "call", "anthropic": "toolu", "bedrock": "tooluse"}
KEYS = {"OPENAI_API_KEY": "sk-test-openai-0123456789",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
AWS_SECRET = "aws-secret-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _provider_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test keys and dummy AWS credentials; nothing from the developer's own setup."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK",
                 "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@contextmanager
def fake_provider(provider: str, turns: list[dict[str, Any]],
                  **settings: Any) -> Iterator[tuple[Script, ModelSettings]]:
    """A fake `provider` replaying `turns`, and settings pointing at it."""
    script = Script(turns)
    app, suffix = FAKES[provider]
    with serving(app(script)) as url:
        options: dict[str, Any] = {"provider": provider, "base_url": url + suffix,
                                   "region": "us-east-1", "timeout_seconds": 5,
                                   "max_retries": 2, **settings}
        yield script, ModelSettings(**options)


class StatusTool:
    """A small read-only tool that remembers how it was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

        @tool
        def service_status(service: str, minutes: int) -> str:
            """Error rate of a service over the last minutes.

            Args:
                service: Service name.
                minutes: How far back to look.
            """
            self.calls.append((service, minutes))
            return f"{service}: 41% errors over {minutes} min, since deploy v2.3.1"

        self.tool = service_status


def agent_for(settings: ModelSettings, tools: list[Any] | None = None) -> Agent:
    # retry_strategy=None: the provider's client already retried as the settings say.
    return Agent(model=build_model(settings), tools=tools or [], callback_handler=None,
                 system_prompt="You are OASIS's on-call investigator.", retry_strategy=None)


def tool_results_sent(provider: str, body: dict[str, Any]) -> dict[str, str]:
    """Tool call id -> result text, as the request carried them back to the provider."""
    results: dict[str, str] = {}
    for message in body["messages"]:
        if provider == "openai" and message.get("role") == "tool":
            results[message["tool_call_id"]] = message["content"]
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if provider == "anthropic" and block.get("type") == "tool_result":
                results[block["tool_use_id"]] = block["content"][0]["text"]
            if provider == "bedrock" and "toolResult" in block:
                result = block["toolResult"]
                results[result["toolUseId"]] = result["content"][0]["text"]
    return results


def forced_tool(provider: str, body: dict[str, Any]) -> str | None:
    """The tool this request forced the model to call, if any."""
    choice = (body.get("toolConfig") or {}).get("toolChoice") if provider == "bedrock" \
        else body.get("tool_choice")
    if not isinstance(choice, dict):
        return None
    return (choice.get("function") or choice.get("tool") or {}).get("name") or choice.get("name")


def system_cache_marked(provider: str, body: dict[str, Any]) -> bool:
    system = body.get("system")
    if provider == "anthropic":
        return isinstance(system, list) and any("cache_control" in b for b in system)
    if provider == "bedrock":
        return any("cachePoint" in block for block in system or [])
    return False


# -- a whole conversation ----------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_agent_calls_the_tool_sends_its_result_back_and_answers(provider: str) -> None:
    status = StatusTool()
    turns = [{"tool_calls": [{"name": "service_status",
                              "input": {"service": "checkout", "minutes": 15}}],
              "usage": {"input": 1200, "output": 40, "cache_read": 800}},
             {"text": "checkout broke with deploy v2.3.1; roll it back.",
              "usage": {"input": 300, "output": 25, "cache_read": 1500}}]
    with fake_provider(provider, turns, model_id="test-model-1") as (script, settings):
        result = agent_for(settings, [status.tool])("Why is checkout failing?")

    assert status.calls == [("checkout", 15)]
    assert "roll it back" in str(result)
    assert len(script.received) == 2
    first, second = script.received
    sent = tool_results_sent(provider, second.body)
    assert list(sent.values()) == ["checkout: 41% errors over 15 min, since deploy v2.3.1"]
    assert list(sent) == [f"{ID_PREFIXES[provider]}_1_0"]  # the id the fake gave the call
    # The configured model and answer length reached the provider, with the key.
    if provider == "bedrock":
        assert first.path == "/model/test-model-1/converse"
        assert first.body["inferenceConfig"] == {"maxTokens": 2000, "temperature": 0.0}
        assert first.headers["authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=AKIDTESTONLY/")
    else:
        assert first.body["model"] == "test-model-1"
        assert first.body["max_tokens"] == 2000
        auth = first.headers.get("x-api-key") or first.headers["authorization"]
        assert auth.removeprefix("Bearer ") == KEYS[f"{provider.upper()}_API_KEY"]
    # Every provider's way of counting comes out the same: uncached input, cache reads apart.
    usage = usage_from_result(result)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.calls) == \
        (1500, 65, 2300, 2)


def test_openai_compatible_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ollama, vLLM and llama.cpp take any key; OASIS must not demand one."""
    monkeypatch.delenv("OPENAI_API_KEY")
    with fake_provider("openai", [{"text": "hello from llama"}],
                       model_id="llama3.1") as (script, settings):
        assert str(agent_for(settings)("hi")).strip() == "hello from llama"
    assert script.bodies[0]["model"] == "llama3.1"
    assert script.received[0].headers["authorization"] == "Bearer unused"


# -- retries and timeouts ----------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_throttled_or_failed_request_is_retried(provider: str, status: int) -> None:
    with fake_provider(provider, [{"status": status}, {"text": "recovered"}]) as (script, s):
        result = agent_for(s)("Still there?")
    assert str(result).strip() == "recovered"
    assert len(script.received) == 2
    assert script.bodies[0] == script.bodies[1]  # the same request, sent again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retries_stop_after_max_retries(provider: str) -> None:
    with (fake_provider(provider, [{"status": 500}] * 3 + [{"text": "too late"}],
                        max_retries=1) as (script, settings),
          pytest.raises(Exception, match=r"(?i)scripted failure")):
        agent_for(settings)("Anyone?")
    assert len(script.received) == 2  # one try and one retry, not more


# A hung provider holds its answer back for HUNG seconds, far longer than any timeout set
# here and shorter than the test's own: a client that waited for it would fail the test, so
# no test measures how long giving up took.
HUNG = 60


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timed_out_request_is_retried(provider: str) -> None:
    # The timeout is long enough for the retry's immediate answer even on a slow machine.
    with fake_provider(provider, [{"delay": HUNG, "text": "late"}, {"text": "on time"}],
                       timeout_seconds=2, max_retries=1) as (script, settings):
        assert str(agent_for(settings)("Hello?")).strip() == "on time"
    assert len(script.received) == 2 and script.hung_up == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hung_provider_times_out_quickly(provider: str) -> None:
    with fake_provider(provider, [{"delay": HUNG, "text": "late"}], timeout_seconds=0.3,
                       max_retries=0) as (script, settings):
        agent = agent_for(settings)
        with pytest.raises(Exception, match=r"(?i)time(d)? ?out"):
            agent("Hello?")
        # The client hung up at its timeout, not after the provider's delay (or never).
        wait_until(lambda: script.hung_up, what="the fake to see the client hang up")
    assert len(script.received) == 1 and script.hung_up == 1


# -- prompt caching ----------------------------------------------------------------------------

@pytest.mark.parametrize("caching", [True, False])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_prompt_cache_markers_follow_the_setting(provider: str, caching: bool) -> None:
    with fake_provider(provider, [{"text": "ok"}], prompt_caching=caching) as (script, s):
        agent_for(s)("Summarise the incident.")
    body = script.bodies[0]
    # Claude on Bedrock and Anthropic take markers; OpenAI caches by itself, takes none.
    assert system_cache_marked(provider, body) is (caching and provider != "openai")
    if not caching or provider == "openai":
        assert "cache_control" not in json.dumps(body) and "cachePoint" not in json.dumps(body)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_temperature_goes_only_where_the_api_takes_it(provider: str) -> None:
    # Anthropic's current API version refuses sampling parameters (the SDK raises before
    # sending); OpenAI-compatible servers take the setting.
    with fake_provider(provider, [{"text": "ok"}]) as (script, settings):
        agent_for(settings)("Summarise the incident.")
    body = script.bodies[0]
    assert ("temperature" in body) is (provider == "openai")


def test_bedrock_models_without_cache_support_get_no_markers() -> None:
    with fake_provider("bedrock", [{"text": "ok"}], model_id="meta.llama3-70b-instruct-v1:0",
                       prompt_caching=True) as (script, settings):
        agent_for(settings)("Summarise the incident.")
    assert "cachePoint" not in json.dumps(script.bodies[0])


# -- structured output -------------------------------------------------------------------------

class RootCause(BaseModel):
    """Where an incident started."""

    service: str = Field(description="The service where the problem starts.")
    confidence: float = Field(ge=0, le=1)


ROOT_CAUSE_CALL = {"tool_calls": [{"name": "RootCause",
                                   "input": {"service": "payments", "confidence": 0.8}}]}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output_comes_back_through_a_tool_call(provider: str) -> None:
    with fake_provider(provider, [ROOT_CAUSE_CALL]) as (script, settings):
        result = agent_for(settings)("Where did it start?", structured_output_model=RootCause)
    assert result.structured_output == RootCause(service="payments", confidence=0.8)
    assert len(script.received) == 1
    offered = json.dumps(script.bodies[0].get("tools") or script.bodies[0]["toolConfig"])
    assert "RootCause" in offered


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output_is_forced_when_the_model_answers_in_prose(provider: str) -> None:
    turns = [{"text": "I think payments is the culprit."}, ROOT_CAUSE_CALL]
    with fake_provider(provider, turns) as (script, settings):
        result = agent_for(settings)("Where did it start?", structured_output_model=RootCause)
    assert result.structured_output == RootCause(service="payments", confidence=0.8)
    assert [forced_tool(provider, body) for body in script.bodies] == [None, "RootCause"]


# -- configuration errors and secrets ----------------------------------------------------------

def test_no_provider_means_no_model() -> None:
    with pytest.raises(ModelUnavailable, match="deterministic analyst"):
        build_model(ModelSettings())


@pytest.mark.parametrize(("provider", "variable"),
                         [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, provider: str,
                                        variable: str) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(ModelUnavailable, match=variable):
        build_model(ModelSettings(provider=provider))
    with pytest.raises(ModelUnavailable, match="TEAM_LLM_KEY"):
        build_model(ModelSettings(provider=provider, api_key_env="TEAM_LLM_KEY",
                                  base_url="http://127.0.0.1:9/v1"))


def test_missing_client_library_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "strands.models.anthropic", raising=False)
    with pytest.raises(ModelUnavailable, match=r"strands-agents\[anthropic\]"):
        build_model(ModelSettings(provider="anthropic"))


def test_settings_never_show_a_key_given_directly() -> None:
    key = "sk-direct-0123456789abcdef"
    settings = ModelSettings(provider="openai", api_key=key)
    for shown in (repr(settings), str(settings), settings.model_dump_json(),
                  str(settings.model_dump())):
        assert key not in shown
    assert settings.api_key is not None and settings.api_key.get_secret_value() == key


SECRET_FILES = {
    "openai": ("secrets.env", "# team keys\nexport OPENAI_API_KEY='sk-file-openai-secret'\n",
               "OPENAI_API_KEY", "sk-file-openai-secret"),
    "anthropic": ("secrets.yaml", "ANTHROPIC_API_KEY: sk-file-anthropic-secret\n",
                  "ANTHROPIC_API_KEY", "sk-file-anthropic-secret"),
    "bedrock": ("secrets.yaml", "AWS_ACCESS_KEY_ID: AKIDFROMFILE\n"
                "AWS_SECRET_ACCESS_KEY: aws-file-secret-access-key\n",
                "AWS_SECRET_ACCESS_KEY", "aws-file-secret-access-key"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_key_from_secrets_file_is_used_and_never_logged(
        provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    name, content, variable, secret = SECRET_FILES[provider]
    path = tmp_path / name
    path.write_text(content)
    monkeypatch.delenv(variable)
    if provider == "bedrock":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    caplog.set_level(logging.DEBUG)
    status = StatusTool()
    turns = [{"tool_calls": [{"name": "service_status",
                              "input": {"service": "cart", "minutes": 5}}]}, {"text": "done"}]
    with fake_provider(provider, turns, secrets_file=path) as (script, settings):
        assert str(agent_for(settings, [status.tool])("Check cart.")).strip() == "done"
    headers = script.received[0].headers
    if provider == "bedrock":  # signed with the file's key pair
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFROMFILE/")
    else:
        assert (headers.get("x-api-key") or headers["authorization"]).endswith(secret)
    assert caplog.records, "the test must capture the clients' debug logs"
    assert secret not in caplog.text
    assert secret not in repr(settings)


def test_bedrock_api_key_goes_as_bearer_token(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("BEDROCK_KEY", "bedrock-api-key-0123456789")
    caplog.set_level(logging.DEBUG)
    with fake_provider("bedrock", [{"text": "ok"}], api_key_env="BEDROCK_KEY") as (script, s):
        agent_for(s)("hi")
    assert script.received[0].headers["authorization"] == "Bearer bedrock-api-key-0123456789"
    assert "bedrock-api-key-0123456789" not in caplog.text


def test_bad_secrets_file_is_reported_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "secrets"
    path.write_text("OPENAI_API_KEY=fine\nsk-pasted-without-a-name-0123\n")
    with pytest.raises(ModelUnavailable, match="line 2: expected KEY=value") as raised:
        load_secrets(path)
    assert "sk-pasted" not in str(raised.value)
    with pytest.raises(ValidationError, match="does not exist"):
        ModelSettings(provider="openai", secrets_file=tmp_path / "missing.env")


def test_logged_endpoint_hides_a_password_in_the_url() -> None:
    assert shown_url("https://oasis:hunter2@llm.internal:4000/v1") == \
        "https://***@llm.internal:4000/v1"
    assert shown_url("http://localhost:11434/v1") == "http://localhost:11434/v1"


def test_settings_defaults_per_provider_and_typos_rejected() -> None:
    assert ModelSettings(provider="bedrock").resolved_model_id == \
        "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert ModelSettings(provider="anthropic").resolved_model_id == "claude-sonnet-4-5"
    assert ModelSettings(provider="openai").resolved_model_id == "gpt-4o-mini"
    assert ModelSettings(provider="openai", model_id="llama3.1").resolved_model_id == "llama3.1"
    assert ModelSettings(provider="bedrock").key_env is None
    with pytest.raises(ValidationError, match="timeout"):
        ModelSettings(provider="openai", timeout=30)
    with pytest.raises(ValidationError, match="provider"):
        ModelSettings(provider="gemini")


# -- usage and budget --------------------------------------------------------------------------

def test_budget_stops_an_incident_that_spends_too_much() -> None:
    with fake_provider("anthropic", [{"text": "long answer",
                                      "usage": {"input": 150_000, "output": 60_000}}]) as (_s, s):
        result = agent_for(s)("Investigate everything.")
    usage = Usage().add(usage_from_result(result))
    budget = Budget(BudgetSettings())
    with pytest.raises(BudgetExceeded, match="max_tokens_per_incident is 200,000"):
        budget.check(usage)
    assert budget.remaining_tokens(usage) == 0
    assert usage.to_dict()["cost_usd"] == pytest.approx(150_000 * 3e-6 + 60_000 * 15e-6)

    cheap_limit = Budget(BudgetSettings(max_cost_per_incident_usd=0.01))
    small = Usage(input_tokens=5_000, output_tokens=500, calls=1)
    with pytest.raises(BudgetExceeded, match=r"max_cost_per_incident_usd is \$0.01"):
        cheap_limit.check(small)
    Budget(BudgetSettings()).check(small)  # well within the defaults
    assert Budget(BudgetSettings()).remaining_tokens(small) == 194_500


def test_cost_prices_each_kind_of_token_once() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000,
                  cache_write_tokens=400_000)
    assert cost(usage, BudgetSettings()) == pytest.approx(3.0 + 1.5 + 0.6 + 1.5)
    total = Usage().add(usage).add(usage)
    assert total.total_tokens == 2 * 3_500_000
    assert total.to_dict()["total_tokens"] == 7_000_000
