"""Shared fixtures: users with the right permissions, API clients with tokens, real river artifacts."""

import functools
import importlib.metadata
import os
import platform
import socket
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from rhythmic.celery import app as celery_app
from tests import factories

# The test process is no production instance (importing rhythmic.wsgi or rhythmic.asgi would register it); the
# servers that tests start are.
django_settings.RHYTHMIC_REGISTER_INSTANCES = False

ALL_PERMISSIONS = [
    "add_modelversion",
    "change_modelversion",
    "add_mlmodel",
    "change_mlmodel",
    "delete_mlmodel",
    "infer_mlmodel",
    "add_dataset",
    "delete_dataset",
]


def is_postgres() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def postgres_only():
    """For tests of concurrent writers (``pytest.mark.usefixtures("postgres_only")``): SQLite has one at a time."""
    if not is_postgres():
        pytest.skip("concurrent transactions need Postgres (SQLite runs one writer at a time): set DATABASE_URL")


@pytest.fixture(autouse=True)
def _fresh_process():
    """Each test starts as a freshly started server process, and the next one does too: ``reset()`` forgets the
    replicas, timings and sweep timers, and resets the parts kept on the process (monitoring's queue, worker and
    throttles, the live-event broadcaster, the token cache); it waits for a monitoring job still running."""
    from serving.process import current

    process = current()
    process.reset()
    yield
    process.reset()


@pytest.fixture(autouse=True)
def _fresh_throttles(settings):
    """Each test counts failed authentications and request rates from zero (a key prefix of its own in Redis)."""
    throttle = dict(settings.CACHES["throttle"])
    throttle["KEY_PREFIX"] = f"{throttle.get('KEY_PREFIX', '')}:{uuid.uuid4().hex}"
    throttle["LOCATION"] = throttle["LOCATION"] if "Redis" in throttle["BACKEND"] else throttle["KEY_PREFIX"]
    settings.CACHES = {**settings.CACHES, "throttle": throttle}


@functools.cache
def installed_packages() -> dict[str, str]:
    return {dist.metadata["Name"]: dist.version for dist in importlib.metadata.distributions() if dist.metadata["Name"]}


@pytest.fixture(autouse=True)
def _this_process_serves(request):
    """In a database test, the test process is a registered production instance that serves every location, as
    `make run`'s server is: a promote is a deploy, which this process pre-loads in-process, since it runs it.
    Its last beat is an hour old, so real servers and workers started by a test never count it as live (nobody
    beats for it); ``@pytest.mark.no_instance`` leaves it out (a deploy with no live instance)."""
    wanted = request.node.get_closest_marker("django_db") is not None or any(
        name in request.fixturenames for name in ("db", "transactional_db", "live_server")
    )
    if not wanted or request.node.get_closest_marker("no_instance"):
        yield None
        return
    request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
    from django.utils import timezone

    from serving.models import Instance

    an_hour_ago = timezone.now() - timedelta(hours=1)
    yield Instance.objects.create(
        key=f"{socket.gethostname()}:{os.getpid()}:test",
        host=socket.gethostname(),
        pid=os.getpid(),
        kind=Instance.Kind.ONESITE,
        started_at=an_hour_ago,
        last_beat=an_hour_ago,
        runtime={"python": platform.python_version(), "packages": installed_packages()},
    )


@pytest.fixture(autouse=True)
def _celery_inline():
    """Tasks run inline in tests unless a test starts a real worker (it flips this back itself)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def regressor_bytes() -> bytes:
    return factories.artifact_bytes(factories.river_regressor())


@pytest.fixture
def classifier_bytes() -> bytes:
    return factories.artifact_bytes(factories.river_classifier())


@pytest.fixture
def reader(db):
    """A logged-in user with no write permission."""
    return factories.UserFactory(username="reader")


@pytest.fixture
def maintainer(db):
    """A user who may create models, upload versions, promote, roll back and infer."""
    return factories.UserFactory(username="maintainer", permissions=ALL_PERMISSIONS)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def reader_client(reader) -> APIClient:
    return client_for(reader)


@pytest.fixture
def maintainer_client(maintainer) -> APIClient:
    return client_for(maintainer)
