"""Render deploy/k8s with kustomize and check what it produces, with no
cluster: every object against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields fail), KEDA's ScaledObject
against scaledobject.schema.json (custom resources have no schema there),
and the references between the objects that no schema sees (selectors,
named ports, probes, the scale target, the metric the scaler reads).

    .venv-tools/bin/python deploy/tools/check_manifests.py [deploy/k8s]

Exits 1 when any check fails; prints one line per check and a total.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.37.0"
#: Agreed with the server's metrics: the port and the gauge workers scale on.
METRICS_ARGS = ["--metrics-listen", "0.0.0.0:9100"]
QUEUE_DEPTH_METRIC = "symbatcher_queue_depth"


def render(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if kubectl is None:
        sys.exit("check_manifests: kubectl not found (install deploy/tools/requirements.txt)")
    out = subprocess.run([kubectl, "kustomize", str(directory)], check=True, capture_output=True, text=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def name_of(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def schema_errors(obj: dict) -> list[str]:
    if obj["kind"] == "ScaledObject":
        schema = json.loads((HERE / "scaledobject.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"no schema: {exc}"]
    return []


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def reference_errors(objs: list[dict]) -> list[tuple[str, list[str]]]:
    """(check, errors) for each cross-object rule."""
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    pods = [d["spec"]["template"] for d in deployments.values()]
    checks: list[tuple[str, list[str]]] = []

    for name, dep in deployments.items():
        errors = []
        template = dep["spec"]["template"]
        if not matches(dep["spec"]["selector"]["matchLabels"], template["metadata"]["labels"]):
            errors.append("selector does not match the pod template's labels")
        if not template["spec"].get("securityContext", {}).get("runAsNonRoot"):
            errors.append("pod securityContext.runAsNonRoot is not true")
        for c in template["spec"]["containers"]:
            requests = c.get("resources", {}).get("requests", {})
            errors += [f"container {c['name']}: no resources.requests.{r}" for r in ("cpu", "memory") if r not in requests]
        checks.append((f"Deployment/{name}: selector, non-root, resource requests", errors))

    server = deployments.get("symbatcher-server")
    errors = [] if server else ["no Deployment symbatcher-server"]
    if server:
        c = server["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        args = c.get("args", [])
        if "grpc" not in ports:
            errors.append("no container port named grpc")
        for probe in ("readinessProbe", "livenessProbe"):
            if c.get(probe, {}).get("grpc", {}).get("port") != ports.get("grpc"):
                errors.append(f"{probe} is not a grpc probe on the grpc port")
        if ports.get("metrics") != 9100 or not any(args[i:i + 2] == METRICS_ARGS for i in range(len(args))):
            errors.append(f"metrics: needs port 9100 named metrics and args {' '.join(METRICS_ARGS)}")
    checks.append(("Deployment/symbatcher-server: grpc health probes, metrics port", errors))

    for svc in (o for o in objs if o["kind"] == "Service"):
        errors = []
        selected = [p for p in pods if matches(svc["spec"]["selector"], p["metadata"]["labels"])]
        if not selected:
            errors.append("selector matches no pod template")
        names = {p["name"] for pod in selected for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        errors += [f"targetPort {p['targetPort']} is no named container port" for p in svc["spec"]["ports"]
                   if isinstance(p["targetPort"], str) and p["targetPort"] not in names]
        checks.append((f"{name_of(svc)}: selector and target ports", errors))

    for pol in (o for o in objs if o["kind"] == "NetworkPolicy"):
        errors = []
        selected = [p for p in pods if matches(pol["spec"]["podSelector"]["matchLabels"], p["metadata"]["labels"])]
        if not selected:
            errors.append("podSelector matches no pod template")
        names = {p["name"] for pod in selected for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        for rule in pol["spec"].get("ingress", []):
            errors += [f"ingress port {p['port']} is no named port of the selected pods"
                       for p in rule.get("ports", []) if isinstance(p["port"], str) and p["port"] not in names]
        checks.append((f"{name_of(pol)}: selects pods, named ports exist", errors))

    for so in (o for o in objs if o["kind"] == "ScaledObject"):
        spec, errors = so["spec"], []
        if spec["scaleTargetRef"]["name"] not in deployments:
            errors.append(f"scaleTargetRef {spec['scaleTargetRef']['name']} is no Deployment")
        if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
            errors.append("minReplicaCount > maxReplicaCount")
        queries = [t["metadata"].get("query", "") for t in spec["triggers"] if t["type"] == "prometheus"]
        if not any(QUEUE_DEPTH_METRIC in q for q in queries):
            errors.append(f"no prometheus trigger reads {QUEUE_DEPTH_METRIC}")
        checks.append((f"{name_of(so)}: target, replica bounds, queue-depth trigger", errors))
    return checks


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "k8s"
    objs = render(directory)
    checks = [(f"{name_of(o)}: schema", schema_errors(o)) for o in objs] + reference_errors(objs)
    failed = 0
    for check, errors in checks:
        print(f"{'ok  ' if not errors else 'FAIL'} {check}")
        for error in errors:
            print(f"       {error}")
        failed += bool(errors)
    print(f"manifests: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
