"""The learn log under concurrent writers on Postgres: sequence order is visibility order."""

import threading

import pytest
from django.db import connections, transaction

from catalogue.runtime import log
from tests import factories
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 4
APPENDS = 30


@pytest.fixture(autouse=True)
def _postgres_only():
    if not is_postgres():
        pytest.skip("concurrent transactions need Postgres (SQLite runs one writer at a time)")


def test_a_reader_never_sees_a_sequence_number_before_all_smaller_ones():
    # Given a model and writers that hold their transaction open a moment after appending
    version = factories.ModelVersionFactory()
    model_id = version.model_id
    start = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    gaps: list[tuple[int, list[int]]] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                with transaction.atomic():
                    log.append(
                        model_id=model_id,
                        entries=[
                            {
                                "version_id": version.pk,
                                "key": f"{n}-{i}",
                                "features": {"i": i},
                                "ground_truth": 1.0,
                                "prediction": {"value": 0.0},
                            }
                        ],
                    )
                    # Widen the window between taking a number and committing it.
                    connections["default"].cursor().execute("SELECT pg_sleep(0.002)")
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            start.wait()
            seen = 0
            while not done.is_set() or seen < WRITERS * APPENDS:
                # Everything visible at any instant must be a prefix 1..n of the log.
                seqs = [e.seq for e in log.read_tail(model_id=model_id, after=0, upto=10**9)]
                if seqs != list(range(1, len(seqs) + 1)):
                    gaps.append((len(seqs), seqs))
                seen = len(seqs)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    # When they all append at once
    for thread in threads:
        thread.join(60)
    done.set()
    watcher.join(60)
    # Then every reader snapshot was gap-free, and the log is exactly 1..N
    assert errors == []
    assert gaps == []
    final = log.read_tail(model_id=model_id, after=0, upto=10**9)
    assert [e.seq for e in final] == list(range(1, WRITERS * APPENDS + 1))
