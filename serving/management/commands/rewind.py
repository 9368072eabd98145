"""``manage.py rewind NAME VERSION --to-seq S | --skip A,B,C [--dry-run]``: undo what a version learned."""

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from serving.rewind import version_rewind, version_rewind_preview


def _seqs(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--skip takes log seqs separated by commas, like 41,42,43; got {text!r}") from None


class Command(BaseCommand):
    help = (
        "Bring version VERSION of model NAME back to its state right after log entry --to-seq, or replay it "
        "without the entries of --skip. Every serving process reloads it; the rewind is recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the model's name")
        parser.add_argument("version", help="the version number")
        point = parser.add_mutually_exclusive_group(required=True)
        point.add_argument("--to-seq", type=int, help="back to right after this log entry")
        point.add_argument("--skip", type=_seqs, help="log entries to leave out, separated by commas")
        parser.add_argument("--dry-run", action="store_true", help="show what would be undone; change nothing")
        parser.add_argument("--reason", default="", help="why, recorded with the rewind")
        add_user_argument(parser)

    def handle(self, *args, **options):
        user = None if options["dry_run"] else cli_user(options["user"])
        point = {"to_seq": options["to_seq"], "skip": options["skip"]}
        try:
            model = services.get_model_or_404(options["name"])
            version = services.get_version_or_404(model, options["version"])
            if options["dry_run"]:
                preview = version_rewind_preview(model=model, version=version, **point)
            else:
                rewind = version_rewind(model=model, version=version, **point, user=user, reason=options["reason"])
        except RhythmicError as exc:
            raise CommandError(exc.message) from None
        label = f"{model.name} v{version.number}"
        if options["dry_run"]:
            self.stdout.write(
                f"{label}: would undo {preview['n_undone']} learned entries (log head #{preview['head_seq']})"
            )
            for name, now in preview["now"]["metrics"].items():
                self.stdout.write(f"  {name}: {now} now, {preview['after']['metrics'].get(name)} after")
            return
        self.stdout.write(f"{label} rewound: {rewind.n_undone} learned entries undone (log head #{rewind.head_seq})")
