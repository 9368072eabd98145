"""The README's examples, run in the README's order by a new user against a fresh server (``make run``'s).

Each example is taken from README.md as written; only the token and the address change (the README shows
the demo token and port 8000). A clash between them (one creating a name another creates) fails here.
"""

import re
import subprocess
import sys

import pytest

from tests.processes.conftest import ROOT

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text()
README_TOKEN = "85773de6f5d6437fc599f4b281b047f5fbad478d"
README_URL = "http://127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def example(language: str, marker: str) -> str:
    found = [block for block in blocks(language) if marker in block]
    assert len(found) == 1, f"one {language} example with {marker!r} in README.md, found {len(found)}"
    return found[0]


#: (language, a line that identifies the example), in the README's order.
EXAMPLES = [
    ("sh", "$API/models/housing/predict"),  # REST: upload, promote, predict, learn
    ("sh", "anomaly.HalfSpaceTrees(seed=42)"),  # a pipeline: create, predict, learn, versions
    ("sh", "$V2/models/housing/infer"),  # the Open Inference Protocol with curl, on the REST example's model
    ("python", "import tritonclient.http"),  # and with Triton's client
    ("python", "/api/init"),  # chantilly's client
    ("python", "from rhythmic_client import"),  # the Python client, HTTP then one WebSocket
]


def test_the_readmes_examples_run_in_order_on_a_fresh_server(sqlite_site, tmp_path):
    # Given a fresh server, set up as make run does
    server, manage = sqlite_site
    token = re.search(r"Authorization: Token (\w+)", manage("bootstrap", "--url", server.url)).group(1)
    # When a new user runs each example as written, one after the other, in a folder of their own
    for language, marker in EXAMPLES:
        code = example(language, marker).replace(README_TOKEN, token).replace(README_URL, server.url)
        if language == "sh":
            code = code.replace(".venv/bin/python", sys.executable)
            command = ["bash", "-euo", "pipefail", "-c", code.replace("curl ", "curl -sSf -o /dev/null ")]
        else:
            command = [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        # Then each one works
        assert done.returncode == 0, f"the README's example with {marker!r} failed:\n{done.stdout}\n{done.stderr}"
