"""What README.md promises a new user: its examples need only what ``make run`` installs, and leave nothing
behind that git would show as untracked."""

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

#: Installed by the README's own instruction (`pip install ./client`), not by requirements.txt.
CLIENT = "rhythmic_client"
#: Triton's client, for the Open Inference Protocol example: installed by the README's own instruction
#: (`pip install 'tritonclient[http]==...'`), with numpy, which it depends on.
TRITON = {"tritonclient", "numpy"}


def python_examples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def imported_modules(code: str) -> set[str]:
    modules = set()
    for line in code.splitlines():
        if match := re.match(r"\s*import ([\w., ]+)", line):
            modules |= {name.split()[0].split(".")[0] for name in match.group(1).split(",")}  # "import numpy as np"
        elif match := re.match(r"\s*from (\w+)", line):
            modules.add(match.group(1))
    return modules - set(sys.stdlib_module_names) - {CLIENT} - TRITON


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", line.strip()):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def test_every_module_the_readmes_python_examples_import_is_in_the_runtime_requirements():
    # Given what make run installs (requirements.txt only) and the distributions providing each module
    runtime = requirement_names(ROOT / "requirements.txt")
    providers = importlib.metadata.packages_distributions()
    # When the README's Python examples import modules
    missing = set()
    for code in python_examples():
        for module in imported_modules(code):
            distributions = {re.sub(r"[-_.]+", "-", name).lower() for name in providers.get(module, [module])}
            if not distributions & runtime:
                missing.add(module)
    # Then each comes with make run
    assert python_examples()
    assert not missing, f"README examples import {sorted(missing)}, which requirements.txt does not install"


def left_behind() -> list[str]:
    """Files the README's examples create in the project folder."""
    written = re.findall(r"""open\(["']([^"'/]+)["'], ["']wb?["']\)""", README)
    if "pip install ./client" in README:
        written.append("client/build/lib/rhythmic_client/__init__.py")  # a non-editable install builds here
    if "`.env` file" in README:
        written.append(".env")  # the settings a user keeps beside manage.py, secrets included
    return written


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_what_the_readmes_examples_leave_behind_is_ignored_by_git():
    paths = left_behind()
    assert "model.dill" in paths
    done = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    ignored = set(done.stdout.split())
    assert ignored == set(paths), f"not in .gitignore: {sorted(set(paths) - ignored)}"


def test_the_readme_says_how_to_install_the_clients_its_examples_import_beside_make_run():
    # The modules left out of the check above come with an install line of the README's own
    assert "pip install ./client" in README
    assert re.search(r"pip install 'tritonclient\[http\]==[0-9.]+'", README)
