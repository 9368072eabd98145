"""``manage.py add_model PATH --name N``: register a file as the model's next version (creating the model)."""

import argparse
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalogue import artifacts, selectors, services
from catalogue.errors import RhythmicError
from catalogue.flavors import FLAVORS, clean_horizon
from catalogue.management.author import add_user_argument, cli_user
from catalogue.models import ModelVersion


def version_lines(version: ModelVersion, *, created: bool) -> list[str]:
    """How a registered version is reported by add_model and deploy."""
    label = f"{version.model.name} v{version.number} ({version.status})"
    if not created:
        return [f"{label}: these bytes are already this version; nothing new was stored"]
    lines = [label]
    if version.status in (ModelVersion.Status.PENDING, ModelVersion.Status.VALIDATING):
        lines.append(f"  validation runs in a worker; follow it with: manage.py versions {version.model.name}")
    for check in (version.validation_report or {}).get("checks", []):
        if check.get("status") == "failed":
            lines.append(f"  {check['name']}: {check.get('detail', '')}")
    return lines


def raise_if_failed(version: ModelVersion) -> None:
    if version.status == ModelVersion.Status.FAILED:
        summary = (version.validation_report or {}).get("summary", "see the validation report")
        raise CommandError(f"{version} failed validation: {summary}")


def horizon_argument(text: str) -> int:
    """``--horizon``'s value, checked as the REST API checks ``options.horizon``."""
    try:
        return clean_horizon(int(text), what="--horizon")
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 1000, not {text!r}") from None


def read_file(path: str, option: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{option}: file {path} not found")
    return file


class Command(BaseCommand):
    help = (
        "Register the file PATH as the next version of model NAME (creating the model, in the default location, "
        "if it does not exist yet; then --flavor is required). The same bytes twice give back the existing version."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the serialized model (dill, pickle, joblib or ONNX)")
        parser.add_argument("--name", required=True, help="the model's name in the catalogue")
        parser.add_argument("--flavor", choices=list(FLAVORS), help="the model's flavor, needed to create it")
        parser.add_argument(
            "--location", help="where a new model is served (default: the default location); only used to create it"
        )
        parser.add_argument(
            "--horizon",
            type=horizon_argument,
            help="a new forecasting model's metrics horizon H (steps ahead scored, 1-1000, default 12), fixed for "
            "its life; only used to create it",
        )
        parser.add_argument("--format", choices=list(artifacts.FORMATS), help="the file's format (default: guessed)")
        parser.add_argument("--message", default="", help="what changed in this version")
        parser.add_argument("--requirements", help="a requirements.txt file the model needs")
        parser.add_argument("--description", default="", help="a longer description of this version")
        parser.add_argument("--input-example", help="one input as a JSON object, e.g. '{\"x\": 1.5}'")
        add_user_argument(parser)

    def handle(self, *args, **options):
        options["author"] = cli_user(options["user"])
        data = read_file(options["path"], "PATH").read_bytes()
        requirements = ""
        if options["requirements"]:
            try:
                requirements = read_file(options["requirements"], "--requirements").read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise CommandError(f"--requirements: {options['requirements']} is not UTF-8 text") from None
        input_example = None
        if options["input_example"]:
            try:
                input_example = json.loads(options["input_example"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--input-example is not valid JSON: {exc}") from None
        try:
            version, created, new_model = self._register(data, requirements, input_example, options)
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        version = ModelVersion.objects.without_artifact().select_related("model").get(pk=version.pk)
        if new_model:
            model = version.model
            horizon = f", metrics horizon {model.options['horizon']}" if "horizon" in model.options else ""
            self.stdout.write(f"created model {model.name} ({model.flavor}{horizon})")
        for line in version_lines(version, created=created):
            self.stdout.write(line)
        raise_if_failed(version)

    def _register(self, data, requirements, input_example, options):
        model = selectors.model_get(name=options["name"])
        if model is not None and options["location"] and options["location"] != getattr(model.location, "name", None):
            raise CommandError(
                f"--location only applies when creating a model; {model.name} already exists "
                f"(change its location in the admin or the API)"
            )
        horizon = options["horizon"]
        if model is not None and horizon is not None and horizon != model.options.get("horizon"):
            fixed = f"its horizon is {model.options['horizon']}" if "horizon" in model.options else "it has none"
            raise CommandError(
                f"--horizon only applies when creating a model; {model.name} already exists and {fixed}, fixed for "
                f"its life (create a new model for another horizon)"
            )
        # One transaction: a refused artifact leaves no half-created model behind. Validation is queued on commit.
        uploaded = services.model_version_upload(
            name=options["name"],
            data=data,
            flavor=options["flavor"],
            create=True,
            location=options["location"],
            model_options=None if horizon is None else {"horizon": horizon},
            fmt=options["format"],
            requirements=requirements,
            message=options["message"],
            description=options["description"],
            input_example=input_example,
            author=options["author"],
        )
        return uploaded.version, uploaded.version_created, uploaded.model_created
