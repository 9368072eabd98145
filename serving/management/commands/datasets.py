"""``manage.py datasets list|add|from-log|show|delete``: the datasets, through the same services as the API."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalogue import services
from catalogue.datasets import dataset_preview, selectors
from catalogue.datasets import services as dataset_services
from catalogue.errors import RhythmicError
from catalogue.management.author import add_user_argument, cli_user
from catalogue.management.commands.models import format_table
from catalogue.models import Dataset
from serving.datasets import dataset_from_log


class Command(BaseCommand):
    help = (
        "Datasets: list them, add a CSV or JSON Lines file, keep a slice of a model's learn log (from-log), show one "
        "with its schema and first rows, or delete one. A dataset is named by its name or its id."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|add|from-log|show|delete")
        actions.add_parser("list", help="every dataset, newest first")
        add = actions.add_parser("add", help="store a CSV or JSON Lines file")
        add.add_argument("file", help="the file's path")
        add.add_argument("--name", required=True, help="the dataset's name")
        add.add_argument("--target", required=True, help="the column holding the ground truth")
        add.add_argument("--format", choices=Dataset.Format.values, help="default: from the file name")
        add.add_argument("--description", default="")
        add_user_argument(add)
        log = actions.add_parser("from-log", help="store model MODEL's learn log (features and ground truth)")
        log.add_argument("model", help="the model's name")
        log.add_argument("--name", required=True, help="the dataset's name")
        log.add_argument("--from-seq", type=int, help="the first entry (default 1)")
        log.add_argument("--to-seq", type=int, help="the last entry (default: the log's end now)")
        log.add_argument("--description", default="")
        add_user_argument(log)
        show = actions.add_parser("show", help="a dataset's schema and first rows")
        show.add_argument("dataset", help="its name or id")
        show.add_argument("--rows", type=int, default=10, help="how many rows to print (default 10)")
        delete = actions.add_parser("delete", help="delete a dataset")
        delete.add_argument("dataset", help="its name or id")

    def handle(self, *args, **options):
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except RhythmicError as exc:
            raise CommandError(exc.message) from None

    def _find(self, key: str, *, with_content: bool = False) -> Dataset:
        dataset = selectors.dataset_get_by_name(name=key, with_content=with_content)
        if dataset is None and key.isdigit():
            dataset = selectors.dataset_get(dataset_id=key, with_content=with_content)
        if dataset is None:
            raise CommandError(f"no dataset named {key!r} (manage.py datasets list shows them)")
        return dataset

    def _list(self, options) -> None:
        rows = [
            (
                d.pk,
                d.name,
                d.format,
                d.target,
                d.rows,
                len(d.columns),
                d.size,
                _source(d),
                f"{d.created_at:%Y-%m-%d %H:%M}",
            )
            for d in selectors.dataset_list()
        ]
        if not rows:
            self.stdout.write("no datasets (add one: manage.py datasets add FILE --name N --target COLUMN)")
            return
        headers = ("ID", "NAME", "FORMAT", "TARGET", "ROWS", "COLUMNS", "BYTES", "SOURCE", "CREATED")
        self.stdout.write("\n".join(format_table(headers, rows)))

    def _add(self, options) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no file at {path}")
        user = cli_user(options["user"])
        dataset_services.check_size(path.stat().st_size)  # before reading it into memory
        dataset = dataset_services.dataset_create(
            name=options["name"],
            content=path.read_bytes(),
            target=options["target"],
            fmt=options["format"],
            filename=path.name,
            description=options["description"],
            user=user,
        )
        self._stored(dataset)

    def _from_log(self, options) -> None:
        user = cli_user(options["user"])
        dataset = dataset_from_log(
            model=services.get_model_or_404(options["model"]),
            name=options["name"],
            from_seq=options["from_seq"],
            to_seq=options["to_seq"],
            description=options["description"],
            user=user,
        )
        self._stored(dataset)

    def _stored(self, dataset: Dataset) -> None:
        self.stdout.write(
            f"dataset {dataset.pk} {dataset.name}: {dataset.rows} rows, {len(dataset.columns)} columns, "
            f"target {dataset.target!r} ({_source(dataset)})"
        )

    def _show(self, options) -> None:
        dataset = self._find(options["dataset"], with_content=True)
        self._stored(dataset)
        columns = [
            (c["name"], c["type"], c["missing"], "target" if c["name"] == dataset.target else "")
            for c in dataset.columns
        ]
        self.stdout.write("\n".join(format_table(("COLUMN", "TYPE", "MISSING", ""), columns)))
        names = [c["name"] for c in dataset.columns]
        preview = dataset_preview(dataset, limit=max(0, options["rows"]))
        if preview:
            self.stdout.write("")
            cells = [["" if row[n] is None else row[n] for n in names] for row in preview]
            self.stdout.write("\n".join(format_table(names, cells)))

    def _delete(self, options) -> None:
        dataset = self._find(options["dataset"])
        dataset_services.dataset_delete(dataset=dataset)
        self.stdout.write(f"deleted dataset {dataset.pk} {dataset.name}")


def _source(dataset: Dataset) -> str:
    if dataset.from_seq is None:
        return "upload"
    owner = dataset.source_model.name if dataset.source_model else "a deleted model"
    return f"learn log of {owner} #{dataset.from_seq}..#{dataset.to_seq}"
