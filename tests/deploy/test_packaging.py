"""The container images and the compose file, checked against the project without a runtime.

No container runtime runs where these tests run, so nothing here builds or starts an image.
What can go stale without anyone noticing is checked instead: every command a service or an
image runs exists in the project, every environment variable compose sets is a documented
setting that webapp/settings.py reads, the images install with the Makefile's own commands, the
web image leaves torch out, the GPU worker reserves a GPU, and the health checks ask real
endpoints.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
OUR_TARGETS = {"web", "worker-cpu", "worker-gpu"}


# --- Parsing -------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def our_services() -> dict[str, dict[str, Any]]:
    """The services built from deploy/Dockerfile (the others are PostgreSQL, Redis, MinIO)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if isinstance(service.get("build"), dict)
    }


class Stage:
    def __init__(self, name: str, parent: str) -> None:
        self.name, self.parent = name, parent
        self.args: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.runs: list[str] = []
        self.cmd: list[str] | None = None
        self.entrypoint: list[str] | None = None


@cache
def dockerfile() -> dict[str, Stage]:
    """The Dockerfile's stages by name: their ARG defaults, RUN commands and CMD."""
    text = (DEPLOY / "Dockerfile").read_text()
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest, re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            stage = stages[match[2]] = Stage(match[2], match[1])
        elif stage is None:
            continue  # an ARG before the first FROM
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            stage.args[name] = default.strip('"')
        elif keyword == "ENV":
            stage.env.update(re.findall(r"(\w+)=(\S+)", rest))
        elif keyword == "RUN":
            stage.runs.append(" ".join(rest.split()))
        elif keyword in {"CMD", "ENTRYPOINT"}:
            setattr(stage, keyword.lower(), json.loads(rest))  # exec form only
    return stages


def stage_runs(name: str) -> list[str]:
    """The RUN commands of a stage, its parents' first."""
    stages = dockerfile()
    stage = stages[name]
    inherited = stage_runs(stage.parent) if stage.parent in stages else []
    return inherited + stage.runs


def makefile_recipe(target: str) -> list[str]:
    """The commands of a Makefile rule, `$(PY)` spelled `python` and `$(VAR)` as `${VAR}`, as
    a shell in the image sees them; bookkeeping (venv creation, stamps) left out."""
    text = (REPO_ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, f"no rule for {target} in the Makefile"
    commands = []
    for line in match[1].splitlines():
        command = line.strip().replace("$(PY)", "python")
        command = re.sub(r"\$\((\w+)\)", r"${\1}", command)
        if command.startswith(("test -x", "touch ")):
            continue
        commands.append(" ".join(command.split()))
    return commands


def makefile_default(name: str) -> str:
    match = re.search(rf"^{name} \?= (.*)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, name
    return match[1].strip()


@cache
def readme_settings() -> set[str]:
    """The variables README's "Production" table names (first column, in backticks)."""
    text = (REPO_ROOT / "README.md").read_text()
    table = text.split("| variable | default | what |", 1)[1].split("\n\n", 1)[0]
    names: set[str] = set()
    for row in table.splitlines():
        first = row.split("|")[1] if row.startswith("|") else ""
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


@cache
def settings_reads() -> set[str]:
    text = (REPO_ROOT / "webapp" / "settings.py").read_text()
    return set(re.findall(r"(?:env_\w+|os\.environ\.get)\(\s*\"([A-Z][A-Z0-9_]+)\"", text))


def known_queues(environment: dict[str, str]) -> set[str]:
    embedding_queue = environment.get("SAM_EMBEDDING_QUEUE", settings.SAM_EMBEDDING_QUEUE)
    return {settings.CELERY_TASK_DEFAULT_QUEUE, embedding_queue}


def assert_command_exists(command: list[str], environment: dict[str, str]) -> None:
    """A command of ours: manage.py's, the Celery app's worker or ping, or gunicorn on the WSGI
    module (with a config file that is in the image)."""
    program, *args = command
    if program == "python" and args[:1] == ["manage.py"]:
        assert args[1] in get_commands(), f"manage.py has no command {args[1]!r}"
    elif program == "python" and args[:1] == ["-c"]:
        compile(args[1], "<healthcheck>", "exec")
    elif program == "celery":
        assert args[:2] == ["-A", "webapp"], command
        assert (REPO_ROOT / "webapp" / "celery.py").is_file()
        assert args[2] in {"worker", "inspect"}, command
        if "-Q" in args:
            queues = set(args[args.index("-Q") + 1].split(","))
            unknown = queues - known_queues(environment)
            assert not unknown, f"{command}: no task is routed to {unknown}"
    elif program == "gunicorn":
        module, attribute = args[0].partition(":")[::2]
        assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file(), module
        assert attribute in {"", "application"}, args[0]
        if "--config" in args:
            config = args[args.index("--config") + 1]
            assert (REPO_ROOT / config).is_file(), config
    else:
        raise AssertionError(f"not a command of this project: {command}")


# --- Compose -------------------------------------------------------------------------------------


def test_compose_runs_every_service_the_layout_needs() -> None:
    services = compose()["services"]
    images = " ".join(str(s.get("image", "")) for s in services.values())
    for store in ("postgres", "redis", "minio"):
        assert store in images, f"no {store} service"
    targets = {s["build"]["target"] for s in our_services().values()}
    assert targets == OUR_TARGETS
    assert set(targets) <= set(dockerfile()), "every target is a stage of deploy/Dockerfile"
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on a service that is not there: {needed}"


def test_every_service_of_ours_runs_a_command_of_the_project() -> None:
    for name, service in our_services().items():
        command = service.get("command") or dockerfile()[service["build"]["target"]].cmd
        assert isinstance(command, list), f"{name}: exec form, so no shell reparses it"
        assert_command_exists(command, service.get("environment", {}))


def test_workers_consume_every_queue_the_settings_route_work_to() -> None:
    consumed: set[str] = set()
    for service in our_services().values():
        command = service["command"]
        if command[:4] == ["celery", "-A", "webapp", "worker"]:
            consumed.update(command[command.index("-Q") + 1].split(","))
    environment = our_services()["web"]["environment"]
    assert consumed == known_queues(environment)


def test_compose_sets_only_documented_settings_that_the_settings_read() -> None:
    documented, read = readme_settings(), settings_reads()
    for name, service in our_services().items():
        for variable in service.get("environment", {}):
            assert variable in documented, f"{name}: {variable} is not in README's settings table"
            assert variable in read, f"{name}: webapp/settings.py never reads {variable}"


def test_the_images_set_only_documented_settings() -> None:
    for stage in dockerfile().values():
        for variable in stage.env:
            if variable.startswith("PYTHON"):
                continue  # the interpreter's own
            assert variable in readme_settings(), f"{stage.name}: {variable} is undocumented"
            assert variable in settings_reads(), f"{stage.name}: settings never read {variable}"
    assert dockerfile()["base"].env["SAM_VAR_DIR"] == "/var/lib/sam"


def test_compose_runs_production_settings() -> None:
    for name, service in our_services().items():
        environment = service["environment"]
        assert environment["DJANGO_DEBUG"] == "false", name
        # A required variable: compose refuses to start without it, rather than a dev key.
        assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?"), name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["CELERY_BROKER_URL"].startswith("redis://"), name
        assert environment["S3_BUCKET"], name


def test_only_the_gpu_worker_reserves_a_gpu() -> None:
    for name, service in compose()["services"].items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        devices = devices.get("devices", [])
        gpu = [d for d in devices if "gpu" in d.get("capabilities", [])]
        if name == "worker-gpu":
            assert gpu and gpu[0]["driver"] == "nvidia" and gpu[0]["count"] >= 1
            assert service["environment"]["SAM_DEVICE"].startswith("cuda")
        else:
            assert not gpu, name


def test_health_checks_ask_real_endpoints() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert "healthcheck" in service or name in {"migrate", "bucket"}, name
    web_check = services["web"]["healthcheck"]["test"]
    assert web_check[0] == "CMD"
    assert_command_exists(web_check[1:], {})
    url = re.search(r"http://127\.0\.0\.1:8000(/\S*?)['\"]", web_check[-1])
    assert url, web_check
    assert resolve(url[1]).url_name == "healthz"
    # The check calls from inside the container: its host must be allowed, and the path must
    # be exempt from the HTTPS redirect (plain HTTP, like a load balancer's probe).
    hosts = services["web"]["environment"]["DJANGO_ALLOWED_HOSTS"]
    assert "127.0.0.1" in hosts
    assert re.search(r"\^healthz\$", (REPO_ROOT / "webapp" / "settings.py").read_text())
    for name in ("worker-cpu", "worker-gpu"):
        kind, line = services[name]["healthcheck"]["test"]
        assert kind == "CMD-SHELL"
        command = shlex.split(line)
        assert command[:5] == ["celery", "-A", "webapp", "inspect", "ping"]
        assert_command_exists(command, {})


# --- The Dockerfile ------------------------------------------------------------------------------


def test_images_install_with_the_makefiles_commands() -> None:
    install = makefile_recipe("$(INSTALLED)")
    upgrade_pip, torch, project = install
    assert "${TORCH_SPEC}" in torch and '-e ".[${EXTRAS}]"' in project
    for worker in ("worker-cpu", "worker-gpu"):
        assert stage_runs(worker)[-3:] == install, worker
    web = stage_runs("web")
    assert upgrade_pip in web and project in web
    assert not any("TORCH_SPEC" in run or "torch" in run for run in web)
    frontend = makefile_recipe("$(NODE_MODULES)") + makefile_recipe("$(FRONTEND_BUILT)")
    assert dockerfile()["frontend"].runs == frontend


def test_worker_images_pin_the_makefiles_torch() -> None:
    pin = makefile_default("TORCH_SPEC").split()[0]
    cpu = dockerfile()["worker-cpu"].args["TORCH_SPEC"].split()
    gpu = dockerfile()["worker-gpu"].args["TORCH_SPEC"].split()
    assert cpu[0] == gpu[0] == pin
    assert cpu[-1].endswith("/whl/cpu"), "PyPI's plain torch is the CUDA build"
    assert re.search(r"/whl/cu\d+$", gpu[-1])


def test_the_web_image_installs_no_torch() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    web_extras = dockerfile()["web"].args["EXTRAS"].split(",")

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}

    installed = names(project["dependencies"])
    for extra in web_extras:
        installed |= names(extras[extra])
    assert not installed & {"torch", "torchvision", "onnx"}, installed
    assert "gunicorn" in installed
    # ...and the workers get it from the extra the Makefile installs for the tests too.
    worker_extras = dockerfile()["worker-gpu"].args["EXTRAS"].split(",")
    assert any("torch" in names(extras[e]) for e in worker_extras)
    assert set(worker_extras) <= set(makefile_default("EXTRAS").split(","))


def test_every_image_command_exists() -> None:
    for name in OUR_TARGETS:
        stage = dockerfile()[name]
        assert stage.cmd, name
        assert stage.entrypoint is None, name
        assert_command_exists(stage.cmd, {})


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".git", "var", "frontend/node_modules"):
        assert path in ignored, path
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (DEPLOY / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"


# --- Gunicorn's multiprocess metrics hooks -------------------------------------------------------


def test_gunicorn_config_clears_and_tends_the_metrics_folder(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import runpy

    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"stale")
    (folder / "gauge_livesum_123.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["bind"] == "0.0.0.0:8000"
    config["on_starting"](None)
    assert list(folder.iterdir()) == []
    (folder / "gauge_livesum_77.db").write_bytes(b"")

    class Worker:
        pid = 77

    config["child_exit"](None, Worker())
    assert not (folder / "gauge_livesum_77.db").exists()
