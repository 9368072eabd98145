"""Fixtures of the page tests: logged-in browsers (Django's test client) for each kind of user."""

import pytest
from django.test import Client

from catalogue import services
from tests import factories


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def maintainer_web(maintainer) -> Client:
    """May create models, upload versions, promote, roll back, retire and delete."""
    return logged_in(maintainer)


@pytest.fixture
def reader_web(reader) -> Client:
    """Logged in, without any write permission."""
    return logged_in(reader)


@pytest.fixture
def operator_web(db) -> Client:
    """May create locations and change the default one."""
    user = factories.UserFactory(username="operator", permissions=["add_location", "change_location"])
    return logged_in(user)


@pytest.fixture
def served_model(db):
    """A regression model with v1 in production and a ready v2."""
    model = factories.MLModelFactory(name="house-prices", metadata={"team": "pricing"})
    v1 = factories.ModelVersionFactory(model=model, message="first")
    factories.ModelVersionFactory(model=model, message="second")
    services.deployment_promote(version=v1)
    model.refresh_from_db()
    return model
