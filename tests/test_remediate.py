"""Remediation: the catalog's allow-list, each executor against a real server, routing.

Executors talk to real HTTP servers on loopback: the simulated fleet's control API, a
webhook receiver that checks signatures, and a small server speaking the Kubernetes
apps/v1 REST shape, driven through the real `kubernetes` client.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from oasis.remediate import (
    ActionError,
    ActionKind,
    ActionSpec,
    CommandExecutor,
    ExecutionResult,
    ExecutorError,
    Executors,
    FleetExecutor,
    KubernetesExecutor,
    NoopExecutor,
    RemediateSettings,
    Risk,
    RunbookSpec,
    ScaleParams,
    WebhookExecutor,
    service_of,
)
from oasis.simulate import Fleet
from oasis.simulate.control import create_control_app
from tests.servers import free_port, serving


def action(kind: str, params: dict[str, Any], id: str = "act-1", **extra: Any) -> ActionSpec:
    return ActionSpec(id=id, incident_id="inc-20261123-abc123", kind=kind, params=params,
                      reason="test", **extra)


def details(result: ExecutionResult) -> str:
    return " | ".join(f"{s.name}:{s.ok}:{s.detail}" for s in result.steps)


# -- catalog ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "params", "risk"), [
    ("rollback", {"service": "checkout", "to_version": "2.4.1+build.7"}, Risk.MEDIUM),
    ("restart", {"service": "inventory-service"}, Risk.LOW),
    ("scale", {"service": "catalog", "replicas": 9}, Risk.LOW),
    ("toggle_flag", {"service": "web", "flag": "new-checkout", "enabled": False}, Risk.MEDIUM),
    ("run_runbook", {"runbook": "flush-cache", "args": {"n": 3, "dry": True}}, Risk.MEDIUM),
    ("notify_only", {"note": "watch it"}, Risk.LOW),
])
def test_catalog_accepts_typed_params_with_default_risk(kind: str, params: dict,
                                                        risk: Risk) -> None:
    a = action(kind, params)
    assert a.risk == risk
    typed = a.typed_params()
    for key, value in params.items():
        assert getattr(typed, key) == value
    assert service_of(a) == params.get("service")


@pytest.mark.parametrize(("kind", "params", "field", "words"), [
    ("scale", {"service": "checkout", "replicas": 0}, "params.replicas", "greater than"),
    ("scale", {"service": "checkout", "replicas": 101}, "params.replicas", "less than"),
    ("restart", {"service": "a; rm -rf /"}, "params.service", "not allowed"),
    ("restart", {"service": "-rf"}, "params.service", "not allowed"),
    ("restart", {"service": "checkout", "command": "reboot"}, "params.command",
     "unknown field; allowed: service"),
    ("rollback", {"service": "checkout", "to_version": "$(reboot)"}, "params.to_version",
     "not allowed"),
    ("toggle_flag", {"service": "web", "flag": "x"}, "params.enabled", "required"),
    ("run_runbook", {"runbook": "../../bin/sh"}, "params.runbook", "not allowed"),
    ("run_runbook", {"runbook": "ok", "args": {"a b": 1}}, "params.args.a b", "not allowed"),
    ("notify_only", {"note": "x" * 2001}, "params.note", "at most 2000"),
    ("shell", {"cmd": "ls"}, "kind", "'rollback'"),
])
def test_catalog_refuses_bad_params_naming_the_field(kind: str, params: dict, field: str,
                                                     words: str) -> None:
    with pytest.raises(ActionError) as caught:
        action(kind, params)
    assert f"{field}: " in str(caught.value) and words in str(caught.value), str(caught.value)


def test_action_ids_must_be_safe_file_names_and_specs_round_trip() -> None:
    with pytest.raises(ActionError, match=r"id: '\.\./x' is not allowed"):
        action("restart", {"service": "a"}, id="../x")
    a = action("scale", {"service": "checkout", "replicas": "3"}, risk="high")
    assert a.params == {"service": "checkout", "replicas": 3} and a.risk == Risk.HIGH
    assert ActionSpec.model_validate_json(a.model_dump_json()) == a
    assert isinstance(a.typed_params(), ScaleParams)
    with pytest.raises(ActionError, match=r"params\.service"):
        ActionSpec.model_validate({**a.model_dump(), "params": {"service": "x y", "replicas": 1}})


# -- fleet -----------------------------------------------------------------------------------
@pytest.fixture
def fleet() -> Iterator[tuple[Fleet, str]]:
    f = Fleet()
    f.deploy("checkout-service", "2.5.0")
    with serving(create_control_app(f)) as url:
        yield f, url


def test_fleet_rollback_changes_the_version_exactly_once(fleet: tuple[Fleet, str]) -> None:
    f, url = fleet
    ex = FleetExecutor(url)
    rollback = action("rollback", {"service": "checkout-service"}, id="rb-1")
    first = ex.execute(rollback)
    assert first.ok and not first.repeated, details(first)
    assert [s.name for s in first.steps] == ["check", "change", "verify"]
    assert f.state("checkout-service").version == "2.4.1"
    assert first.output["state"]["version"] == "2.4.1"

    again = ex.execute(rollback)
    assert again.ok and again.repeated, details(again)
    assert again.output["action"]["result"] == first.output["action"]["result"]
    assert len(f.actions()) == 1 and f.state("checkout-service").version == "2.4.1"

    # a new id is a new action: nothing earlier is left to roll back to
    nothing = ex.execute(action("rollback", {"service": "checkout-service"}, id="rb-2"))
    assert not nothing.ok and "no earlier version" in nothing.detail


def test_fleet_dry_run_reads_and_changes_nothing(fleet: tuple[Fleet, str]) -> None:
    f, url = fleet
    ex = FleetExecutor(url)
    result = ex.execute(action("rollback", {"service": "checkout-service"}), dry_run=True)
    assert result.ok, details(result)
    assert "would roll checkout-service back from 2.5.0 to 2.4.1" in result.detail
    assert f.state("checkout-service").version == "2.5.0" and f.actions() == []

    scaled = ex.execute(action("scale", {"service": "catalog-service", "replicas": 7}, id="s1"))
    restarted = ex.execute(action("restart", {"service": "inventory-service"}, id="r1"))
    assert scaled.ok and restarted.ok, details(scaled) + details(restarted)
    assert f.state("catalog-service").replicas == 7
    assert f.state("inventory-service").restarted_at is not None


def test_fleet_failures_are_results_with_a_clear_detail(fleet: tuple[Fleet, str]) -> None:
    f, url = fleet
    unknown = FleetExecutor(url).execute(action("restart", {"service": "nope"}))
    assert not unknown.ok and "unknown service 'nope'" in unknown.detail
    assert f.actions() == []

    down = f"http://127.0.0.1:{free_port()}"
    slept: list[float] = []
    result = FleetExecutor(down, 1, attempts=3, backoff_seconds=0.5, sleep=slept.append).execute(
        action("restart", {"service": "checkout-service"}))
    assert not result.ok and "after 3 attempts" in result.detail and down in result.detail
    assert slept == [0.5, 1.0]  # backing off between the tries, not after the last


# -- webhook ---------------------------------------------------------------------------------
SECRET = "s3cret"


class Receiver:
    """A pipeline trigger: checks the signature, records calls, answers as scripted."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script: dict[str, list[int]] = {}  # action id -> statuses, in turn

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            raw = await request.body()
            expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("x-oasis-signature", ""), expected):
                return JSONResponse({"detail": "bad signature"}, 401)
            body = json.loads(raw)
            self.calls.append({"body": body, "key": request.headers["idempotency-key"]})
            statuses = self.script.get(body["action_id"]) or [200]
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            if status == 200:
                return JSONResponse({"pipeline_run": f"run-{len(self.calls)}"})
            return JSONResponse({"detail": f"scripted {status}"}, status)

        return app


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    r = Receiver()
    with serving(r.app()) as url:
        yield r, url + "/hook"


def test_webhook_posts_signed_json_and_reads_answers(receiver: tuple[Receiver, str]) -> None:
    r, url = receiver
    ex = WebhookExecutor(url, {"Authorization": "Bearer t"}, SECRET, [ActionKind.ROLLBACK],
                         5, attempts=3, backoff_seconds=0.01)
    ok = ex.execute(action("rollback", {"service": "checkout"}, id="wh-ok"))
    assert ok.ok and not ok.repeated and ok.output["pipeline_run"].startswith("run-"), details(ok)
    sent = r.calls[-1]
    assert sent["key"] == "wh-ok"
    assert sent["body"] == {"action_id": "wh-ok", "incident_id": "inc-20261123-abc123",
                            "kind": "rollback", "dry_run": False,
                            "params": {"service": "checkout", "to_version": None}}

    r.script["wh-409"] = [409]
    done = ex.execute(action("rollback", {"service": "checkout"}, id="wh-409"))
    assert done.ok and done.repeated, details(done)

    r.script["wh-flaky"] = [500, 200]
    before = len(r.calls)
    flaky = ex.execute(action("rollback", {"service": "checkout"}, id="wh-flaky"))
    assert flaky.ok and len(r.calls) - before == 2, details(flaky)
    assert {c["key"] for c in r.calls[before:]} == {"wh-flaky"}

    r.script["wh-400"] = [400]
    before = len(r.calls)
    refused = ex.execute(action("rollback", {"service": "checkout"}, id="wh-400"))
    assert not refused.ok and "HTTP 400: scripted 400" in refused.detail
    assert len(r.calls) - before == 1

    r.script["wh-down"] = [503]
    before = len(r.calls)
    broken = ex.execute(action("rollback", {"service": "checkout"}, id="wh-down"))
    assert not broken.ok and "after 3 attempts" in broken.detail and len(r.calls) - before == 3


def test_webhook_dry_run_sends_nothing_and_bad_secret_is_refused(
        receiver: tuple[Receiver, str]) -> None:
    r, url = receiver
    before = len(r.calls)
    dry = WebhookExecutor(url, secret=SECRET, kinds=["restart"]).execute(
        action("restart", {"service": "checkout"}, id="wh-dry"), dry_run=True)
    assert dry.ok and "would POST" in dry.detail and len(r.calls) == before

    sent = WebhookExecutor(url, secret=SECRET, kinds=["restart"], send_dry_runs=True).execute(
        action("restart", {"service": "checkout"}, id="wh-dry"), dry_run=True)
    assert sent.ok and r.calls[-1]["key"] == "wh-dry.dry-run" and r.calls[-1]["body"]["dry_run"]

    forged = WebhookExecutor(url, secret="wrong", kinds=["restart"], attempts=3).execute(
        action("restart", {"service": "checkout"}, id="wh-forged"))
    assert not forged.ok and "bad signature" in forged.detail


# -- command ---------------------------------------------------------------------------------
RECORD = "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')"


def recorder(out: Path, **extra: Any) -> RunbookSpec:
    return RunbookSpec.model_validate({
        "description": "record the typed args",
        "argv": [sys.executable, "-c", RECORD, str(out), "{service}", "--count={count}",
                 "{note}"],
        "params": {"service": {"pattern": "^[a-z-]+$"},
                   "count": {"type": "int", "min": 1, "max": 10},
                   "note": {"required": False, "default": "none"}},
        **extra})


def lines(path: Path) -> list[list[str]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_runbook_args_arrive_as_literal_argv_items_once(tmp_path: Path) -> None:
    out, pwned = tmp_path / "calls.jsonl", tmp_path / "pwned"
    ex = CommandExecutor({"record": recorder(out)}, tmp_path / "state")
    note = f"hi; touch {pwned} && echo $(id)"
    run = action("run_runbook", {"runbook": "record",
                                 "args": {"service": "checkout", "count": 3, "note": note}})
    first = ex.execute(run)
    assert first.ok, details(first)
    assert lines(out) == [["checkout", "--count=3", note]] and not pwned.exists()
    assert first.output["exit_code"] == 0

    again = ex.execute(run)
    assert again.ok and again.repeated and len(lines(out)) == 1
    assert again.output == first.output
    reused = ex.execute(action("run_runbook", {"runbook": "record", "args": {
        "service": "web", "count": 1}}))
    assert not reused.ok and "act-1 was already used" in reused.detail and len(lines(out)) == 1

    defaulted = ex.execute(action("run_runbook", {"runbook": "record", "args": {
        "service": "web", "count": 1}}, id="act-2"))
    assert defaulted.ok and lines(out)[-1] == ["web", "--count=1", "none"]


@pytest.mark.parametrize(("args", "words"), [
    ({"service": "checkout", "count": "3"}, "argument count: must be int, got str '3'"),
    ({"service": "checkout", "count": True}, "argument count: must be int"),
    ({"service": "checkout", "count": 11}, "above the maximum 10"),
    ({"service": "Check Out", "count": 1}, "does not match"),
    ({"count": 1}, "argument service is required"),
    ({"service": "checkout", "count": 1, "user": "root"}, "has no argument user"),
    ({"service": "checkout", "count": 1, "note": "--delete-all"}, "may not start with '-'"),
])
def test_runbook_refuses_bad_args_naming_them(tmp_path: Path, args: dict, words: str) -> None:
    out = tmp_path / "calls.jsonl"
    ex = CommandExecutor({"record": recorder(out)}, tmp_path / "state")
    with pytest.raises(ActionError, match="record") as caught:
        ex.execute(action("run_runbook", {"runbook": "record", "args": args}))
    assert words in str(caught.value) and not out.exists()
    with pytest.raises(ActionError, match="unknown runbook nope; declared: record"):
        ex.execute(action("run_runbook", {"runbook": "nope"}))


def test_crash_mid_run_reruns_only_idempotent_runbooks(tmp_path: Path) -> None:
    out, state = tmp_path / "calls.jsonl", tmp_path / "state"
    args = {"runbook": "record", "args": {"service": "checkout", "count": 2}}
    state.mkdir()
    (state / "crashed.started.json").write_text('{"at": "2026-11-23T00:00:00.000Z"}')
    careful = CommandExecutor({"record": recorder(out)}, state)
    result = careful.execute(action("run_runbook", args, id="crashed"))
    assert not result.ok and not out.exists()
    assert "interrupted" in result.detail and "not declared idempotent" in result.detail
    assert "check by hand" in result.detail

    relaxed = CommandExecutor({"record": recorder(out, idempotent=True)}, state)
    rerun = relaxed.execute(action("run_runbook", args, id="crashed"))
    assert rerun.ok and lines(out) == [["checkout", "--count=2", "none"]], details(rerun)
    assert "re-run" in rerun.steps[0].detail
    assert relaxed.execute(action("run_runbook", args, id="crashed")).repeated


def test_runbook_timeout_exit_code_output_cap_and_dry_run(tmp_path: Path) -> None:
    slow = RunbookSpec(description="hangs", argv=[sys.executable, "-c",
                                                  "import time; time.sleep(30)"],
                       timeout_seconds=0.5)
    failing = RunbookSpec(description="fails", argv=[
        sys.executable, "-c", "import sys; print('x' * 50000); sys.exit('disk full')"])
    out = tmp_path / "calls.jsonl"
    ex = CommandExecutor({"slow": slow, "failing": failing, "record": recorder(out)},
                         tmp_path / "state")
    # A runbook that outlived its timeout would have exited by itself (ok) after 30 s.
    hung = ex.execute(action("run_runbook", {"runbook": "slow"}, id="t1"))
    assert not hung.ok and "timed out after" in hung.detail and "killed" in hung.detail

    failed = ex.execute(action("run_runbook", {"runbook": "failing"}, id="t2"))
    assert not failed.ok and "exit 1" in failed.detail and "disk full" in failed.detail
    assert len(failed.output["stdout"]) < 10_200 and "bytes cut" in failed.output["stdout"]

    dry = ex.execute(action("run_runbook", {"runbook": "record", "args": {
        "service": "web", "count": 1}}, id="t3"), dry_run=True)
    assert dry.ok and "would run" in dry.detail and not out.exists()
    assert not (tmp_path / "state" / "t3.started.json").exists()


def test_runbook_can_implement_a_catalog_kind(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    restart = RunbookSpec.model_validate({
        "description": "restart via systemd", "handles": ["restart"],
        "argv": [sys.executable, "-c", RECORD, str(out), "restart", "{service}"],
        "params": {"service": {"pattern": "^[a-z-]+$"}}})
    ex = CommandExecutor({"restart": restart}, tmp_path / "state")
    assert ex.kinds == {ActionKind.RESTART, ActionKind.RUN_RUNBOOK}
    result = ex.execute(action("restart", {"service": "checkout"}))
    assert result.ok and lines(out) == [["restart", "checkout"]], details(result)


# -- kubernetes ------------------------------------------------------------------------------
APPS = "/apis/apps/v1/namespaces/{ns}"
REV = "deployment.kubernetes.io/revision"


def _template(image: str, pod_hash: str | None = None) -> dict[str, Any]:
    labels = {"app": "checkout", **({"pod-template-hash": pod_hash} if pod_hash else {})}
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def _rs(name: str, revision: int, image: str, owner: str = "uid-checkout") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "labels": {"app": "checkout"},
                         "annotations": {REV: str(revision)},
                         "ownerReferences": [{"kind": "Deployment", "uid": owner,
                                              "name": "checkout"}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "checkout"}},
                     "template": _template(image, name.rsplit("-", 1)[-1])}}


class FakeApps:
    """Just enough of the apps/v1 API and the Deployment controller for these tests."""

    def __init__(self) -> None:
        self.version = 100
        self.patches: list[tuple[str, str]] = []  # (path, content type)
        self.meddle: dict[str, str] | None = None  # annotations someone sets before our patch
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "uid-checkout",
                         "resourceVersion": "100", "generation": 2,
                         "annotations": {REV: "2"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "checkout"}},
                     "template": _template("shop/checkout:2.5.0")},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                       "readyReplicas": 3}}
        self.replicasets = [_rs("checkout-aaa", 1, "shop/checkout:2.4.1"),
                            _rs("checkout-bbb", 2, "shop/checkout:2.5.0"),
                            _rs("other-ccc", 9, "shop/checkout:1.0.0", owner="uid-other")]

    def save(self, new: dict[str, Any]) -> JSONResponse | None:
        """Store `new` if it carries the current resourceVersion; roll out a new template."""
        meta = self.deployment["metadata"]
        if new["metadata"]["resourceVersion"] != meta["resourceVersion"]:
            return _status(409, "Conflict", "the object has been modified")
        strip = lambda t: {**t, "metadata": {**t["metadata"], "labels": {  # noqa: E731
            k: v for k, v in t["metadata"]["labels"].items() if k != "pod-template-hash"}}}
        if strip(new["spec"]["template"]) != strip(self.deployment["spec"]["template"]):
            new["metadata"]["generation"] += 1
            owned = [rs for rs in self.replicasets
                     if rs["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]]
            revision = 1 + max(int(rs["metadata"]["annotations"][REV]) for rs in owned)
            match = next((rs for rs in owned
                          if strip(rs["spec"]["template"]) == strip(new["spec"]["template"])),
                         None)
            if match is None:
                match = _rs(f"checkout-r{revision}", revision, "?")
                match["spec"]["template"] = copy.deepcopy(new["spec"]["template"])
                self.replicasets.append(match)
            match["metadata"]["annotations"][REV] = str(revision)
            new["metadata"]["annotations"][REV] = str(revision)
        self.version += 1
        new["metadata"]["resourceVersion"] = str(self.version)
        self.deployment = new
        return None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get(APPS + "/deployments/{name}")
        def read(ns: str, name: str) -> Any:
            if (ns, name) != ("shop", "checkout"):
                return _status(404, "NotFound", f'deployments.apps "{name}" not found')
            return self.deployment

        @app.patch(APPS + "/deployments/{name}")
        async def patch(ns: str, name: str, request: Request) -> Any:
            if (ns, name) != ("shop", "checkout"):
                return _status(404, "NotFound", f'deployments.apps "{name}" not found')
            kind = request.headers["content-type"]
            self.patches.append((request.url.path, kind))
            if self.meddle is not None:  # another writer got there between read and patch
                other = copy.deepcopy(self.deployment)
                other["metadata"]["annotations"].update(self.meddle)
                self.meddle = None
                self.save(other)
            body, new = await request.json(), copy.deepcopy(self.deployment)
            if kind == "application/json-patch+json":
                for op in body:
                    _json_patch(new, op)
            elif kind == "application/merge-patch+json":
                _merge(new, body)
            else:
                return _status(415, "UnsupportedMediaType", kind)
            return self.save(new) or self.deployment

        @app.patch(APPS + "/deployments/{name}/scale")
        async def scale(ns: str, name: str, request: Request) -> Any:
            self.patches.append((request.url.path, request.headers["content-type"]))
            body, new = await request.json(), copy.deepcopy(self.deployment)
            new["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
            new["spec"]["replicas"] = body["spec"]["replicas"]
            return self.save(new) or {"kind": "Scale", "metadata": new["metadata"],
                                      "spec": {"replicas": new["spec"]["replicas"]}}

        @app.get(APPS + "/replicasets")
        def replicasets(ns: str, labelSelector: str = "") -> dict[str, Any]:
            wanted = dict(p.split("=", 1) for p in labelSelector.split(",") if p)
            items = [rs for rs in self.replicasets
                     if wanted.items() <= rs["metadata"]["labels"].items()]
            return {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "items": items}

        return app


def _status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "message": message, "reason": reason, "code": code}, code)


def _json_patch(doc: dict[str, Any], op: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
    for part in parents:
        doc = doc[part]
    assert op["op"] in ("add", "replace"), op
    doc[last] = op["value"]


def _merge(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            _merge(doc[key], value)
        else:
            doc[key] = value


@pytest.fixture
def k8s() -> Iterator[tuple[FakeApps, KubernetesExecutor]]:
    fake = FakeApps()
    with serving(fake.app(), ready_path="/apis/apps/v1/namespaces/shop/replicasets") as url:
        client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=url))
        yield fake, KubernetesExecutor("shop", api_client=client)
        client.close()


def test_kubernetes_rollback_restores_the_previous_replicaset_once(k8s) -> None:
    fake, ex = k8s
    dry = ex.execute(action("rollback", {"service": "checkout"}, id="k-rb"), dry_run=True)
    assert dry.ok and "would roll deployment checkout back to revision 1 " \
                      "(shop/checkout:2.4.1)" in dry.detail, details(dry)
    assert fake.patches == []

    result = ex.execute(action("rollback", {"service": "checkout"}, id="k-rb"))
    assert result.ok and not result.repeated, details(result)
    template = fake.deployment["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "shop/checkout:2.4.1"
    assert "pod-template-hash" not in template["metadata"]["labels"]
    assert fake.deployment["metadata"]["annotations"]["oasis.dev/action-id"] == "k-rb"
    assert result.output["images"] == ["shop/checkout:2.4.1"] and result.output["revision"] == 3
    assert fake.patches == [("/apis/apps/v1/namespaces/shop/deployments/checkout",
                             "application/json-patch+json")]

    again = ex.execute(action("rollback", {"service": "checkout"}, id="k-rb"))
    assert again.ok and again.repeated and len(fake.patches) == 1, details(again)

    missing = ex.execute(action("rollback", {"service": "checkout", "to_version": "1.0.0"},
                                id="k-rb2"))
    assert not missing.ok and "no earlier ReplicaSet running 1.0.0" in missing.detail
    back = ex.execute(action("rollback", {"service": "checkout", "to_version": "2.5.0"},
                             id="k-rb3"))
    assert back.ok, details(back)
    assert fake.deployment["spec"]["template"]["spec"]["containers"][0]["image"] \
        == "shop/checkout:2.5.0"


def test_kubernetes_restart_and_scale_patch_once(k8s) -> None:
    fake, ex = k8s
    restart = action("restart", {"service": "checkout"}, id="k-rs")
    result = ex.execute(restart)
    assert result.ok, details(result)
    annotations = fake.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"].endswith("Z")
    assert ex.execute(restart).repeated and len(fake.patches) == 1

    scale = action("scale", {"service": "checkout", "replicas": 5}, id="k-sc")
    scaled = ex.execute(scale)
    assert scaled.ok and fake.deployment["spec"]["replicas"] == 5, details(scaled)
    assert fake.patches[1][0].endswith("/deployments/checkout/scale")
    count = len(fake.patches)
    assert ex.execute(scale).repeated and len(fake.patches) == count

    fake.meddle = {"owner": "someone else"}
    raced = ex.execute(action("restart", {"service": "checkout"}, id="k-race"))
    assert not raced.ok and "changed while acting, so nothing was changed" in raced.detail
    assert fake.deployment["metadata"]["annotations"]["oasis.dev/action-id"] == "k-sc"
    fake.meddle = {"oasis.dev/action-id": "k-twin"}  # a second OASIS ran the same action
    twin = ex.execute(action("restart", {"service": "checkout"}, id="k-twin"))
    assert twin.ok and twin.repeated, details(twin)

    gone = ex.execute(action("restart", {"service": "payments"}, id="k-x"))
    assert not gone.ok and "deployment payments in namespace shop not found" in gone.detail


def test_kubernetes_misconfiguration_raises_clearly(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ExecutorError, match="cannot load Kubernetes credentials"):
        KubernetesExecutor("shop", kubeconfig=tmp_path / "missing")
    with pytest.raises(ExecutorError, match="may only use"):
        KubernetesExecutor("shop", "{service}-{env}", api_client=object())
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # as if the extra were not installed
    with pytest.raises(ExecutorError, match=r"pip install 'oasis\[kubernetes\]'"):
        KubernetesExecutor("shop")


# -- settings and routing --------------------------------------------------------------------
def settings_for(tmp_path: Path, **extra: Any) -> RemediateSettings:
    return RemediateSettings.model_validate({
        "executors": [
            {"type": "fleet", "name": "sim", "url": "http://127.0.0.1:9", "kinds": ["rollback"],
             "services": ["checkout"]},
            {"type": "webhook", "name": "ci", "url": "http://127.0.0.1:9/hook",
             "kinds": ["toggle_flag", "rollback"], "secret": "x",
             "headers": {"Authorization": "Bearer t"}},
            {"type": "command", "name": "ops"},
        ],
        "runbooks": {"record": recorder(tmp_path / "calls.jsonl").model_dump()},
        **extra})


def test_registry_routes_by_kind_and_service(tmp_path: Path) -> None:
    executors = Executors.from_settings(settings_for(tmp_path), tmp_path / "state")
    assert executors.for_action(action("rollback", {"service": "checkout"})).name == "sim"
    assert executors.for_action(action("rollback", {"service": "payments"})).name == "ci"
    assert executors.for_action(action("toggle_flag", {"service": "web", "flag": "f",
                                                       "enabled": True})).name == "ci"
    assert executors.for_action(action("run_runbook", {"runbook": "record"})).name == "ops"
    notify = executors.for_action(action("notify_only", {}))
    assert isinstance(notify, NoopExecutor)
    noted = executors.execute(action("notify_only", {"note": "look at payments"}))
    assert noted.ok and noted.detail == "nothing to run; people were notified"
    with pytest.raises(ActionError, match="no executor handles scale of checkout; configured: "
                                          "sim \\(rollback; services: checkout\\); ci"):
        executors.for_action(action("scale", {"service": "checkout", "replicas": 2}))
    assert executors.catalog_for("checkout") == [
        ActionKind.ROLLBACK, ActionKind.TOGGLE_FLAG, ActionKind.RUN_RUNBOOK,
        ActionKind.NOTIFY_ONLY]
    assert executors.default_risk(ActionKind.RUN_RUNBOOK, {"runbook": "record"}) == Risk.MEDIUM
    with pytest.raises(ActionError, match="argument count is required"):
        executors.validate(action("run_runbook", {"runbook": "record", "args": {
            "service": "web"}}))
    executors.close()

    nothing = Executors.from_settings(RemediateSettings(), tmp_path)
    assert nothing.catalog_for("checkout") == [ActionKind.NOTIFY_ONLY]
    with pytest.raises(ActionError, match="configured: none"):
        nothing.for_action(action("restart", {"service": "checkout"}))


def test_settings_dry_run_applies_to_every_action(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    executors = Executors.from_settings(settings_for(tmp_path, dry_run=True), tmp_path / "st")
    result = executors.execute(action("run_runbook", {"runbook": "record", "args": {
        "service": "web", "count": 1}}))
    assert result.ok and "would run" in result.detail and not out.exists()


@pytest.mark.parametrize(("change", "words"), [
    (lambda s: s["executors"][0].update(kinds=["reboot"]), "'rollback'"),
    (lambda s: s["executors"][1].update(name="sim"), "two executors are named 'sim'"),
    (lambda s: s["executors"][0].update(kinds=["toggle_flag"]),
     "executor 'sim' (fleet) cannot run toggle_flag"),
    (lambda s: s["executors"][0].update(type="ssh"), "'fleet', 'webhook'"),
    (lambda s: s["executors"][2].update(kinds=["scale"]), "no runbook under"),
    (lambda s: s["runbooks"]["record"]["argv"].append("{user}"),
     "argv uses {user}, not declared under params"),
    (lambda s: s["runbooks"]["record"].update(argv=["{service}"]), "may not contain a "
                                                                   "placeholder"),
    (lambda s: s["runbooks"]["record"].update(handles=["scale"]),
     "handles scale, so params must declare replicas"),
    (lambda s: s["runbooks"]["record"]["params"]["count"].update(default="x"), "must be int"),
    (lambda s: s["runbooks"]["record"]["params"]["service"].update(pattern="("),
     "not a valid regex"),
])
def test_settings_refuse_mistakes_at_load(tmp_path: Path, change: Any, words: str) -> None:
    raw = settings_for(tmp_path).model_dump(mode="json")
    for ex in raw["executors"]:  # SecretStr dumps masked; put real values back
        if ex["type"] == "webhook":
            ex.update(secret="x", headers={"Authorization": "Bearer t"})
    change(raw)
    with pytest.raises(ValidationError) as caught:
        RemediateSettings.model_validate(raw)
    assert words in str(caught.value), str(caught.value)


def test_every_yaml_example_in_the_docs_is_valid_configuration(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "docs" / "remediation.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    assert len(blocks) == 4
    for block in blocks:
        settings = RemediateSettings.model_validate(block["remediate"])
        assert settings.executors
    ops = Executors.from_settings(RemediateSettings.model_validate(blocks[2]["remediate"]),
                                  tmp_path)
    assert ops.catalog_for("checkout") == [ActionKind.RESTART, ActionKind.RUN_RUNBOOK,
                                           ActionKind.NOTIFY_ONLY]
    assert ops.default_risk(ActionKind.RUN_RUNBOOK, {"runbook": "flush-cache"}) == Risk.LOW
