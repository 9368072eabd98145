"""Catalogue services: models, version numbering, dedup, validation, promote, rollback, retire."""

import pickle
import random

import dill
import pytest
from river import linear_model

from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound, TooLarge
from catalogue.models import Deployment, Location, MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


def register(model, data, **kwargs):
    return services.model_version_register(model=model, data=data, **kwargs)


def test_model_create_uses_the_default_location():
    # Given a default location
    default = services.location_create(name="eu-west", is_default=True)
    # When a model is created without one
    model = services.model_create(name="fraud", flavor="binary", metadata={"team": "risk"})
    # Then it is placed there
    assert model.location == default
    assert model.metadata == {"team": "risk"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bad Name", "flavor": "regression"}, "name"),
        ({"name": "", "flavor": "regression"}, "name"),
        ({"name": "ok", "flavor": "ranking"}, "flavor"),
        ({"name": "ok", "flavor": "regression", "metadata": {"a": 1}}, "metadata"),
        ({"name": "ok", "flavor": "regression", "metadata": ["a"]}, "metadata"),
        ({"name": "ok", "flavor": "regression", "location": "nowhere"}, "location"),
    ],
)
def test_model_create_rejects_bad_input_naming_the_field(kwargs, field):
    with pytest.raises(InvalidInput) as error:
        services.model_create(**kwargs)
    assert error.value.field == field
    assert not MLModel.objects.exists()


def test_model_create_refuses_a_duplicate_name():
    services.model_create(name="taxi", flavor="regression")
    with pytest.raises(Conflict):
        services.model_create(name="taxi", flavor="regression")


def test_only_one_location_is_default():
    first = services.location_create(name="a", is_default=True)
    second = services.location_create(name="b", is_default=True)
    first.refresh_from_db()
    assert not first.is_default
    assert list(Location.objects.filter(is_default=True)) == [second]


def test_versions_are_numbered_one_two_three(regressor_bytes):
    model = factories.MLModelFactory()
    numbers = [register(model, dill.dumps(linear_model.LinearRegression(l2=i)))[0].number for i in range(3)]
    assert numbers == [1, 2, 3]


def test_uploading_the_same_bytes_twice_returns_the_existing_version(regressor_bytes):
    model = factories.MLModelFactory()
    first, created_first = register(model, regressor_bytes, message="first")
    again, created_again = register(model, regressor_bytes, message="again")
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert model.versions.count() == 1


def test_register_records_hash_size_and_metadata(regressor_bytes, maintainer):
    model = factories.MLModelFactory()
    version, _ = register(
        model, regressor_bytes, message="initial", requirements="river\n", metadata={"k": "v"}, author=maintainer
    )
    assert version.size == len(regressor_bytes)
    assert len(version.sha256) == 64
    assert version.format == "dill"
    assert (version.message, version.requirements, version.author) == ("initial", "river\n", maintainer)


def test_register_refuses_empty_and_oversize_artifacts(settings):
    model = factories.MLModelFactory()
    with pytest.raises(InvalidInput):
        register(model, b"")
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 10
    with pytest.raises(TooLarge):
        register(model, b"x" * 11)
    assert not model.versions.exists()


def test_register_refuses_an_unknown_format(regressor_bytes):
    with pytest.raises(InvalidInput) as error:
        register(factories.MLModelFactory(), regressor_bytes, fmt="zip")
    assert error.value.field == "format"


def test_upload_queues_validation_after_commit(regressor_bytes, django_capture_on_commit_callbacks):
    # Given a model, when a version is uploaded and the transaction commits
    model = factories.MLModelFactory()
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = register(model, regressor_bytes, input_example={"x": 1.0, "y": 2.0})
    # Then the (inline) worker has validated it
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY
    assert version.validation_report["ok"] is True
    names = [check["name"] for check in version.validation_report["checks"]]
    assert names == ["load", "interface", "requirements", "smoke_prediction", "determinism"]


def validated(model, data, **kwargs) -> ModelVersion:
    version, _ = register(model, data, validate=False, **kwargs)
    return services.model_version_validate(version_id=version.pk)


def test_validation_fails_garbage_with_a_readable_reason():
    version = validated(factories.MLModelFactory(), b"this is not a pickle")
    assert version.status == ModelVersion.Status.FAILED
    assert "could not load the bytes as dill" in version.validation_report["summary"]


def test_validation_fails_a_model_lacking_the_flavor_methods():
    version = validated(factories.MLModelFactory(flavor="anomaly"), dill.dumps(linear_model.LinearRegression()))
    assert version.status == ModelVersion.Status.FAILED
    assert "anomaly detection needs a river AnomalyDetector" in version.validation_report["summary"]


class ScoresNothing:
    def learn_one(self, x):
        pass


def test_validation_fails_a_plain_object_lacking_the_flavor_methods():
    version = validated(factories.MLModelFactory(flavor="anomaly"), dill.dumps(ScoresNothing()))
    assert version.status == ModelVersion.Status.FAILED
    assert "must implement learn_one and score_one" in version.validation_report["summary"]


def test_validation_refuses_a_binary_only_classifier_for_multiclass(classifier_bytes):
    version = validated(factories.MLModelFactory(flavor="multiclass"), classifier_bytes)
    assert "handles two classes only" in version.validation_report["summary"]


def test_validation_refuses_a_regressor_for_binary(regressor_bytes):
    version = validated(factories.MLModelFactory(flavor="binary"), regressor_bytes)
    assert "needs a river Classifier" in version.validation_report["summary"]


def test_validation_accepts_a_classifier_for_binary(classifier_bytes):
    version = validated(factories.MLModelFactory(flavor="binary"), classifier_bytes, input_example={"a": 1.0})
    assert version.status == ModelVersion.Status.READY


def test_validation_reports_unmet_requirements(regressor_bytes):
    version = validated(
        factories.MLModelFactory(), regressor_bytes, requirements="river>=999\nnot-a-package-xyz==1.0\n"
    )
    assert version.status == ModelVersion.Status.FAILED
    summary = version.validation_report["summary"]
    assert "river>=999 is required but" in summary
    assert "not-a-package-xyz is not installed" in summary


def test_validation_accepts_installed_requirements(regressor_bytes):
    version = validated(factories.MLModelFactory(), regressor_bytes, requirements="river>=0.20\ndill # comment\n")
    assert version.status == ModelVersion.Status.READY


class GlobalRandomRegressor:
    """Predicts from the global random module: two replicas can never agree."""

    def learn_one(self, x, y):
        pass

    def predict_one(self, x):
        return random.random()


def test_validation_flags_a_model_that_is_not_deterministic_under_replay():
    version = validated(factories.MLModelFactory(), dill.dumps(GlobalRandomRegressor()))
    assert version.status == ModelVersion.Status.FAILED
    determinism = next(c for c in version.validation_report["checks"] if c["name"] == "determinism")
    assert determinism["status"] == "failed"
    assert "Seed its random parts" in determinism["detail"]


class NeedsDistance:
    def learn_one(self, x, y):
        pass

    def predict_one(self, x):
        return x["distance"] * 2.0


def test_validation_fails_a_smoke_prediction_that_raises():
    version = validated(factories.MLModelFactory(), dill.dumps(NeedsDistance()), input_example={"time": 1.0})
    assert version.status == ModelVersion.Status.FAILED
    smoke = next(c for c in version.validation_report["checks"] if c["name"] == "smoke_prediction")
    assert smoke["status"] == "failed"


def test_validation_accepts_a_pickle_format_artifact():
    data = pickle.dumps(linear_model.LinearRegression())
    version = validated(factories.MLModelFactory(), data, fmt="pickle")
    assert version.status == ModelVersion.Status.READY


def test_promote_makes_a_ready_version_live_and_records_it(maintainer):
    version = factories.ModelVersionFactory()
    deployment = services.deployment_promote(version=version, user=maintainer, note="go")
    version.model.refresh_from_db()
    assert version.model.production_version == version
    assert (deployment.action, deployment.from_version, deployment.to_version) == ("promote", None, version)


@pytest.mark.parametrize("status", ["pending", "validating", "failed", "retired"])
def test_promote_refuses_a_version_that_is_not_ready(status):
    version = factories.ModelVersionFactory(status=status)
    with pytest.raises(Conflict):
        services.deployment_promote(version=version)
    version.model.refresh_from_db()
    assert version.model.production_version is None
    assert not Deployment.objects.exists()


def test_rollback_returns_to_the_previous_production_version():
    model = factories.MLModelFactory()
    v1, v2, v3 = (factories.ModelVersionFactory(model=model) for _ in range(3))
    for version in (v1, v2, v3):
        services.deployment_promote(version=version)
    services.deployment_rollback(model=model)
    model.refresh_from_db()
    assert model.production_version == v2
    services.deployment_rollback(model=model)
    model.refresh_from_db()
    assert model.production_version == v1
    with pytest.raises(Conflict):
        services.deployment_rollback(model=model)


def test_rollback_skips_a_retired_version():
    model = factories.MLModelFactory()
    v1, v2, v3 = (factories.ModelVersionFactory(model=model) for _ in range(3))
    for version in (v1, v2, v3):
        services.deployment_promote(version=version)
    services.version_retire(version=v2)
    services.deployment_rollback(model=model)
    model.refresh_from_db()
    assert model.production_version == v1


def test_rollback_without_production_is_refused():
    with pytest.raises(Conflict):
        services.deployment_rollback(model=factories.MLModelFactory())


def test_retiring_the_production_version_leaves_none_live():
    version = factories.ModelVersionFactory()
    services.deployment_promote(version=version)
    services.version_retire(version=version)
    version.model.refresh_from_db()
    assert version.model.production_version is None
    assert version.model.deployments.first().action == "retire"


def test_delete_removes_a_live_model_and_its_versions():
    version = factories.ModelVersionFactory()
    services.deployment_promote(version=version)
    services.model_delete(model=version.model)
    assert not MLModel.objects.exists()
    assert not ModelVersion.objects.exists()


def test_get_version_or_404_explains_what_is_wrong():
    model = factories.MLModelFactory()
    with pytest.raises(NotFound):
        services.get_version_or_404(model, 7)
    with pytest.raises(InvalidInput):
        services.get_version_or_404(model, "seven")


def test_a_version_is_marked_non_finite_once_and_keeps_the_first_position():
    version = factories.ModelVersionFactory()
    assert services.model_version_mark_non_finite(version_id=version.pk, seq=7) is True
    assert services.model_version_mark_non_finite(version_id=version.pk, seq=9) is False
    version.refresh_from_db()
    assert version.non_finite_seq == 7
    assert version.non_finite_at is not None
