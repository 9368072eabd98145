"""The content types of the models moved from catalogue to serving: no stale ``catalogue | learnevent`` rows
are left behind, and the permissions granted through them keep working."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("serving", "0001_initial")]


def _migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()


def _latest() -> None:
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _stale(model: str, *codenames: str) -> tuple[ContentType, list[Permission]]:
    """The content type an upgraded database still holds for ``model`` under catalogue, with permissions."""
    stale = ContentType.objects.create(app_label="catalogue", model=model)
    return stale, [Permission.objects.create(content_type=stale, codename=c, name=c) for c in codenames]


def _fresh(user):
    return get_user_model().objects.get(pk=user.pk)  # no cached permissions


def test_stale_catalogue_types_are_merged_into_servings_with_their_grants():
    # Given a database where serving's types exist and catalogue's old ones linger, granted to a user and a group
    _migrate(BEFORE)
    stale, (view, export) = _stale("learnevent", "view_learnevent", "export_learnevent")
    user, group = UserFactory(), Group.objects.create(name="auditors")
    user.user_permissions.add(view)
    group.permissions.add(export)
    member = UserFactory()
    member.groups.add(group)
    entry = LogEntry.objects.create(user=user, content_type=stale, object_id="1", object_repr="e", action_flag=1)
    # When the database migrates
    _latest()
    # Then no catalogue type of a moved model is left
    assert not ContentType.objects.filter(app_label="catalogue", model__in=["learnevent", "checkpoint"]).exists()
    # And the grants hold on serving's permissions
    assert _fresh(user).has_perm("serving.view_learnevent")
    assert _fresh(member).has_perm("serving.export_learnevent")
    assert Permission.objects.get(codename="export_learnevent").content_type.app_label == "serving"
    # And the admin's history points at serving's type
    entry.refresh_from_db()
    assert entry.content_type == ContentType.objects.get_by_natural_key("serving", "learnevent")


def test_a_stale_type_without_servings_is_repointed_keeping_its_permissions():
    # Given a database upgraded in one run: only catalogue's type of checkpoints exists, granted to a user
    _migrate(BEFORE)
    ContentType.objects.filter(app_label="serving", model="checkpoint").delete()
    stale, (view,) = _stale("checkpoint", "view_checkpoint")
    user = UserFactory()
    user.user_permissions.add(view)
    # When the database migrates
    _latest()
    # Then the same row now names serving, and the grant holds
    assert ContentType.objects.get(pk=stale.pk).app_label == "serving"
    assert _fresh(user).has_perm("serving.view_checkpoint")
    assert not _fresh(user).has_perm("catalogue.view_checkpoint")
