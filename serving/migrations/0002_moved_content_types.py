"""The content types of the models moved from catalogue (learn log, pending predictions, checkpoints) now
belong to serving: repoint the old ``catalogue | learnevent``... rows, or, where serving's already exist,
move their permission grants (and admin log entries) onto serving's and delete the stale ones."""

from django.conf import settings
from django.db import migrations

MOVED = ("learnevent", "pendingprediction", "checkpoint")


def repoint(apps, schema_editor):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    group_grants = Group.permissions.through.objects.using(db)
    user_grants = User.user_permissions.through.objects.using(db)
    LogEntry = apps.get_model("admin", "LogEntry")
    for model in MOVED:
        old = ContentType.objects.using(db).filter(app_label="catalogue", model=model).first()
        if old is None:
            continue
        new = ContentType.objects.using(db).filter(app_label="serving", model=model).first()
        if new is None:  # the usual case: one migrate run, serving's types are created after it
            ContentType.objects.using(db).filter(pk=old.pk).update(app_label="serving")
            continue
        for permission in Permission.objects.using(db).filter(content_type=old):
            twin = Permission.objects.using(db).filter(content_type=new, codename=permission.codename).first()
            if twin is None:
                Permission.objects.using(db).filter(pk=permission.pk).update(content_type=new)
                continue
            for grant in group_grants.filter(permission_id=permission.pk):
                group_grants.get_or_create(group_id=grant.group_id, permission_id=twin.pk)
            for grant in user_grants.filter(permission_id=permission.pk):
                user_grants.get_or_create(user_id=grant.user_id, permission_id=twin.pk)
        LogEntry.objects.using(db).filter(content_type=old).update(content_type=new)
        old.delete()  # with its remaining permissions and their grants, all copied above


class Migration(migrations.Migration):
    dependencies = [
        ("serving", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(repoint, migrations.RunPython.noop)]
