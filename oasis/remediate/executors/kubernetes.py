"""Executor for Kubernetes Deployments: rollout undo, restart and scale, as kubectl does them.

Idempotency lives on the Deployment: the annotation `oasis.dev/action-id` is set in the
same patch as the change, and each patch carries the resourceVersion that was checked, so
it applies only to the state that was read. A repeat finds its own id and changes nothing;
of two processes racing on one action, one wins and the other gets a conflict, re-reads
and finds the id. Scale goes through the scale subresource, so it cannot carry the
annotation; scaling to an absolute count twice changes nothing, so the annotation follows.

Needs the optional `kubernetes` package (`pip install 'oasis[kubernetes]'`).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oasis.remediate.catalog import (
    ActionKind,
    ActionSpec,
    RestartParams,
    RollbackParams,
    ScaleParams,
)
from oasis.remediate.executors.base import (
    ExecutionResult,
    ExecutorError,
    StepLog,
    check_kinds,
    require_kind,
)

ACTION_ANNOTATION = "oasis.dev/action-id"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"
VERSION_LABELS = ("app.kubernetes.io/version", "version")
K8S_KINDS = frozenset({ActionKind.ROLLBACK, ActionKind.RESTART, ActionKind.SCALE})
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _ApiFailure(Exception):
    """A Kubernetes call failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Plan:
    """What an action will do, how to do it, and how to tell it was done."""

    text: str = ""
    apply: Callable[[], Any] = lambda: None
    check: Callable[[dict[str, Any]], bool] = lambda _: True
    refusal: str | None = None  # why it cannot be done


class KubernetesExecutor:
    """Rollback, restart and scale of the Deployment that runs each service."""

    def __init__(self, namespace: str, deployment_template: str = "{service}",
                 kubeconfig: Path | None = None, context: str | None = None,
                 api_client: Any = None, *, name: str = "kubernetes",
                 kinds: Iterable[ActionKind] = K8S_KINDS, timeout_seconds: float = 10) -> None:
        self.name = name
        self.kinds = check_kinds(name, frozenset(ActionKind(k) for k in kinds), K8S_KINDS)
        if set(re.findall(r"\{[^}]*\}", deployment_template)) - {"{service}"}:
            raise ExecutorError(f"executor {name!r}: deployment_template may only use "
                                f"{{service}}, got {deployment_template!r}")
        self.namespace = namespace
        self.deployment_template = deployment_template
        self.timeout_seconds = timeout_seconds
        k8s = _import_kubernetes()
        self._api_exception = k8s.client.ApiException
        if api_client is None:
            api_client = _api_client(k8s, name, kubeconfig, context)
        self._apps = k8s.client.AppsV1Api(api_client)

    def deployment_name(self, service: str) -> str:
        return self.deployment_template.replace("{service}", service)

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        require_kind(self, action)
        params = action.typed_params()
        assert isinstance(params, RollbackParams | RestartParams | ScaleParams)
        log = StepLog()
        name = self.deployment_name(params.service)
        if len(name) > 253 or not _DNS_NAME.fullmatch(name):
            return log.failed("check", f"{name!r} (for service {params.service}) is not a "
                                       "valid Deployment name")
        where = f"deployment {name} in namespace {self.namespace}"
        try:
            dep = self._read(name)
        except _ApiFailure as exc:
            return log.failed("check", f"cannot read {where}: {exc}" if exc.status != 404
                              else f"{where} not found")
        if _annotations(dep).get(ACTION_ANNOTATION) == action.id:
            log.add("check", True, f"{where} already carries action id {action.id}: done "
                                   "earlier; not repeating it")
            return log.finish(_summary(dep), repeated=True)
        try:
            return self._act(action, params, name, dep, log, dry_run)
        except _ApiFailure as exc:
            if exc.status == 409:  # the resourceVersion we checked is stale
                return self._after_conflict(action, name, log, str(exc))
            return log.failed("change" if len(log.steps) else "check", f"{where}: {exc}",
                              _summary(dep))

    # -- the three actions -----------------------------------------------------------------
    def _act(self, action: ActionSpec, params: Any, name: str, dep: dict[str, Any],
             log: StepLog, dry_run: bool) -> ExecutionResult:
        if isinstance(params, RollbackParams):
            plan = self._plan_rollback(action, params, name, dep)
        elif isinstance(params, RestartParams):
            plan = self._plan_restart(action, name, dep)
        else:
            plan = self._plan_scale(action, params, name, dep)
        if plan.refusal:
            return log.failed("check", plan.refusal, _summary(dep))
        log.add("check", True, f"{_describe(dep)}; plan: {plan.text}")
        if dry_run:
            log.add("dry-run", True, f"would {plan.text}; nothing changed (dry run)")
            return log.finish({**_summary(dep), "dry_run": True, "would": plan.text})
        plan.apply()
        log.add("change", True, f"done: {plan.text}")
        return self._verify(name, plan.check, log)

    def _plan_rollback(self, action: ActionSpec, params: RollbackParams, name: str,
                       dep: dict[str, Any]) -> _Plan:
        target, why = self._rollback_target(dep, params.to_version)
        if target is None:
            return _Plan(refusal=why)
        ops = [{"op": "replace", "path": "/metadata/resourceVersion",
                "value": dep["metadata"]["resourceVersion"]},
               {"op": "replace", "path": "/spec/template", "value": target},
               _annotate_op(dep, action.id)]
        return _Plan(f"roll deployment {name} back to {why}",
                     apply=lambda: self._patch(name, ops, JSON_PATCH),
                     check=lambda d: _template(d) == target)

    def _plan_restart(self, action: ActionSpec, name: str, dep: dict[str, Any]) -> _Plan:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"metadata": {"resourceVersion": dep["metadata"]["resourceVersion"],
                             "annotations": {ACTION_ANNOTATION: action.id}},
                "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return _Plan(f"restart deployment {name} ({RESTARTED_AT}={stamp})",
                     apply=lambda: self._patch(name, body, MERGE_PATCH),
                     check=lambda d: _template_annotations(d).get(RESTARTED_AT) == stamp)

    def _plan_scale(self, action: ActionSpec, params: ScaleParams, name: str,
                    dep: dict[str, Any]) -> _Plan:
        version, replicas = dep["metadata"]["resourceVersion"], params.replicas
        return _Plan(f"scale deployment {name} from {dep['spec'].get('replicas')} to "
                     f"{replicas} replicas",
                     apply=lambda: self._scale(name, version, replicas, action.id),
                     check=lambda d: d["spec"].get("replicas") == replicas)

    def _rollback_target(self, dep: dict[str, Any],
                         to_version: str | None) -> tuple[dict[str, Any] | None, str]:
        """The template to go back to (as `kubectl rollout undo` picks it), or why none."""
        name, uid = dep["metadata"]["name"], dep["metadata"].get("uid")
        selector = dep["spec"].get("selector", {}).get("matchLabels") or {}
        found = self._call(self._apps.list_namespaced_replica_set, self.namespace,
                           label_selector=",".join(f"{k}={v}" for k, v in selector.items()))
        owned = [rs for rs in found.get("items", [])
                 if any(o.get("uid") == uid and o.get("kind") == "Deployment"
                        for o in rs["metadata"].get("ownerReferences") or [])]
        current = _template(dep)
        older = sorted((rs for rs in owned if _template(rs) != current), key=_revision,
                       reverse=True)
        if to_version is not None:
            if _runs_version(current, to_version):
                return None, f"deployment {name} already runs {to_version}"
            older = [rs for rs in older if _runs_version(_template(rs), to_version)]
            if not older:
                return None, (f"deployment {name} has no earlier ReplicaSet running "
                              f"{to_version} (revisions kept: "
                              f"{', '.join(str(_revision(r)) for r in owned) or 'none'})")
        elif not older or _revision(older[0]) >= _revision(dep):
            return None, f"deployment {name} has no earlier revision to roll back to"
        rs = older[0]
        return _template(rs), (f"revision {_revision(rs)} "
                               f"({', '.join(_images(_template(rs)))})")

    def _scale(self, name: str, version: str, replicas: int, action_id: str) -> None:
        self._call(self._apps.patch_namespaced_deployment_scale, name, self.namespace,
                   {"metadata": {"resourceVersion": version}, "spec": {"replicas": replicas}},
                   _content_type=MERGE_PATCH)
        try:
            self._patch(name, {"metadata": {"annotations": {ACTION_ANNOTATION: action_id}}},
                        MERGE_PATCH)
        except _ApiFailure as exc:  # scaled all the same; a repeat would only re-set it
            raise _ApiFailure(f"scaled to {replicas} replicas, but could not record action "
                              f"id {action_id} on it: {exc}", None) from None

    # -- reading back ----------------------------------------------------------------------
    def _verify(self, name: str, check: Callable[[dict[str, Any]], bool],
                log: StepLog) -> ExecutionResult:
        try:
            dep = self._read(name)
        except _ApiFailure as exc:
            log.add("verify", False, f"cannot read deployment {name} back: {exc}")
            return log.finish()
        ok = check(dep)
        log.add("verify", ok, _describe(dep) if ok else
                f"{_describe(dep)}: not the state just set; someone else changed it")
        return log.finish(_summary(dep))

    def _after_conflict(self, action: ActionSpec, name: str, log: StepLog,
                        why: str) -> ExecutionResult:
        try:
            dep = self._read(name)
        except _ApiFailure as exc:
            return log.failed("change", f"conflict ({why}), then cannot re-read: {exc}")
        if _annotations(dep).get(ACTION_ANNOTATION) == action.id:
            log.add("change", True, f"another caller carried out action {action.id} "
                                    "at the same moment; not repeating it")
            return log.finish(_summary(dep), repeated=True)
        return log.failed("change", f"deployment {name} changed while acting, so nothing "
                                    f"was changed; check it and try again ({why})",
                          _summary(dep))

    # -- API calls -------------------------------------------------------------------------
    def _read(self, name: str) -> dict[str, Any]:
        return self._call(self._apps.read_namespaced_deployment, name, self.namespace)

    def _patch(self, name: str, body: Any, content_type: str) -> dict[str, Any]:
        return self._call(self._apps.patch_namespaced_deployment, name, self.namespace, body,
                          _content_type=content_type)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = method(*args, _preload_content=False,
                              _request_timeout=self.timeout_seconds, **kwargs)
            return json.loads(response.data)
        except self._api_exception as exc:
            raise _ApiFailure(f"HTTP {exc.status}: {_api_message(exc)}", exc.status) from None
        except (OSError, ValueError) as exc:
            raise _ApiFailure(str(exc), None) from None
        except Exception as exc:  # urllib3 errors: no stable import path across versions
            if type(exc).__module__.startswith("urllib3"):
                raise _ApiFailure(f"{type(exc).__name__}: {exc}", None) from None
            raise


def _import_kubernetes() -> Any:
    try:
        import kubernetes
        import kubernetes.client
        import kubernetes.config
    except ImportError:
        raise ExecutorError("the kubernetes executor needs the kubernetes package: "
                            "pip install 'oasis[kubernetes]'") from None
    return kubernetes


def _api_client(k8s: Any, name: str, kubeconfig: Path | None, context: str | None) -> Any:
    """A client from the kubeconfig, or the pod's service account inside a cluster."""
    try:
        if kubeconfig is None and context is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            configuration = k8s.client.Configuration()
            k8s.config.load_incluster_config(client_configuration=configuration)
            return k8s.client.ApiClient(configuration)
        return k8s.config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context)
    except (k8s.config.ConfigException, OSError, ValueError) as exc:
        raise ExecutorError(f"executor {name!r}: cannot load Kubernetes credentials: "
                            f"{exc}") from None


def _api_message(exc: Any) -> str:
    try:
        return json.loads(exc.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(exc.reason)


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def _annotate_op(dep: dict[str, Any], action_id: str) -> dict[str, Any]:
    if dep["metadata"].get("annotations") is None:
        return {"op": "add", "path": "/metadata/annotations",
                "value": {ACTION_ANNOTATION: action_id}}
    return {"op": "add", "path": "/metadata/annotations/" + ACTION_ANNOTATION.replace("/", "~1"),
            "value": action_id}


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template without the ReplicaSet's own `pod-template-hash` label."""
    template = copy.deepcopy(obj["spec"].get("template") or {})
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return template


def _template_annotations(dep: dict[str, Any]) -> dict[str, str]:
    return dep["spec"].get("template", {}).get("metadata", {}).get("annotations") or {}


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(_annotations(obj).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _images(template: dict[str, Any]) -> list[str]:
    return [c.get("image", "?") for c in template.get("spec", {}).get("containers", [])]


def _runs_version(template: dict[str, Any], version: str) -> bool:
    """Does the template run `version`: an image tag or digest, or a version label?"""
    labels = template.get("metadata", {}).get("labels") or {}
    if any(labels.get(k) == version for k in VERSION_LABELS):
        return True
    for image in _images(template):
        tag = image.rsplit("/", 1)[-1]
        if image == version or tag.endswith(":" + version) or image.endswith("@" + version):
            return True
    return False


def _describe(dep: dict[str, Any]) -> str:
    spec, status = dep["spec"], dep.get("status") or {}
    return (f"deployment {dep['metadata']['name']}: revision {_revision(dep)}, "
            f"{', '.join(_images(_template(dep)))}, {spec.get('replicas')} replicas "
            f"({status.get('updatedReplicas', 0)} updated, {status.get('readyReplicas', 0)} "
            f"ready, generation {dep['metadata'].get('generation')} observed "
            f"{status.get('observedGeneration')})")


def _summary(dep: dict[str, Any]) -> dict[str, Any]:
    status = dep.get("status") or {}
    return {"deployment": dep["metadata"]["name"], "namespace": dep["metadata"].get("namespace"),
            "revision": _revision(dep), "images": _images(_template(dep)),
            "replicas": dep["spec"].get("replicas"),
            "updated_replicas": status.get("updatedReplicas", 0),
            "ready_replicas": status.get("readyReplicas", 0),
            "action_id": _annotations(dep).get(ACTION_ANNOTATION)}
