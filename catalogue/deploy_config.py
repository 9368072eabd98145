"""RhythmicML-style TOML deploy configs: parse and check one, then apply it to the catalogue.

``load`` (a file on disk) and ``parse`` (TOML text) raise ``InvalidInput`` naming the key or file to fix;
``apply`` creates or updates the model, registers the artifact and promotes it once it is ready.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from catalogue import artifacts, services
from catalogue.errors import InvalidInput
from catalogue.flavors import FLAVORS, clean_options, get_flavor
from catalogue.models import Deployment, MLModel, ModelVersion

_KEYS = {
    "": {"model", "artifact", "deploy"},
    "model": {"name", "flavor", "description", "location", "metadata", "options"},
    "artifact": {"path", "format", "requirements", "message", "description", "input_example"},
    "deploy": {"promote", "note"},
}


@dataclass(frozen=True)
class DeployConfig:
    """One deploy: which model (created if missing), which artifact, and whether to promote it.

    ``None`` for description, location and metadata means "not in the config": an existing model keeps its own.
    ``options`` (a forecaster's ``horizon``) are set when the model is created; an existing model's must match.
    """

    name: str
    flavor: str
    artifact_path: Path
    description: str | None = None
    location: str | None = None
    metadata: dict[str, str] | None = None
    options: dict[str, Any] | None = None
    format: str | None = None
    requirements_path: Path | None = None
    message: str = ""
    version_description: str = ""
    input_example: dict[str, Any] | None = None
    promote: bool = False
    note: str = ""

    def read_artifact(self) -> bytes:
        return _read(self.artifact_path, "artifact.path").read_bytes()

    def read_requirements(self) -> str:
        if self.requirements_path is None:
            return ""
        try:
            return _read(self.requirements_path, "artifact.requirements").read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                f"artifact.requirements: {self.requirements_path} is not UTF-8 text", field="artifact.requirements"
            ) from None


def _read(path: Path, key: str) -> Path:
    if not path.is_file():
        raise InvalidInput(f"{key}: file {path} not found", field=key)
    return path


def load(path: str | Path) -> DeployConfig:
    """Read, parse and check a config file; relative paths in it are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"config file {path} not found", field="config") from None
    except IsADirectoryError:
        raise InvalidInput(f"config file {path} is a folder, not a TOML file", field="config") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"config file {path} is not UTF-8 text", field="config") from None
    config = parse(text, base_dir=path.resolve().parent)
    _read(config.artifact_path, "artifact.path")
    if config.requirements_path is not None:
        _read(config.requirements_path, "artifact.requirements")
    return config


def parse(text: str, *, base_dir: Path | None = None) -> DeployConfig:
    """Parse TOML text into a DeployConfig; paths are resolved against ``base_dir`` but not opened."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"the config is not valid TOML: {exc}", field="config") from None
    base_dir = base_dir or Path.cwd()
    _check_keys(data, "")
    model = _table(data, "model", required=True)
    artifact = _table(data, "artifact", required=True)
    deploy = _table(data, "deploy", required=False)

    flavor = _string(model, "model.flavor", required=True)
    if flavor not in FLAVORS:
        raise InvalidInput(f"model.flavor must be one of: {', '.join(FLAVORS)}; got {flavor!r}", field="model.flavor")
    fmt = _string(artifact, "artifact.format")
    if fmt is not None and fmt not in artifacts.FORMATS:
        raise InvalidInput(
            f"artifact.format must be one of: {', '.join(artifacts.FORMATS)}; got {fmt!r}", field="artifact.format"
        )
    requirements = _string(artifact, "artifact.requirements")
    promote = deploy.get("promote", False)
    if not isinstance(promote, bool):
        raise InvalidInput(f"deploy.promote must be true or false, not {promote!r}", field="deploy.promote")
    return DeployConfig(
        name=_string(model, "model.name", required=True),
        flavor=flavor,
        description=_string(model, "model.description"),
        location=_string(model, "model.location"),
        metadata=_metadata(model),
        options=_options(model, flavor),
        artifact_path=base_dir / _string(artifact, "artifact.path", required=True),
        format=fmt,
        requirements_path=base_dir / requirements if requirements is not None else None,
        message=_string(artifact, "artifact.message") or "",
        version_description=_string(artifact, "artifact.description") or "",
        input_example=_input_example(artifact),
        promote=promote,
        note=_string(deploy, "deploy.note") or "",
    )


def _check_keys(table: dict, prefix: str) -> None:
    """Unknown keys are refused: a typo such as ``promte`` must not silently mean "do not promote"."""
    expected = _KEYS[prefix]
    unknown = sorted(set(table) - expected)
    if unknown:
        name = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise InvalidInput(
            f"unknown key {name} in the config; expected one of: {', '.join(sorted(expected))}", field=name
        )


def _table(data: dict, key: str, *, required: bool) -> dict:
    if key not in data:
        if required:
            raise InvalidInput(f"missing table [{key}] in the config", field=key)
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise InvalidInput(f"{key} must be a table ([{key}]), not {type(value).__name__}", field=key)
    _check_keys(value, key)
    return value


def _string(table: dict, key: str, *, required: bool = False) -> str | None:
    short = key.rsplit(".", 1)[1]
    if short not in table:
        if required:
            raise InvalidInput(f"missing key {key} in the config", field=key)
        return None
    value = table[short]
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string, not {type(value).__name__} {value!r}", field=key)
    if required and not value:
        raise InvalidInput(f"{key} must not be empty", field=key)
    return value


def _metadata(model: dict) -> dict[str, str] | None:
    if "metadata" not in model:
        return None
    metadata = model["metadata"]
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidInput('model.metadata must be a table of strings, like team = "mobility"', field="model.metadata")
    return metadata


def _options(model: dict, flavor: str) -> dict[str, Any] | None:
    if "options" not in model:
        return None
    options = model["options"]
    if not isinstance(options, dict):
        raise InvalidInput(
            f"model.options must be a table, like options = {{ horizon = 24 }}, not {options!r}", field="model.options"
        )
    try:
        return clean_options(get_flavor(flavor), options)
    except ValueError as exc:
        raise InvalidInput(f"model.options: {exc}", field="model.options") from None


def _input_example(artifact: dict) -> dict[str, Any] | None:
    if "input_example" not in artifact:
        return None
    example = artifact["input_example"]
    if not isinstance(example, dict):
        raise InvalidInput(
            "artifact.input_example must be a table of features, like { distance = 3.2 }",
            field="artifact.input_example",
        )
    return example


# --- applying a config ---------------------------------------------------------------------------


@dataclass
class DeployOutcome:
    """What ``apply`` did. ``promotion`` says why a requested promotion did not (yet) happen."""

    model: MLModel
    version: ModelVersion
    model_created: bool
    version_created: bool
    deployment: Deployment | None = None
    # not requested | promoted | deploying | already live | pending | failed
    promotion: str = field(default="not requested")


@transaction.atomic
def _register(config: DeployConfig, *, data: bytes, requirements: str, user) -> services.Upload:
    uploaded = services.model_version_upload(
        name=config.name,
        data=data,
        flavor=config.flavor,
        create=True,
        model_description=config.description or "",
        model_metadata=config.metadata,
        model_options=config.options,
        location=config.location,
        fmt=config.format,
        requirements=requirements,
        message=config.message,
        description=config.version_description,
        input_example=config.input_example,
        author=user,
    )
    if not uploaded.model_created and config.options is not None and config.options != uploaded.model.options:
        raise InvalidInput(
            f"model.options: {config.name}'s options are fixed at its creation ({uploaded.model.options}); the config "
            f"asks for {config.options} (deploy to a new model for other options)",
            field="model.options",
        )
    if not uploaded.model_created:
        # An existing model takes the config's description, metadata and location (the ones it sets).
        changes = {
            key: value
            for key, value in (
                ("description", config.description),
                ("metadata", config.metadata),
                ("location", config.location),
            )
            if value is not None
        }
        if changes:
            services.model_update(model=uploaded.model, **changes)
    return uploaded


def apply(config: DeployConfig, *, user=None) -> DeployOutcome:
    """Create or update the model, register the artifact and, if asked and it is ready, promote it.

    Validation is queued when the registration commits; with the embedded inline worker it has run by the
    time the status is read back, with a real broker the version is still pending and is not promoted.
    Called inside an outer transaction (a request with ATOMIC_REQUESTS), validation waits for that commit.
    """
    data = config.read_artifact()
    requirements = config.read_requirements()
    uploaded = _register(config, data=data, requirements=requirements, user=user)
    version = ModelVersion.objects.without_artifact().select_related("model").get(pk=uploaded.version.pk)
    model = version.model
    outcome = DeployOutcome(model, version, uploaded.model_created, uploaded.version_created)
    if not config.promote:
        return outcome
    if model.production_version_id == version.pk:
        outcome.promotion = "already live"
    elif version.status == ModelVersion.Status.READY:
        outcome.deployment = services.deployment_deploy(version=version, user=user, note=config.note)
        outcome.promotion = "promoted" if outcome.deployment is not None else "deploying"
    elif version.status in (ModelVersion.Status.FAILED, ModelVersion.Status.RETIRED):
        outcome.promotion = version.status
    else:
        outcome.promotion = "pending"
    return outcome
