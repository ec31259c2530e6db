"""docker-compose.yml, Dockerfile and .dockerignore describe the stack we mean to ship."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "api", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def command_text(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def test_services_and_images(services: dict[str, Any]) -> None:
    assert set(services) == {"neo4j", "redis", "migrate", "api", "worker"}
    assert services["neo4j"]["image"] == "neo4j:5.26-community"
    assert services["redis"]["image"] == "redis:7"


def test_neo4j(services: dict[str, Any]) -> None:
    neo4j = services["neo4j"]
    env = neo4j["environment"]
    assert env["NEO4J_AUTH"] == "neo4j/${NEO4J_PASSWORD:-quanzi-dev-password}"
    assert "NEO4J_server_memory_heap_max__size" in env
    assert "NEO4J_server_memory_heap_initial__size" in env
    assert any(str(v).endswith(":/data") for v in neo4j["volumes"])
    check = healthcheck_text(neo4j)
    assert "cypher-shell" in check or "7474" in check


def test_redis_is_durable_and_checked(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert "--appendonly yes" in command_text(redis)
    assert "redis-cli ping" in healthcheck_text(redis)
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_from_the_dockerfile(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context).resolve() == ROOT
    assert dockerfile == "Dockerfile"


def test_app_commands(services: dict[str, Any]) -> None:
    assert command_text(services["api"]) == "quanzi serve --host 0.0.0.0"
    assert command_text(services["worker"]) == "quanzi worker"
    assert command_text(services["migrate"]) == "quanzi migrate"
    assert services["migrate"].get("restart", "no") == "no"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment(services: dict[str, Any], name: str) -> None:
    env = services[name]["environment"]
    assert env["QUANZI_NEO4J_URI"] == "neo4j://neo4j:7687"
    assert env["QUANZI_REDIS_URL"] == "redis://redis:6379/0"
    assert env["QUANZI_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    for key in ("QUANZI_NEO4J_USER", "QUANZI_NEO4J_PASSWORD"):
        assert env[key]
    for key in ("QUANZI_JWT_SECRET", "QUANZI_CONTACT_PEPPER"):
        assert str(env[key]).startswith("${" + key)  # from the environment, not hard-coded


def test_api_is_published_and_health_checked(services: dict[str, Any]) -> None:
    api = services["api"]
    assert any(str(port).endswith(":8000") for port in api["ports"])
    assert "/readyz" in healthcheck_text(api)


def test_startup_order(services: dict[str, Any]) -> None:
    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    healthy = "service_healthy"
    done = "service_completed_successfully"
    assert conditions("migrate") == {"neo4j": healthy}
    assert conditions("api") == {"neo4j": healthy, "redis": healthy, "migrate": done}
    assert conditions("worker") == {"neo4j": healthy, "redis": healthy, "migrate": done}


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert "FROM python:3.11-slim" in lines
    assert any(line.startswith("RUN pip install .") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    assert lines[-1] == 'CMD ["quanzi", "serve", "--host", "0.0.0.0"]'


def test_dockerignore() -> None:
    entries = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".venv", ".git", ".env", "__pycache__", ".mypy_cache", ".pytest_cache"} <= entries
    assert any(entry.startswith(".quanzi") for entry in entries)


def _compose_plugin_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return probe.returncode == 0


def test_docker_compose_config_is_valid() -> None:
    if not _compose_plugin_available():
        pytest.skip("the docker compose plugin is not installed (`docker compose version` failed)")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
