"""``manage.py train NAME --version N --dataset D [--from live] [--promote]``: train a version on a dataset into
the next version, printing a progress bar until the job ends (``--no-wait``: start it and return)."""

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from serving import jobs, training
from serving.models import TrainingJob

WIDTH = 30
#: How often the command reads the job's row while it waits (a worker in another process writes it).
POLL_SECONDS = 0.2


def bar(job: TrainingJob) -> str:
    """``[###############...............]  50%  150/300 rows  running``"""
    filled = round(job.progress * WIDTH)
    return (
        f"[{'#' * filled}{'.' * (WIDTH - filled)}] {job.progress:4.0%}  {job.rows_done}/{job.rows_total} rows  "
        f"{job.status}"
    )


class Command(BaseCommand):
    help = (
        "Train version N of model NAME on dataset D (its id or name) into the next version, in a background job, "
        "and print its progress until it ends."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is Django's "print the Django version" flag; here it names the model version trained.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("--version", required=True, type=int, dest="number", help="the version trained")
        parser.add_argument("--dataset", required=True, help="the dataset learned: its id or name")
        parser.add_argument(
            "--from",
            dest="start",
            choices=TrainingJob.Start.values,
            default=TrainingJob.Start.ARTIFACT,
            help="start from the version's artifact (default) or from its live state (a warm start)",
        )
        parser.add_argument("--params", default="{}", help="a JSON object: fit keyword arguments, or river params")
        parser.add_argument("--method", choices=("fit", "partial_fit"), default="", help="scikit-learn only")
        parser.add_argument("--holdout", type=float, help="scikit-learn only: the share of last rows scored (0.2)")
        parser.add_argument("--promote", action="store_true", help="put the trained version in production")
        parser.add_argument("--message", default="", help="the new version's message")
        parser.add_argument("--no-wait", action="store_true", help="start the job and return")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most")
        add_user_argument(parser)

    def handle(self, *args, **options):
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params must be a JSON object: {exc}") from None
        user = cli_user(options["user"])
        try:
            model = services.get_model_or_404(options["name"])
            job = training.training_start(
                model=model,
                version=options["number"],
                dataset=options["dataset"],
                start=options["start"],
                params=params,
                method=options["method"],
                holdout=options["holdout"],
                promote=options["promote"],
                message=options["message"],
                user=user,
            )
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"training job {job.pk}: {model.name} v{job.version.number} on dataset {job.dataset_name} "
            f"({job.rows_total} rows, from {job.start}), queued"
        )
        if options["no_wait"]:
            self.stdout.write(
                f"follow it at /models/{model.name}/jobs/ or GET /api/v1/models/{model.name}/jobs/{job.pk}/"
            )
            return
        job = self._follow(job, timeout=options["timeout"])
        self._describe(job)
        if job.status == TrainingJob.Status.FAILED:
            raise CommandError(f"training job {job.pk} failed: {job.error}")
        if not job.finished:
            raise CommandError(f"training job {job.pk} is still {job.status} after {options['timeout']:g} s")

    def _follow(self, job: TrainingJob, *, timeout: float) -> TrainingJob:
        """Draw the bar each time the job's row changes, until it ends: on one line (carriage returns) on a
        terminal, a line per change otherwise (a log, a pipe)."""
        tty = getattr(self.stdout._out, "isatty", lambda: False)()
        deadline = time.monotonic() + timeout
        drawn = None
        while True:
            job = training.training_get(model=job.model, job_id=job.pk) or job
            line = bar(job)
            if line != drawn:
                if tty:
                    self.stdout.write(f"\r{line}", ending="")
                    sys.stdout.flush()
                else:
                    self.stdout.write(line)
                drawn = line
            if job.finished or time.monotonic() > deadline:
                if tty:
                    self.stdout.write("")
                return job
            jobs.join("training", job.pk, POLL_SECONDS)  # returns at once when a worker runs it
            time.sleep(POLL_SECONDS)

    def _describe(self, job: TrainingJob) -> None:
        if job.result_id:
            production = " (now in production)" if job.model.production_version_id == job.result_id else ""
            self.stdout.write(f"trained into v{job.result.number}{production}")
        if job.error:
            self.stdout.write(f"error: {job.error}")
        values = (job.metrics or {}).get("values") or {}
        for name, value in values.items():
            self.stdout.write(f"{name}: {'-' if value is None else f'{value:.6g}'}")
        if "score" in (job.metrics or {}):
            self.stdout.write(f"holdout score: {job.metrics['score']:.6g}")
