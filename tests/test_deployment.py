"""Static checks of the deployment files: docker-compose.yml, Dockerfile and .ci/run.

No Docker engine runs here, so nothing is built or started: these tests only check that the files
are valid and wired as the README says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CI_SCRIPT = ROOT / ".ci" / "run"


def _compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_config_is_valid() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr or result.stdout


def test_compose_services_are_wired() -> None:
    services = _compose()["services"]
    assert {"api", "projector", "postgres", "redis"} <= set(services)

    for name in ("api", "projector"):
        env = _environment(services[name])
        assert "@postgres:" in env["REGISTRY_DATABASE_URL"], name
        assert env["REGISTRY_REDIS_URL"].startswith("redis://redis:"), name
        assert env["REGISTRY_PROJECTOR_IN_PROCESS"].lower() == "false", name
        depends_on = services[name]["depends_on"]
        for dependency in ("postgres", "redis"):
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)

    assert services["api"]["command"][0] == "serve"
    assert services["projector"]["command"][:2] == ["projections", "run"]
    assert any(str(port).endswith("8000") for port in services["api"]["ports"])


def test_compose_postgres_keeps_its_data_and_servers_have_health_checks() -> None:
    compose = _compose()
    services = compose["services"]

    data_volumes = [
        volume.split(":", 1)[0]
        for volume in services["postgres"]["volumes"]
        if volume.split(":")[1:2] == ["/var/lib/postgresql/data"]
    ]
    assert data_volumes, "postgres needs a volume on /var/lib/postgresql/data"
    assert data_volumes[0] in (compose.get("volumes") or {}), "the data volume must be a named one"

    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "--appendonly" in services["redis"]["command"]


def test_dockerfile_installs_from_the_lock_file_and_runs_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users, "the image must name a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["registry"]' in text
    healthcheck = re.search(r"^HEALTHCHECK\b.*?(?<!\\)$", text, flags=re.MULTILINE | re.DOTALL)
    assert healthcheck is not None
    assert "/health" in healthcheck.group(0)


def test_ci_script_is_executable_and_valid_bash() -> None:
    assert os.access(CI_SCRIPT, os.X_OK), ".ci/run must be executable"
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    result = subprocess.run(
        [bash, "-n", str(CI_SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
