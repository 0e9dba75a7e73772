"""The deployment files — Dockerfile, .dockerignore, docker-compose.yml — checked against the code they run.

No Docker engine runs where this suite runs, so nothing is built or started. The files are parsed and
what they ask of Parley is checked with Parley itself: every command through `parley.cli.build_parser()`,
every `PARLEY_*` variable against `infra.settings.Settings`, the whole environment through the same
validation and `check_production()` that `parley serve` does at start-up. The healthcheck one-liners
are run for real: the API's against a live `parley serve`, the worker's against Redis.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.request
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from infra.settings import ConfigurationError, Environment, Settings
from parley.cli import build_parser
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The services that run Parley's image, and what each one's role is.
PARLEY_SERVICES = ("api", "worker", "migrate")
ONE_SHOT = {"migrate", "minio-init"}
LONG_RUNNING = {"api", "worker", "postgres", "redis", "minio"}

# The storage variables the compose file must give the API (and the worker) for S3 (MinIO).
STORAGE = frozenset(
    {
        "PARLEY_STORAGE_BACKEND",
        "PARLEY_S3_ENDPOINT_URL",
        "PARLEY_S3_BUCKET",
        "PARLEY_S3_ACCESS_KEY_ID",
        "PARLEY_S3_SECRET_ACCESS_KEY",
        "PARLEY_S3_REGION",
    }
)

# What the operator exports before `docker compose up` (the `${VAR:?…}` ones have no default).
SAMPLE_SECRET_KEY = "sample-secret-key-for-the-deployment-test-0123456789"
SAMPLE_ENVIRON = {
    "PARLEY_SECRET_KEY": SAMPLE_SECRET_KEY,
    "MINIO_ROOT_PASSWORD": "sample-minio-password",
}


@pytest.fixture(autouse=True)
def _isolate():
    """Overrides conftest's: these tests touch no database and no Redis DB index."""
    yield


# --- docker compose variable interpolation -----------------------------------------------------

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class MissingVariable(Exception):
    pass


def interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+alt}, ${VAR+alt}. Unlike Compose, an unset variable with no default is an
    error rather than an empty string, so the file cannot lean on a silently empty value."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            name, op, arg = match["named"], None, ""
        else:
            braced = _BRACED.fullmatch(match["braced"])
            if braced is None:
                raise ValueError(f"cannot read ${{{match['braced']}}}")
            name, op, arg = braced["name"], braced["op"], braced["arg"] or ""
        value = environ.get(name)
        is_set, non_empty = value is not None, bool(value)
        if op in (":-", "-"):
            return value if (non_empty if op == ":-" else is_set) else arg  # type: ignore[return-value]
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else is_set):
                raise MissingVariable(f"{name}: {arg}")
            return value  # type: ignore[return-value]
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else is_set) else ""
        if not is_set:
            raise MissingVariable(f"{name} is not set and has no default")
        return value  # type: ignore[return-value]

    return _VARIABLE.sub(replace, text)


def interpolate_tree(node: Any, environ: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, environ) for value in node]
    return node


# --- reading the compose file -------------------------------------------------------------------


def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose(environ: dict[str, str] = SAMPLE_ENVIRON) -> dict[str, Any]:
    return interpolate_tree(raw_compose(), environ)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {name: value for name, value in pairs}
    return dict(env)


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    assert cmd, "no command"
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def parse_parley(argv: list[str], where: str):
    assert argv and Path(argv[0]).name == "parley", f"{where}: runs {argv[:1]}, not the parley program"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{where}: `parley` rejects the arguments {argv[1:]}")


def container_env(name: str) -> dict[str, str]:
    """What a Parley service's process sees: the image's ENV, overridden by the compose environment."""
    env = dockerfile_env(final_stage())
    env.update(environment(services()[name]))
    return env


# --- the settings -------------------------------------------------------------------------------


def settings_env_names() -> dict[str, str]:
    """Environment variable name -> Settings field, as pydantic-settings reads them: a field with a
    validation_alias under its alias names, and under env_prefix + its name when it has no alias or
    the model populates by name (Settings does)."""
    config = Settings.model_config
    prefix = config.get("env_prefix", "")
    by_name = config.get("populate_by_name") or config.get("validate_by_name")
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias if field.validation_alias is not None else field.alias
        env_names = [prefix + field_name] if alias is None or by_name else []
        if isinstance(alias, str):
            env_names.append(alias)
        elif isinstance(alias, AliasChoices):
            env_names += [choice for choice in alias.choices if isinstance(choice, str)]
        # an AliasPath reads a nested value, never a variable of its own
        for env_name in env_names:
            names[env_name.upper()] = field_name
    return names


def unknown_parley_names(env: dict[str, Any]) -> list[str]:
    known = settings_env_names()
    return sorted(name for name in env if name.upper().startswith("PARLEY_") and name.upper() not in known)


def settings_values(env: dict[str, Any]) -> dict[str, Any]:
    """Settings keyword arguments (field names) for the variables of `env` that are settings."""
    known = settings_env_names()
    values: dict[str, Any] = {}
    for name, value in env.items():
        field = known.get(name.upper())
        if field is not None:
            assert field not in values, f"{name} and another variable both set the setting {field!r}"
            values[field] = value
    return values


def settings_for(env: dict[str, Any]) -> Settings:
    assert not unknown_parley_names(env)
    return Settings(_env_file=None, **settings_values(env))  # type: ignore[call-arg]


# --- reading the Dockerfile ---------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for keyword, rest in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            result.append({"image": words[0], "name": name, "index": len(result), "instructions": []})
        else:
            assert result, f"{keyword} before the first FROM"
            result[-1]["instructions"].append((keyword, rest))
    assert result, "no FROM in the Dockerfile"
    return result


def final_stage() -> dict[str, Any]:
    return stages()[-1]


def instructions(stage: dict[str, Any], keyword: str) -> list[str]:
    return [rest for kw, rest in stage["instructions"] if kw == keyword]


def dockerfile_env(stage: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions(stage, "ENV"):
        words = shlex.split(rest)
        if "=" in words[0]:
            env.update(word.split("=", 1) for word in words)
        else:  # the legacy `ENV NAME value` form
            env[words[0]] = rest.split(None, 1)[1]
    return env


def exec_form(rest: str, what: str) -> list[str]:
    assert rest.startswith("["), f"{what} is in shell form: /bin/sh would be PID 1 and keep SIGTERM from Parley"
    argv = json.loads(rest)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), f"{what} is not a JSON list of strings"
    return argv


def dockerfile_cmd() -> list[str]:
    cmds = instructions(final_stage(), "CMD")
    assert cmds, "the final stage has no CMD"
    return exec_form(cmds[-1], "CMD")


def dockerfile_healthcheck() -> list[str]:
    checks = instructions(final_stage(), "HEALTHCHECK")
    assert checks, "the final stage has no HEALTHCHECK"
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.*)", checks[-1], re.S)
    assert match, f"HEALTHCHECK without CMD: {checks[-1]}"
    return ["CMD", *exec_form(match[2], "HEALTHCHECK CMD")]


def healthcheck_python(test: list[str], where: str) -> str:
    """The code of a `["CMD", "python", "-c", CODE]` healthcheck (the image has no curl)."""
    assert isinstance(test, list) and len(test) == 4, f"{where}: expected [CMD, python, -c, code], got {test}"
    assert test[0] == "CMD" and test[1] in ("python", "python3") and test[2] == "-c", f"{where}: {test}"
    compile(test[3], where, "exec")
    return test[3]


def pip_install(stage: dict[str, Any]) -> tuple[int, list[str]] | None:
    """The index of the stage's RUN that calls `pip install`, and the words after `install`."""
    for index, (keyword, rest) in enumerate(stage["instructions"]):
        if keyword != "RUN":
            continue
        words = shlex.split(rest)
        for at in range(len(words)):
            if words[at : at + 2] == ["pip", "install"]:
                start = at + 2
            elif words[at : at + 4] in (["python", "-m", "pip", "install"], ["python3", "-m", "pip", "install"]):
                start = at + 4
            else:
                continue
            end = next((i for i in range(start, len(words)) if words[i] in ("&&", ";", "||")), len(words))
            return index, words[start:end]
    return None


def install_stage() -> tuple[dict[str, Any], int, list[str]]:
    found = [(stage, *hit) for stage in stages() if (hit := pip_install(stage))]
    assert len(found) == 1, f"expected one `pip install` in the Dockerfile, found {len(found)}"
    return found[0]


def bound_address(args, settings: Settings) -> tuple[str, int]:
    """What `parley serve` binds: --host/--port when given, else PARLEY_HOST/PARLEY_PORT (cmd_serve)."""
    return args.host or settings.host, args.port or settings.port


def recorded_healthcheck_url(code: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a healthcheck's code here with the container's environment and report the URL it asks."""
    asked: list[str] = []

    def urlopen(url, *args, **kwargs):
        asked.append(getattr(url, "full_url", url))

    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("PARLEY_"):
                patch.delenv(name)
        for name, value in env.items():
            if name.startswith("PARLEY_"):
                patch.setenv(name, value)
        patch.setattr(urllib.request, "urlopen", urlopen)
        exec(code, {"__name__": "healthcheck"})
    assert len(asked) == 1, f"the healthcheck asked {asked}"
    return asked[0]


def process_env(env: dict[str, str]) -> dict[str, str]:
    """The part of a container's environment that Parley reads (not the image's PATH and such)."""
    known = settings_env_names()
    return {k: v for k, v in env.items() if k.upper().startswith("PARLEY_") or k.upper() in known}


def run_healthcheck(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **process_env(env)},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


# === docker-compose.yml =========================================================================


def test_every_service_has_a_known_role():
    defined = services()
    assert set(defined) == ONE_SHOT | LONG_RUNNING, "classify a new service as one-shot or long-running here"
    for name in ONE_SHOT:
        assert defined[name].get("restart", "no") == "no", f"{name} runs once; a restart policy would loop it"
    for name in LONG_RUNNING:
        assert defined[name].get("restart") in ("always", "unless-stopped"), f"{name} is not restarted"


def test_parley_services_share_one_environment_and_the_image():
    raw = raw_compose()
    assert "x-parley-env" in raw, "the shared environment block x-parley-env is missing"
    for name in PARLEY_SERVICES:
        service = raw["services"][name]
        assert service.get("environment") == raw["x-parley-env"], f"{name} does not use x-parley-env"
        build = service.get("build")
        assert build is not None, f"{name} is not built from this repository's Dockerfile"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE, f"{name} builds {context}/{dockerfile}"


@pytest.mark.parametrize("name", PARLEY_SERVICES)
def test_command_parses(name):
    args = parse_parley(command(services()[name]), name)
    if name == "api":
        assert args.command == "serve"
        assert not args.demo, "the production API must not create the demo account"
        assert not args.migrate, "the migrate service applies migrations; the API must not race it"
    elif name == "worker":
        assert args.command == "worker"
    else:
        assert (args.command, args.db_command, args.revision) == ("db", "upgrade", "head")


def test_workers_consume_every_queue():
    from workers.broker import QUEUES

    consumed: set[str] = set()
    for name, service in services().items():
        if name in PARLEY_SERVICES:
            args = parse_parley(command(service), name)
            if args.command == "worker":
                queues = set(args.queues.split(",")) if args.queues else set(QUEUES)
                assert queues <= set(QUEUES), f"{name} names unknown queues {sorted(queues - set(QUEUES))}"
                consumed |= queues
    assert consumed == set(QUEUES), f"no worker consumes {sorted(set(QUEUES) - consumed)}"


@pytest.mark.parametrize("name", PARLEY_SERVICES)
def test_environment_names_are_settings(name):
    env = environment(services()[name])
    assert env, f"{name} has no environment"
    assert not unknown_parley_names(env), f"{name}: not Parley settings: {unknown_parley_names(env)}"
    for variable, value in env.items():
        assert isinstance(value, str), f"{name}: {variable} is {value!r}, not a string (quote it in YAML)"
    settings_values(env)  # no two variables set the same setting


def test_storage_variables_are_given_and_are_settings():
    env = environment(services()["api"])
    assert STORAGE <= set(env), f"missing storage variables: {sorted(STORAGE - set(env))}"
    known = set(settings_env_names())
    assert STORAGE <= known, f"not settings: {sorted(STORAGE - known)}"


def test_secret_key_must_be_given():
    raw = raw_compose()["x-parley-env"]
    for environ in ({"MINIO_ROOT_PASSWORD": "sample-minio-password"}, {**SAMPLE_ENVIRON, "PARLEY_SECRET_KEY": ""}):
        with pytest.raises(MissingVariable, match="PARLEY_SECRET_KEY"):
            interpolate_tree(raw, environ)


@pytest.mark.parametrize("name", PARLEY_SERVICES)
def test_environment_passes_production_checks(name, monkeypatch):
    env = container_env(name)
    settings = settings_for(env)
    settings.check_production()
    assert settings.env == Environment.production
    assert settings.secret_key == SAMPLE_SECRET_KEY, "PARLEY_SECRET_KEY does not come from the operator's environment"
    assert not settings.run_worker_in_process, "jobs must run in the worker service, not in a thread of the API"
    # The same environment read as the container's process reads it: from the variables themselves.
    for variable in list(os.environ):
        if variable.startswith("PARLEY_"):
            monkeypatch.delenv(variable)
    for variable, value in process_env(env).items():
        monkeypatch.setenv(variable, value)
    from_environment = Settings(_env_file=None)  # type: ignore[call-arg]
    from_environment.check_production()
    assert from_environment.model_dump() == settings.model_dump()


def test_production_checks_can_refuse():
    """The check above is not vacuous: the same environment with a short key is refused."""
    env = {**container_env("api"), "PARLEY_SECRET_KEY": "too-short"}
    with pytest.raises(ConfigurationError, match="PARLEY_SECRET_KEY"):
        settings_for(env).check_production()


def test_production_refuses_a_low_bcrypt_cost():
    """Tests hash at bcrypt's lowest cost; production keeps at least 10 (12 unless set)."""
    assert Settings.model_fields["bcrypt_rounds"].default == 12
    settings_for({**container_env("api"), "PARLEY_BCRYPT_ROUNDS": "10"}).check_production()
    with pytest.raises(ConfigurationError, match="PARLEY_BCRYPT_ROUNDS"):
        settings_for({**container_env("api"), "PARLEY_BCRYPT_ROUNDS": "9"}).check_production()


def test_api_port_mapping_matches_the_bound_port():
    api = services()["api"]
    args = parse_parley(command(api), "api")
    host, port = bound_address(args, settings_for(container_env("api")))
    assert host in ("0.0.0.0", "::"), f"the API binds {host}: unreachable from outside its container"
    ports = api.get("ports")
    assert ports, "the API publishes no port"
    for entry in ports:
        if isinstance(entry, dict):
            target = str(entry["target"])
        else:
            assert isinstance(entry, str), f"quote the port mapping {entry!r}"
            target = entry.split("/")[0].rsplit(":", 1)[-1]
        assert target.isdigit(), f"port mapping {entry!r}"
        assert int(target) == port, f"the API binds port {port} but {entry!r} maps container port {target}"


REQUIRED_DEPENDENCIES = {
    "migrate": {"postgres": "service_healthy"},
    "api": {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "minio-init": "service_completed_successfully",
    },
    "worker": {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "minio-init": "service_completed_successfully",
    },
    "minio-init": {"minio": "service_healthy"},
}


def test_dependencies_wait_for_the_right_condition():
    defined = services()
    for name, service in defined.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on as a list sets no condition"
        for target, spec in depends.items():
            assert target in defined, f"{name} depends on {target}, which is not a service"
            condition = (spec or {}).get("condition", "service_started")
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert condition == expected, f"{name} waits for {target} to be {condition}, not {expected}"
        for target, condition in REQUIRED_DEPENDENCIES.get(name, {}).items():
            assert target in depends, f"{name} does not wait for {target}"
            assert depends[target].get("condition") == condition


def test_long_running_services_have_healthchecks():
    defined = services()
    for name in LONG_RUNNING:
        check = defined[name].get("healthcheck") or {}
        test = check.get("test")
        assert test and not check.get("disable") and test != ["NONE"], f"{name} has no healthcheck"
    worker_test = " ".join(defined["worker"]["healthcheck"]["test"])
    assert "/healthz" not in worker_test, "the worker serves no HTTP: a /healthz check would always fail"
    healthcheck_python(defined["worker"]["healthcheck"]["test"], "worker healthcheck")
    assert "pg_isready" in " ".join(defined["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(defined["redis"]["healthcheck"]["test"])


def test_data_services():
    compose_file = compose()
    defined, volumes = compose_file["services"], compose_file.get("volumes") or {}
    postgres_major = int(defined["postgres"]["image"].split(":")[1].split(".")[0])
    redis_major = int(defined["redis"]["image"].split(":")[1].split(".")[0])
    assert postgres_major >= 15 and redis_major >= 7, "the README asks for PostgreSQL 15+ and Redis 7+"
    for name, service in defined.items():
        for mount in service.get("volumes") or []:
            source = mount["source"] if isinstance(mount, dict) else mount.split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in volumes, f"{name} mounts the undeclared volume {source}"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in defined["postgres"].get("volumes") or []}
    assert mounts.get("/var/lib/postgresql/data") in volumes, "PostgreSQL's data is not on a named volume"


def test_services_reach_each_other():
    compose_file = compose()
    defined = compose_file["services"]
    env = environment(defined["api"])
    database = urlsplit(env["PARLEY_DATABASE_URL"])
    postgres = environment(defined["postgres"])
    assert database.hostname == "postgres" and (database.port or 5432) == 5432
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    ), "PARLEY_DATABASE_URL does not match the postgres service's user, password and database"
    redis_url = urlsplit(env["PARLEY_REDIS_URL"])
    assert redis_url.hostname == "redis" and (redis_url.port or 6379) == 6379
    endpoint = urlsplit(env["PARLEY_S3_ENDPOINT_URL"])
    minio = environment(defined["minio"])
    assert endpoint.hostname == "minio" and endpoint.port == 9000  # `minio server` serves S3 on :9000
    assert "--address" not in command(defined["minio"])
    assert "--console-address" in command(defined["minio"]), "the MinIO console is not enabled"
    assert (env["PARLEY_S3_ACCESS_KEY_ID"], env["PARLEY_S3_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    ), "Parley's S3 credentials are not MinIO's"
    init = defined["minio-init"]
    init_env = environment(init)
    script = " ".join([*(init.get("entrypoint") or []), *command(init)])
    alias = re.search(r"mc alias set (\S+) (\S+) ", script)
    bucket = re.search(r"mc mb (?:--\S+ )*(\S+)/(\S+)", script)
    assert alias and bucket, f"minio-init does not set an alias and make a bucket: {script}"
    assert alias[2] == env["PARLEY_S3_ENDPOINT_URL"] and bucket[1] == alias[1]
    assert bucket[2] == env["PARLEY_S3_BUCKET"], f"minio-init makes {bucket[2]}, Parley uses {env['PARLEY_S3_BUCKET']}"
    assert (init_env["MINIO_ROOT_USER"], init_env["MINIO_ROOT_PASSWORD"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )


def test_worker_stops_gracefully():
    # cmd_worker gives running jobs 30 s (worker.stop(timeout=30_000)); Docker's default is 10 s.
    grace = services()["worker"].get("stop_grace_period", "10s")
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", grace)
    assert match and grace, f"cannot read stop_grace_period {grace!r}"
    assert int(match[1] or 0) * 60 + int(match[2] or 0) > 30


# === Dockerfile and .dockerignore ===============================================================


def test_dockerfile_base_image():
    stage, _, _ = install_stage()
    assert final_stage()["image"] == "python:3.11-slim"
    # The virtualenv made in the install stage points at that stage's interpreter.
    assert stage["image"] == final_stage()["image"], "the venv is built on another Python than it runs on"


def test_dockerfile_installs_locked_versions_without_extras():
    stage, _, words = install_stage()
    constraints = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-c", "--constraint")]
    constraints += [w.split("=", 1)[1] for w in words if w.startswith("--constraint=")]
    assert constraints == ["requirements.lock"], f"pip install {' '.join(words)} does not use -c requirements.lock"
    option_values = {i + 1 for i, w in enumerate(words) if w in ("-c", "--constraint")}
    targets = [w for i, w in enumerate(words) if not w.startswith("-") and i not in option_values]
    assert targets == ["."], f"pip installs {targets}: expected exactly `.` (no extras, not editable)"
    assert "-e" not in words and "--editable" not in words
    final = final_stage()
    if stage["index"] != final["index"]:
        sources = {re.search(r"--from=(\S+)", rest)[1] for rest in instructions(final, "COPY") if "--from=" in rest}
        assert {stage["name"], str(stage["index"])} & sources, "the final stage does not copy what was installed"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """.dockerignore's rule: the last pattern matching the path or one of its parent folders wins."""
    excluded = False
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _glob_regex(posixpath.normpath(line.lstrip("!").strip().strip("/")))
        parts = path.split("/")
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def install_inputs() -> list[str]:
    """The top-level files and package folders `pip install .` reads."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        d.name for d in ROOT.iterdir() if (d / "__init__.py").is_file() and any(fnmatchcase(d.name, p) for p in include)
    )
    assert packages, "no packages found from pyproject.toml"
    return ["pyproject.toml", "requirements.lock", project["project"]["readme"], *packages]


def test_build_context_has_what_the_install_needs_and_nothing_else():
    for top in install_inputs():
        files = [ROOT / top] if (ROOT / top).is_file() else [p for p in (ROOT / top).rglob("*") if p.is_file()]
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            if "__pycache__" not in relative:
                assert not dockerignored(relative), f".dockerignore leaves out {relative}"
    for outside in (".git/HEAD", ".venv/pyvenv.cfg", "var/parley.sqlite3", ".env", "tests/conftest.py"):
        assert dockerignored(outside), f".dockerignore lets {outside} into the build"
    assert dockerignored("parley/__pycache__/app.cpython-311.pyc")


def test_dockerfile_copies_the_install_inputs_where_pip_runs():
    stage, pip_index, _ = install_stage()
    inputs = install_inputs()
    workdir, copied = "/", {}
    for keyword, rest in stage["instructions"][:pip_index]:
        if keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, rest))
        elif keyword == "COPY" and "--from=" not in rest:
            *sources, raw_dest = [w for w in shlex.split(rest) if not w.startswith("--")]
            dest = posixpath.normpath(posixpath.join(workdir, raw_dest))
            into_folder = raw_dest.endswith("/") or len(sources) > 1 or dest == workdir
            for source in map(posixpath.normpath, sources):
                if source == ".":
                    copied.update({top: posixpath.join(dest, top) for top in inputs})
                elif source in inputs and (ROOT / source).is_dir():
                    copied[source] = dest  # COPY puts a folder's contents at dest
                elif source in inputs:
                    copied[source] = posixpath.join(dest, posixpath.basename(source)) if into_folder else dest
    for top in inputs:
        assert top in copied, f"{top} is not copied before `pip install`"
        assert copied[top] == posixpath.join(workdir, top), f"{top} is copied to {copied[top]}, pip runs in {workdir}"


def test_dockerfile_runs_as_a_non_root_user():
    users = instructions(final_stage(), "USER")
    assert users, "no USER in the final stage: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"


def test_dockerfile_cmd_environment_and_expose():
    args = parse_parley(dockerfile_cmd(), "Dockerfile CMD")
    assert args.command == "serve" and not args.demo and not args.migrate
    env = dockerfile_env(final_stage())
    assert env.get("PARLEY_ENV") == "production"
    assert not unknown_parley_names(env), f"not Parley settings: {unknown_parley_names(env)}"
    host, port = bound_address(args, settings_for(env))
    assert host in ("0.0.0.0", "::"), f"CMD binds {host}: unreachable from outside the container"
    exposed = {int(p.split("/")[0]) for rest in instructions(final_stage(), "EXPOSE") for p in rest.split()}
    assert exposed == {port}, f"EXPOSE {sorted(exposed)} but CMD binds port {port}"


# === the healthchecks, run ======================================================================


def test_api_healthchecks_ask_the_bound_port(monkeypatch):
    api = services()["api"]
    host, port = bound_address(parse_parley(command(api), "api"), settings_for(container_env("api")))
    code = healthcheck_python(api["healthcheck"]["test"], "api healthcheck")
    url = recorded_healthcheck_url(code, container_env("api"), monkeypatch)
    assert url == f"http://127.0.0.1:{port}/healthz"

    image_env = dockerfile_env(final_stage())
    host, port = bound_address(parse_parley(dockerfile_cmd(), "Dockerfile CMD"), settings_for(image_env))
    code = healthcheck_python(dockerfile_healthcheck(), "Dockerfile HEALTHCHECK")
    assert recorded_healthcheck_url(code, image_env, monkeypatch) == f"http://127.0.0.1:{port}/healthz"


def test_api_healthchecks_pass_on_a_live_server_and_fail_without_one(embedded_server):
    checks = {
        "api healthcheck": services()["api"]["healthcheck"]["test"],
        "Dockerfile HEALTHCHECK": dockerfile_healthcheck(),
    }
    for where, test in checks.items():
        code = healthcheck_python(test, where)
        up = run_healthcheck(code, {"PARLEY_PORT": str(embedded_server.port)})
        assert up.returncode == 0, f"{where} fails against a running server: {up.stderr}"
        down = run_healthcheck(code, {"PARLEY_PORT": str(free_port())})
        assert down.returncode != 0, f"{where} passes with no server listening"


def test_worker_healthcheck_passes_with_redis_and_fails_without(redis_client):
    from tests.conftest import TEST_REDIS_URL

    code = healthcheck_python(services()["worker"]["healthcheck"]["test"], "worker healthcheck")
    env = container_env("worker")
    up = run_healthcheck(code, {**env, "PARLEY_REDIS_URL": TEST_REDIS_URL})
    assert up.returncode == 0, f"the worker healthcheck fails with Redis up: {up.stderr}"
    down = run_healthcheck(code, {**env, "PARLEY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.returncode != 0, "the worker healthcheck passes with no Redis"
