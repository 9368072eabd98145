"""Sanity of the deployment files: no docker engine runs here, so they are checked as text and by nginx -t."""

import json
import re
import shutil
import string
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = {"web": "gunicorn", "asgi": "daphne", "worker": "celery", "beat": "celery"}


def test_the_procfile_runs_every_role_of_the_topology():
    lines = (ROOT / "Procfile").read_text().splitlines()
    roles = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    assert set(roles) == {*ROLES, "proxy"}
    for role, program in ROLES.items():
        assert roles[role].startswith(f"exec {program} ")


def test_the_compose_file_runs_every_role_from_the_image_and_one_proxy():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    for role, program in ROLES.items():
        assert services[role]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[role]["command"][0] == program
    assert services["proxy"]["ports"] == ["8000:8000"]
    # gunicorn's workers share their Prometheus counters in a directory that starts empty
    shared = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(mount.split(":")[0] == shared for mount in services["web"]["tmpfs"])


def test_the_dockerfile_installs_the_pinned_requirements_and_serves_the_wsgi_app():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.MULTILINE)
    assert "pip install -r requirements.txt" in text
    assert '"rhythmic.wsgi:application"' in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install -y nginx)")
def test_the_nginx_configuration_is_valid_once_filled_in(tmp_path):
    # Given deploy/nginx.conf filled in as scripts/topology.sh does
    values = {"TOPOLOGY_DIR": str(tmp_path), "WSGI_PORT": "18001", "ASGI_PORT": "18002", "HOST": "127.0.0.1"}
    text = string.Template((ROOT / "deploy" / "nginx.conf").read_text()).safe_substitute(values, PORT="18000")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    # When nginx checks it
    out = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"], capture_output=True, text=True
    )
    # Then it is valid, and WebSockets and server-sent events go to daphne
    assert out.returncode == 0, out.stderr
    assert re.search(r"location /ws/ \{\s+proxy_pass http://asgi;", text)
    assert re.search(r"location /api/stream/ \{\s+proxy_pass http://asgi;", text)


def test_a_body_over_the_proxy_limit_is_refused_in_the_api_error_shape():
    # Given deploy/nginx.conf
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    # When nginx refuses a body over client_max_body_size
    page = re.search(r"error_page 413 (@\w+);", text)
    body = re.search(r"location " + re.escape(page.group(1)) + r" \{.*?return 413 '([^']*)';", text, re.DOTALL)
    # Then the answer is the API's JSON error, not nginx's HTML page
    assert json.loads(body.group(1))["error"]["code"] == "too_large"
    assert "default_type application/json;" in text
