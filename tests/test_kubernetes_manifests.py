"""The Kubernetes manifests (deploy/kubernetes) checked against Kubernetes' schemas and against Parley.

No cluster runs where this suite runs. The kustomizations are rendered here in Python (the few
Kustomize features they use: resources, labels, namespace, images, strategic-merge patches; any other
feature fails the test rather than being ignored), every object is validated offline against the
OpenAPI schemas kubernetes-validate ships (strict: an unknown field is an error), and what the objects
ask of Parley is checked with Parley itself: settings names and values through `infra.settings`, the
commands through `parley.cli.build_parser()`, the probe paths against the Starlette app's routes, the
grace periods against the shutdown timeouts the processes use.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from starlette.routing import Route

from infra.settings import ConfigurationError, Environment, Settings
from parley.app import create_app
from resolvers.sockets import WS_CLOSE_SERVICE_RESTART
from tests.test_deployment import (
    final_stage,
    instructions,
    parse_parley,
    services,
    settings_env_names,
    settings_values,
)
from workers.broker import QUEUES

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
OVERLAY = KUBE / "overlays" / "example"
SECRET_TEMPLATE = BASE / "secret.template.yaml"

# The oldest Kubernetes minor the manifests promise to work on, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())

# The Kustomization fields the renderer below understands; anything else must be taught to it first.
SUPPORTED_KUSTOMIZE = {"apiVersion", "kind", "resources", "labels", "namespace", "images", "patches"}
CLUSTER_SCOPED = {"Namespace"}

SAMPLE_SECRETS = {
    "PARLEY_DATABASE_URL": "postgresql+asyncpg://parley:sample@postgres:5432/parley",
    "PARLEY_REDIS_URL": "redis://redis:6379/0",
    "PARLEY_SECRET_KEY": "sample-secret-key-for-the-kubernetes-test-0123456789",
}


@pytest.fixture(autouse=True)
def _isolate():
    """Overrides conftest's: these tests touch no database and no Redis DB index."""
    yield


# --- a small Kustomize ------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def strategic_merge(target: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of maps with a `name` merge item by name; anything else is replaced."""
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for name, value in patch.items():
            merged[name] = strategic_merge(target[name], value) if name in target else copy.deepcopy(value)
        return merged
    if (
        isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*target, *patch])
    ):
        by_name = {item["name"]: item for item in patch}
        merged_list = [
            strategic_merge(item, by_name.pop(item["name"])) if item["name"] in by_name else item for item in target
        ]
        return merged_list + list(by_name.values())
    return copy.deepcopy(patch)


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return [obj["spec"]["template"]["spec"]]
    return []


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for spec in pod_specs(obj) for c in [*spec.get("initContainers", []), *spec["containers"]]]


def render(directory: Path) -> list[dict[str, Any]]:
    """`kustomize build directory`, for the features SUPPORTED_KUSTOMIZE lists."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KUSTOMIZE
    assert not unknown, f"{directory}: Kustomize fields this test cannot render: {sorted(unknown)}"
    assert kustomization["kind"] == "Kustomization"
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objects += render(path) if path.is_dir() else load_documents(path)
    keys = [key(obj) for obj in objects]
    assert len(keys) == len(set(keys)), f"{directory}: an object is defined twice"

    for entry in kustomization.get("labels", []):
        assert set(entry) <= {"pairs", "includeSelectors"}, f"labels options not rendered here: {entry}"
        assert not entry.get("includeSelectors"), "labels with includeSelectors are not rendered here"
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])

    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, (
            f"only strategic-merge patches from a file are rendered here: {patch_entry}"
        )
        for patch in load_documents(directory / patch_entry["path"]):
            matches = [i for i, obj in enumerate(objects) if key(obj) == key(patch)]
            assert matches, f"{patch_entry['path']} patches {key(patch)}, which the resources do not define"
            objects[matches[0]] = strategic_merge(objects[matches[0]], patch)

    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]

    for image in kustomization.get("images", []):
        assert set(image) <= {"name", "newName", "newTag"}, f"image options not rendered here: {image}"
        for obj in objects:
            for container in containers(obj):
                name = container["image"].split("@")[0]
                if ":" in name.rsplit("/", 1)[-1]:
                    name = name.rsplit(":", 1)[0]
                if name == image["name"]:
                    container["image"] = image.get("newName", name) + (
                        f":{image['newTag']}" if "newTag" in image else ""
                    )
    return objects


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key(obj): obj for obj in objects}


RENDERINGS = {"base": BASE, "example": OVERLAY}


@pytest.fixture(params=sorted(RENDERINGS), scope="module")
def rendered(request) -> dict[tuple[str, str], dict[str, Any]]:
    return by_key(render(RENDERINGS[request.param]))


def secret_template() -> dict[str, Any]:
    (secret,) = load_documents(SECRET_TEMPLATE)
    return secret


def api(objects) -> dict[str, Any]:
    return objects["Deployment", "parley-api"]


def only_container(obj: dict[str, Any]) -> dict[str, Any]:
    (container,) = containers(obj)
    return container


def config_env(objects) -> dict[str, str]:
    return dict(objects["ConfigMap", "parley-config"]["data"])


def env_of(objects, container: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The variables a container sees from its envFrom and env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(objects["ConfigMap", source["configMapRef"]["name"]]["data"])
        else:
            assert source["secretRef"]["name"] == secret_template()["metadata"]["name"]
            env.update(secrets)
    env.update({item["name"]: item["value"] for item in container.get("env", [])})
    return env


# --- the renderer agrees with Kustomize itself ------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed")
@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_rendering_matches_kubectl_kustomize(name):
    built = subprocess.run(
        ["kubectl", "kustomize", str(RENDERINGS[name])], capture_output=True, text=True, check=True, timeout=60
    )
    assert by_key(load_documents_text(built.stdout)) == by_key(render(RENDERINGS[name]))


def load_documents_text(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# --- Kubernetes' own schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(rendered, version):
    for obj in [*rendered.values(), secret_template()]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key(obj)} on Kubernetes {version}: {exc.message} at {'.'.join(map(str, exc.path))}")


def test_the_validator_refuses_a_wrong_object():
    """The check above is not vacuous: an unknown field and a mistyped one are errors."""
    deployment = api(by_key(render(BASE)))
    wrong = strategic_merge(deployment, {"spec": {"replica": 3}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSIONS[0], strict=True)
    wrong = strategic_merge(deployment, {"spec": {"strategy": {"rollingUpdate": {"maxSurge": [1]}}}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSIONS[0], strict=True)


def test_what_is_deployed(rendered):
    kinds = sorted(rendered)
    assert kinds == sorted(
        [
            *([("Namespace", "parley")] if ("Namespace", "parley") in rendered else []),
            ("ServiceAccount", "parley"),
            ("ConfigMap", "parley-config"),
            ("Job", "parley-migrate"),
            ("Deployment", "parley-api"),
            ("Service", "parley-api"),
            ("HorizontalPodAutoscaler", "parley-api"),
            ("PodDisruptionBudget", "parley-api"),
            ("Deployment", "parley-worker"),
        ]
    )
    assert not [obj for obj in rendered.values() if obj["kind"] == "Secret"], (
        "secrets do not belong in the kustomization"
    )


def test_overlay_changes_namespace_image_and_settings():
    base, example = by_key(render(BASE)), by_key(render(OVERLAY))
    for obj in example.values():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "parley"
    images = {c["image"] for obj in example.values() for c in containers(obj)}
    assert images == {"registry.example.com/parley:1.0.0"}
    assert {c["image"] for obj in base.values() for c in containers(obj)} == {"parley"}
    assert config_env(example)["PARLEY_PUBLIC_URL"] == "https://help.example.org"
    # The patch merges: what it does not name stays as the base has it.
    assert config_env(example)["PARLEY_ENV"] == config_env(base)["PARLEY_ENV"] == "production"
    assert example["HorizontalPodAutoscaler", "parley-api"]["spec"]["minReplicas"] == 3


# --- settings ---------------------------------------------------------------------------------------


def test_config_and_secret_names_are_settings(rendered):
    known = settings_env_names()
    for source, names in (("ConfigMap", config_env(rendered)), ("Secret template", secret_template()["stringData"])):
        unknown = sorted(name for name in names if name not in known)
        assert not unknown, f"{source}: not Parley settings: {unknown}"
        for name, value in names.items():
            assert isinstance(value, str), f"{source}: {name} is {value!r}, not a string (quote it in YAML)"
    both = set(config_env(rendered)) & set(secret_template()["stringData"])
    assert not both, f"set in the ConfigMap and the Secret: {sorted(both)}"


SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL", "REDIS_URL", "_KEY")


def test_no_secret_in_the_config_map(rendered):
    for name in config_env(rendered):
        assert not any(word in name for word in SECRET_WORDS), f"{name} belongs in the Secret"
    for name in SAMPLE_SECRETS:
        assert name in secret_template()["stringData"]
    assert "PARLEY_METRICS_TOKEN" in secret_template()["stringData"]


@pytest.mark.parametrize("deployment", ["parley-api", "parley-worker"])
def test_environment_passes_production_checks(rendered, deployment):
    container = only_container(rendered["Deployment", deployment])
    env = env_of(rendered, container, {**secret_template()["stringData"], **SAMPLE_SECRETS})
    settings = Settings(_env_file=None, **settings_values(env))  # type: ignore[call-arg]
    settings.check_production()
    assert settings.env == Environment.production
    assert not settings.run_worker_in_process, "jobs run in the worker Deployment, not in API pods"
    assert str(settings.data_dir).startswith("/tmp"), "the data directory must be on the writable volume"
    assert settings.effective_storage_backend.value == "s3", "pods share no disk: attachments need S3"


def test_secret_template_placeholders_are_refused():
    env = {**config_env(by_key(render(BASE))), **secret_template()["stringData"]}
    with pytest.raises(ConfigurationError, match="PARLEY_SECRET_KEY"):
        Settings(_env_file=None, **settings_values(env)).check_production()  # type: ignore[call-arg]


# --- commands, ports and probes ---------------------------------------------------------------------


def test_commands_are_parley_subcommands(rendered):
    expected = {
        ("Deployment", "parley-api"): "serve",
        ("Deployment", "parley-worker"): "worker",
        ("Job", "parley-migrate"): "db",
    }
    for name, command in expected.items():
        args = parse_parley(only_container(rendered[name])["command"], str(name))
        assert args.command == command, f"{name} runs `parley {args.command}`"
    migrate = parse_parley(only_container(rendered["Job", "parley-migrate"])["command"], "migrate")
    assert migrate.db_command == "upgrade"
    worker = parse_parley(only_container(rendered["Deployment", "parley-worker"])["command"], "worker")
    assert not worker.no_scheduler, "no other process runs the periodic jobs"
    assert worker.queues is None or set(worker.queues.split(",")) == set(QUEUES)


def test_api_binds_the_port_its_probes_and_service_use(rendered):
    container = only_container(api(rendered))
    args = parse_parley(container["command"], "api")
    env = config_env(rendered)
    port = args.port or int(env["PARLEY_PORT"])
    assert (args.host or env["PARLEY_HOST"]) == "0.0.0.0", "the API must listen on the pod's address"
    (declared,) = container["ports"]
    assert declared["containerPort"] == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in (declared["name"], port)
    service = rendered["Service", "parley-api"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] in ([declared["name"]], [port])
    pod_labels = api(rendered)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for obj in rendered.values():
        if obj["kind"] in ("Deployment", "Job") and obj is not api(rendered):
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert not service["spec"]["selector"].items() <= labels.items(), f"the Service also selects {key(obj)}"


def app_paths() -> set[str]:
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    return {route.path for route in app.routes if isinstance(route, Route) and "GET" in (route.methods or ())}


def test_probes_ask_paths_the_app_serves(rendered):
    container = only_container(api(rendered))
    paths = app_paths()
    assert "/nowhere" not in paths
    probes = {name: container[name]["httpGet"]["path"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"] == "/readyz"
    assert probes["livenessProbe"] == probes["startupProbe"] == "/healthz"
    assert set(probes.values()) <= paths, f"not served: {sorted(set(probes.values()) - paths)}"


def test_worker_liveness_is_the_compose_healthcheck(rendered):
    """docker-compose.yml's worker healthcheck is run for real in tests/test_deployment.py."""
    probe = only_container(rendered["Deployment", "parley-worker"])["livenessProbe"]["exec"]["command"]
    assert probe[:2] == ["python", "-c"]
    assert probe[2] == services()["worker"]["healthcheck"]["test"][-1]


# --- rollout, disruption and scaling ----------------------------------------------------------------


def test_api_rolls_out_without_losing_capacity(rendered):
    spec = api(rendered)["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_disruption_budget_leaves_room_to_drain(rendered):
    replicas = api(rendered)["spec"]["replicas"]
    pdb = rendered["PodDisruptionBudget", "parley-api"]["spec"]
    hpa = rendered["HorizontalPodAutoscaler", "parley-api"]["spec"]
    assert pdb["minAvailable"] == 2
    # A budget equal to the replicas would block every node drain.
    assert pdb["minAvailable"] < replicas
    assert pdb["minAvailable"] < hpa["minReplicas"]
    pod_labels = api(rendered)["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    worker_labels = rendered["Deployment", "parley-worker"]["spec"]["template"]["metadata"]["labels"]
    assert not pdb["selector"]["matchLabels"].items() <= worker_labels.items()


def test_autoscaler_scales_the_api_on_cpu(rendered):
    hpa = rendered["HorizontalPodAutoscaler", "parley-api"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "parley-api"}
    assert hpa["minReplicas"] == api(rendered)["spec"]["replicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    # Utilisation is measured against the request: without one the autoscaler cannot act.
    assert only_container(api(rendered))["resources"]["requests"]["cpu"]


def test_every_container_has_requests_and_limits(rendered):
    for obj in rendered.values():
        for container in containers(obj):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{key(obj)}: no {kind}"


# --- shutdown ---------------------------------------------------------------------------------------

# What the lifespan shutdown may take after uvicorn's graceful timeout: the socket registry's own
# wait for closing handshakes (3 s), the event hub, Redis and the pools.
LIFESPAN_SHUTDOWN_SECONDS = 10


def test_api_grace_period_covers_the_drain(rendered):
    spec = api(rendered)["spec"]["template"]["spec"]
    container = only_container(api(rendered))
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    pre_stop = int(sleep[1])
    readiness = container["readinessProbe"]
    # Endpoints drop a terminating pod at once; the sleep also covers load balancers that only
    # notice through failed readiness checks.
    assert pre_stop >= readiness["periodSeconds"] * readiness["failureThreshold"]
    env = config_env(rendered)
    shutdown = Settings(_env_file=None, **settings_values(env)).shutdown_timeout_seconds  # type: ignore[call-arg]
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + shutdown + LIFESPAN_SHUTDOWN_SECONDS


def test_worker_grace_period_covers_running_jobs(rendered):
    spec = rendered["Deployment", "parley-worker"]["spec"]["template"]["spec"]
    env = config_env(rendered)
    timeout = Settings(_env_file=None, **settings_values(env)).worker_shutdown_timeout_seconds  # type: ignore[call-arg]
    assert spec["terminationGracePeriodSeconds"] >= timeout + 10


def test_readme_tells_the_close_code():
    readme = (KUBE / "README.md").read_text()
    assert str(WS_CLOSE_SERVICE_RESTART) in readme
    assert "deploy/kubernetes" in (ROOT / "README.md").read_text()


# --- security ---------------------------------------------------------------------------------------


def image_uid() -> int:
    return int(instructions(final_stage(), "USER")[-1].split(":")[0])


def test_pods_run_as_the_image_user_without_privileges(rendered):
    for obj in rendered.values():
        for spec in pod_specs(obj):
            pod = spec["securityContext"]
            assert pod["runAsNonRoot"] is True, f"{key(obj)}"
            assert pod["runAsUser"] == image_uid() != 0, f"{key(obj)}: not the Dockerfile's user"
            assert pod["seccompProfile"]["type"] == "RuntimeDefault"
            mounts = {}
            for container in spec["containers"]:
                ctx = container["securityContext"]
                assert ctx["readOnlyRootFilesystem"] is True, f"{key(obj)}/{container['name']}"
                assert ctx["allowPrivilegeEscalation"] is False
                assert ctx["capabilities"]["drop"] == ["ALL"]
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert "/tmp" in mounts, f"{key(obj)}: no writable /tmp"
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]


def test_no_service_account_token_is_mounted(rendered):
    account = rendered["ServiceAccount", "parley"]
    assert account["automountServiceAccountToken"] is False
    for obj in rendered.values():
        for spec in pod_specs(obj):
            assert spec["serviceAccountName"] == "parley", f"{key(obj)}"
            assert spec["automountServiceAccountToken"] is False, f"{key(obj)}"


def test_pods_read_the_config_map_and_the_secret(rendered):
    secret = secret_template()["metadata"]["name"]
    for obj in rendered.values():
        for container in containers(obj):
            sources = container["envFrom"]
            assert {"configMapRef": {"name": "parley-config"}} in sources, f"{key(obj)}"
            assert {"secretRef": {"name": secret}} in sources, f"{key(obj)}"


# --- migrations first -------------------------------------------------------------------------------


def test_the_migrate_step_brings_what_the_job_needs(rendered):
    """README.md applies `-l parley-step=migrate` first: the Job and what it refers to (the Secret is
    created beforehand)."""
    step = {k for k, obj in rendered.items() if obj["metadata"].get("labels", {}).get("parley-step") == "migrate"}
    job = rendered["Job", "parley-migrate"]
    spec = job["spec"]["template"]["spec"]
    needs = {("Job", "parley-migrate"), ("ServiceAccount", spec["serviceAccountName"])}
    needs |= {("ConfigMap", s["configMapRef"]["name"]) for s in only_container(job)["envFrom"] if "configMapRef" in s}
    assert needs <= step, f"missing from the migrate step: {sorted(needs - step)}"
    assert not [k for k in step if k[0] == "Deployment"], "the migrate step must not start the new release"
    assert spec["restartPolicy"] == "Never"
