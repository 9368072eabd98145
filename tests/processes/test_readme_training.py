"""The README's Training jobs example, as written, against a fresh server (``make run``'s, embedded default: the
job runs on a thread of the server): it trains v1 on the CSV into v2, promoted, with its lineage."""

import re
import subprocess
import sys

import pytest
import requests

from tests.processes.test_readme_examples import README_TOKEN, README_URL, example

pytestmark = pytest.mark.slow


def test_the_readmes_training_example_trains_and_promotes_v2_with_its_lineage(sqlite_site, tmp_path):
    server, manage = sqlite_site
    token = re.search(r"Authorization: Token (\w+)", manage("bootstrap", "--url", server.url)).group(1)
    code = example("sh", "$API/models/approval/jobs/").replace(README_TOKEN, token).replace(README_URL, server.url)
    code = code.replace(".venv/bin/python", sys.executable).replace("curl -s ", "curl -sSf ")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{server.log_path.read_text()[-3000:]}"
    headers = {"Authorization": f"Token {token}"}
    job = requests.get(f"{server.url}/api/v1/models/approval/jobs/1/", headers=headers, timeout=30).json()
    assert (job["status"], job["rows_done"], job["result_version"]) == ("succeeded", 800, 2), job
    model = requests.get(f"{server.url}/api/v1/models/approval/", headers=headers, timeout=30).json()
    assert model["production_version"]["number"] == 2
    v2 = requests.get(f"{server.url}/api/v1/models/approval/versions/2/", headers=headers, timeout=30).json()
    assert (v2["parent"], v2["dataset"]["name"], v2["message"]) == (1, "polls", "pre-trained on 800 polls")
    assert v2["training_metrics"]["values"]["MAE"] == job["metrics"]["values"]["MAE"]
