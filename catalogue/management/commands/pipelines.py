"""``manage.py pipelines list|create|show|version|promote|rollback|delete``: pipelines, through catalogue.pipelines.

A stage is ``--stage MODEL[:AS]``, in order: MODEL's prediction is a feature of the later stages under AS.
"""

from django.core.management.base import BaseCommand, CommandError

from catalogue import pipelines
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from catalogue.management.commands.models import format_table
from catalogue.management.commands.versions import shorten
from catalogue.pipeline_models import Pipeline, PipelineVersion

STAGE_HELP = (
    "a stage, in order: MODEL, or MODEL:AS where AS names its output for the later stages "
    "(every stage but the last needs one); repeat for each stage"
)


def parse_stage(text: str) -> dict:
    """``scorer:anomaly_score`` -> ``{"model": "scorer", "as": "anomaly_score"}``; ``clf`` -> ``{"model": "clf"}``.

    Model names hold no ``:``, so the first one splits; the services check the rest (names, order, flavors).
    """
    model, colon, output = text.partition(":")
    if not model:
        raise CommandError(f"--stage {text!r}: give the model's name first, like --stage scorer:anomaly_score")
    if not colon:
        return {"model": model}
    if not output:
        raise CommandError(f"--stage {text!r}: the output name after ':' is empty (leave out ':' on the last stage)")
    return {"model": model, "as": output}


def stage_text(stages: list[dict]) -> str:
    return " -> ".join(f"{s['model']} as {s['as']}" if s.get("as") else s["model"] for s in stages)


class Command(BaseCommand):
    help = (
        "Pipelines (multi-stage scoring): list them, create one (its stages are version 1, in production at once), "
        "show one with its versions and history, add a version with other stages, promote a version, roll back, "
        "or delete one. A stage is --stage MODEL[:AS], in order."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is Django's "print the Django version" flag; here it names the pipeline version promoted.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="list|create|show|version|promote|rollback|delete"
        )
        actions.add_parser("list", help="every pipeline with its production version and stages")
        create = actions.add_parser("create", help="create a pipeline; its stages are version 1, in production")
        create.add_argument("name", help="the pipeline's name")
        create.add_argument("--stage", action="append", required=True, dest="stages", help=STAGE_HELP)
        create.add_argument("--description", default="", help="what the pipeline is for")
        create.add_argument("--message", default="", help="version 1's message (default: created)")
        add_user_argument(create)
        show = actions.add_parser("show", help="a pipeline's versions (LIVE marks production) and its history")
        show.add_argument("name", help="the pipeline's name")
        version = actions.add_parser("version", help="a new version with other stages (promote it to serve it)")
        version.add_argument("name", help="the pipeline's name")
        version.add_argument("--stage", action="append", required=True, dest="stages", help=STAGE_HELP)
        version.add_argument("--message", default="", help="what changed in this version")
        version.add_argument("--promote", action="store_true", help="promote it at once")
        add_user_argument(version)
        promote = actions.add_parser("promote", help="put a version in production", conflict_handler="resolve")
        promote.add_argument("name", help="the pipeline's name")
        promote.add_argument("--version", required=True, dest="number", help="the version number to promote")
        promote.add_argument("--note", default="", help="why, recorded in the history")
        add_user_argument(promote)
        rollback = actions.add_parser("rollback", help="return to the version in production before the current one")
        rollback.add_argument("name", help="the pipeline's name")
        rollback.add_argument("--note", default="", help="why, recorded in the history")
        add_user_argument(rollback)
        delete = actions.add_parser("delete", help="delete a pipeline with its versions and history")
        delete.add_argument("name", help="the pipeline's name")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except RhythmicError as exc:
            raise CommandError(exc.message) from None

    def _list(self, options) -> None:
        rows = [
            (
                pipeline.name,
                f"v{pipeline.production_version.number}" if pipeline.production_version else "-",
                stage_text(pipeline.production_version.stages) if pipeline.production_version else "-",
                pipeline.version_counter,
                f"{pipeline.updated_at:%Y-%m-%d %H:%M}",
            )
            for pipeline in pipelines.pipeline_list()
        ]
        if not rows:
            self.stdout.write("no pipelines yet; create one with: manage.py pipelines create NAME --stage MODEL:AS ...")
            return
        self.stdout.write("\n".join(format_table(("NAME", "PRODUCTION", "STAGES", "VERSIONS", "UPDATED"), rows)))

    def _create(self, options) -> None:
        user = cli_user(options["user"])
        pipeline = pipelines.pipeline_create(
            name=options["name"],
            stages=[parse_stage(text) for text in options["stages"]],
            description=options["description"],
            message=options["message"],
            owner=user,
        )
        version = pipeline.production_version
        self.stdout.write(
            f"created pipeline {pipeline.name}: v{version.number} in production ({stage_text(version.stages)})"
        )

    def _show(self, options) -> None:
        pipeline = pipelines.get_pipeline_or_404(options["name"])
        if pipeline.description:
            self.stdout.write(pipeline.description)
        rows = [
            (
                f"v{version.number}",
                stage_text(version.stages),
                version.author.get_username() if version.author else "-",
                shorten(version.message) or "-",
                f"{version.created_at:%Y-%m-%d %H:%M}",
                "LIVE" if version.pk == pipeline.production_version_id else "",
            )
            for version in pipelines.pipeline_versions(pipeline=pipeline)
        ]
        self.stdout.write("\n".join(format_table(("VERSION", "STAGES", "AUTHOR", "MESSAGE", "CREATED", "LIVE"), rows)))
        history = [
            (
                f"{deployment.created_at:%Y-%m-%d %H:%M}",
                deployment.action,
                f"v{deployment.from_version.number}" if deployment.from_version else "-",
                f"v{deployment.to_version.number}" if deployment.to_version else "-",
                deployment.user.get_username() if deployment.user else "-",
                shorten(deployment.note) or "-",
            )
            for deployment in pipelines.pipeline_history(pipeline=pipeline).order_by("-created_at", "-id")
        ]
        self.stdout.write("")
        self.stdout.write("\n".join(format_table(("WHEN", "ACTION", "FROM", "TO", "USER", "NOTE"), history)))

    def _version(self, options) -> None:
        user = cli_user(options["user"])
        pipeline = pipelines.get_pipeline_or_404(options["name"])
        version = pipelines.pipeline_version_create(
            pipeline=pipeline,
            stages=[parse_stage(text) for text in options["stages"]],
            message=options["message"],
            author=user,
        )
        self.stdout.write(f"{pipeline.name} v{version.number}: {stage_text(version.stages)}")
        if options["promote"]:
            self._promoted(pipelines.pipeline_promote(version=version, user=user, note=options["message"]))
        else:
            self.stdout.write(
                f"not in production yet; promote it with: manage.py pipelines promote {pipeline.name} "
                f"--version {version.number}"
            )

    def _promote(self, options) -> None:
        user = cli_user(options["user"])
        pipeline = pipelines.get_pipeline_or_404(options["name"])
        version = pipelines.get_pipeline_version_or_404(pipeline, options["number"])
        self._promoted(pipelines.pipeline_promote(version=version, user=user, note=options["note"]))

    def _rollback(self, options) -> None:
        user = cli_user(options["user"])
        pipeline = pipelines.get_pipeline_or_404(options["name"])
        self._promoted(pipelines.pipeline_rollback(pipeline=pipeline, user=user, note=options["note"]))

    def _promoted(self, deployment) -> None:
        version: PipelineVersion = deployment.to_version
        was = f"v{deployment.from_version.number}" if deployment.from_version else "none"
        verb = "rolled back to" if deployment.action == "rollback" else "now serves"
        self.stdout.write(f"{version.pipeline.name} {verb} v{version.number} ({stage_text(version.stages)}; was {was})")

    def _delete(self, options) -> None:
        pipeline: Pipeline = pipelines.get_pipeline_or_404(options["name"])
        versions = pipeline.version_counter
        pipelines.pipeline_delete(pipeline=pipeline)
        self.stdout.write(
            f"deleted pipeline {pipeline.name} ({versions} version{'s' if versions != 1 else ''}); "
            "its stage models are unchanged"
        )
