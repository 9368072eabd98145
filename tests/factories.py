"""factory_boy factories for the catalogue and production instances, with a real river model as the default artifact."""

from datetime import timedelta

import dill
import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from river import linear_model, preprocessing

from catalogue import artifacts
from catalogue.models import Location, MLModel, ModelVersion
from serving.models import Instance


def river_regressor(intercept: float = 0.0):
    return preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=intercept)


def river_classifier():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def artifact_bytes(model=None) -> bytes:
    return dill.dumps(model if model is not None else river_regressor())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def permissions(self, create, codenames, **kwargs):
        """UserFactory(permissions=["add_modelversion", ...]) grants those permissions by codename."""
        if create and codenames:
            self.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    name = factory.Sequence(lambda n: f"location-{n}")


class MLModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MLModel

    name = factory.Sequence(lambda n: f"model-{n}")
    flavor = "regression"
    description = "A test model"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A version stored directly (no validation queued); status defaults to ready."""

    class Meta:
        model = ModelVersion
        skip_postgeneration_save = True

    model = factory.SubFactory(MLModelFactory)
    number = factory.LazyAttribute(lambda v: v.model.versions.count() + 1)
    # A distinct (but equally real) model per version: identical bytes would be deduplicated.
    artifact = factory.Sequence(lambda n: artifact_bytes(river_regressor(intercept=n / 1000)))
    format = "dill"
    sha256 = factory.LazyAttribute(lambda v: artifacts.sha256_of(bytes(v.artifact)))
    size = factory.LazyAttribute(lambda v: len(v.artifact))
    status = ModelVersion.Status.READY

    @factory.post_generation
    def bump_counter(self, create, extracted, **kwargs):
        if create:
            MLModel.objects.filter(pk=self.model_id, version_counter__lt=self.number).update(
                version_counter=self.number
            )


class InstanceFactory(factory.django.DjangoModelFactory):
    """A production instance's row, as its heartbeat writes it: ``beat_ago`` seconds since its last beat,
    ``stopped`` for one that said it stopped."""

    class Meta:
        model = Instance

    class Params:
        beat_ago = 0.0
        stopped = False

    key = factory.Sequence(lambda n: f"web-1:{100 + n}:{n:x}")
    host = "web-1"
    pid = 100
    kind = Instance.Kind.WSGI
    location = ""
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    last_beat = factory.LazyAttribute(lambda o: timezone.now() - timedelta(seconds=o.beat_ago))
    stopped_at = factory.LazyAttribute(lambda o: timezone.now() if o.stopped else None)
