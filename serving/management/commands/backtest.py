"""``manage.py backtest start|show|cancel NAME ...``: replay a version over the learn log, read the results."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from catalogue.management.commands.models import format_table
from serving import backtests
from serving.models import Backtest


class Command(BaseCommand):
    help = (
        "Backtests: replay version V's artifact over learn-log entries FROM..TO of model NAME, prequentially "
        "(start), list a model's backtests or show one (show), or cancel one (cancel)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is Django's "print the Django version" flag; here it names the model version replayed.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="start|show|cancel")
        start = actions.add_parser("start", help="start a backtest", conflict_handler="resolve")
        start.add_argument("name", help="the model's name")
        start.add_argument("--version", required=True, type=int, dest="number", help="the version replayed")
        start.add_argument("--from-seq", type=int, help="the first learn-log entry (default 1)")
        start.add_argument("--to-seq", type=int, help="the last learn-log entry (default: the log's end now)")
        start.add_argument("--wait", action="store_true", help="wait for it to finish and print its results")
        start.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most")
        add_user_argument(start)
        show = actions.add_parser("show", help="list a model's backtests, or show one")
        show.add_argument("name", help="the model's name")
        show.add_argument("id", nargs="?", type=int, help="a backtest's id (default: list them)")
        cancel = actions.add_parser("cancel", help="cancel a queued or running backtest")
        cancel.add_argument("name", help="the model's name")
        cancel.add_argument("id", type=int, help="the backtest's id")

    def handle(self, *args, **options):
        try:
            model = services.get_model_or_404(options["name"])
            getattr(self, f"_{options['action']}")(model, options)
        except RhythmicError as exc:
            raise CommandError(exc.message) from None

    def _start(self, model, options) -> None:
        from serving.tasks import run_backtest

        user = cli_user(options["user"])
        backtest = backtests.backtest_start(
            model=model, version=options["number"], from_seq=options["from_seq"], to_seq=options["to_seq"], user=user
        )
        self.stdout.write(
            f"backtest {backtest.pk}: {model.name} v{options['number']} over learn #{backtest.from_seq}"
            f"..#{backtest.to_seq}, queued"
        )
        inline = run_backtest.app.conf.task_always_eager
        if not options["wait"] and not inline:
            self.stdout.write(f"follow it with: manage.py backtest show {model.name} {backtest.pk}")
            return
        if inline and not options["wait"]:
            self.stdout.write("no broker (CELERY_TASK_ALWAYS_EAGER): it runs in this process, which waits for it")
        done = backtests.wait(backtest.pk, timeout=options["timeout"])
        self._describe(done)
        if done.status == Backtest.Status.FAILED:
            raise CommandError(f"backtest {done.pk} failed: {done.error}")

    def _show(self, model, options) -> None:
        if options["id"] is not None:
            backtest = backtests.backtest_get(model=model, backtest_id=options["id"])
            if backtest is None:
                raise CommandError(f"{model.name} has no backtest {options['id']}")
            self._describe(backtest)
            return
        rows = [
            (
                b.pk,
                f"v{b.version.number}",
                f"#{b.from_seq}..#{b.to_seq}",
                b.status,
                f"{b.progress:.0%}",
                f"{b.events_done}/{b.events_total}",
                b.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for b in backtests.backtest_list(model=model)
        ]
        if not rows:
            self.stdout.write(f"{model.name} has no backtests; start one with: manage.py backtest start {model.name}")
            return
        headers = ("ID", "VERSION", "RANGE", "STATUS", "PROGRESS", "EVENTS", "CREATED")
        for line in format_table(headers, rows):
            self.stdout.write(line)

    def _cancel(self, model, options) -> None:
        backtest = backtests.backtest_get(model=model, backtest_id=options["id"], recover=False)
        if backtest is None:
            raise CommandError(f"{model.name} has no backtest {options['id']}")
        backtest = backtests.backtest_cancel(backtest=backtest)
        stopping = " (it stops after its current chunk)" if backtest.status == Backtest.Status.RUNNING else ""
        self.stdout.write(f"backtest {backtest.pk}: cancel requested{stopping}; now {backtest.status}")

    def _describe(self, backtest: Backtest) -> None:
        self.stdout.write(
            f"backtest {backtest.pk}: v{backtest.version.number} over #{backtest.from_seq}..#{backtest.to_seq}: "
            f"{backtest.status}, {backtest.events_done}/{backtest.events_total} events ({backtest.progress:.0%})"
        )
        if backtest.error:
            self.stdout.write(f"error: {backtest.error}")
        replayed = (backtest.metrics or {}).get("values", {})
        baseline = (backtest.baseline or {}).get("values", {})
        if replayed or baseline:
            rows = [(name, _number(replayed.get(name)), _number(baseline.get(name))) for name in replayed or baseline]
            for line in format_table(("METRIC", f"V{backtest.version.number} REPLAYED", "BASELINE"), rows):
                self.stdout.write(line)


def _number(value) -> str:
    return "-" if value is None else f"{value:.6g}"
