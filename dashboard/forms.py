"""Forms of the pages: they parse what a person typed into the arguments of one catalogue service.

Type checks and parsing only (JSON, ``key: value`` lines, file size); the services decide what is allowed.
"""

from django import forms
from django.conf import settings

from catalogue import jsontext, selectors
from catalogue.flavors import FLAVOR_CHOICES
from catalogue.models import ModelVersion

NAME_HELP = "1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit."


def parse_metadata(text: str) -> dict[str, str]:
    """``team: fraud`` lines -> {"team": "fraud"}; blank lines are skipped; a line without ':' is an error."""
    metadata: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise forms.ValidationError(f"line {number} ({line.strip()!r}) is not in the form 'key: value'")
        metadata[key.strip()] = value.strip()
    return metadata


def format_metadata(metadata: dict) -> str:
    return "\n".join(f"{key}: {value}" for key, value in (metadata or {}).items())


def location_choices(*, blank: str) -> list[tuple[str, str]]:
    choices = [("", blank)]
    for location in selectors.location_list():
        choices.append((location.name, f"{location.name} (default)" if location.is_default else location.name))
    return choices


class MetadataField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "team: fraud\nowner: alice"})

    def to_python(self, value) -> dict[str, str]:
        return parse_metadata(super().to_python(value) or "")


class ModelCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=NAME_HELP, widget=forms.TextInput(attrs={"autofocus": True}))
    flavor = forms.ChoiceField(choices=FLAVOR_CHOICES)
    location = forms.ChoiceField(required=False, help_text="Where its production instance runs.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    metadata = MetadataField(required=False, help_text="One 'key: value' per line.")
    horizon = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Forecasting models only: the metrics horizon (steps ahead scored), fixed for the model's life. "
        "Empty: 12.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = location_choices(blank="the default location")


class ModelUpdateForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    metadata = MetadataField(required=False, help_text="One 'key: value' per line.")
    location = forms.ChoiceField(required=False, help_text="Where its production instance runs.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = location_choices(blank="none")


FORMAT_CHOICES = [("", "guess from the file")] + [(fmt, fmt) for fmt in ModelVersion.Format.values]


class VersionUploadForm(forms.Form):
    file = forms.FileField(
        label="Artifact",
        help_text="The serialized model: dill or pickle of a river model, joblib or pickle of scikit-learn, ONNX.",
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    message = forms.CharField(
        max_length=500, required=False, help_text="What changed, like a commit message.", label="Message"
    )
    requirements = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "river==0.22.0"}),
        help_text="The packages it needs, one per line as in requirements.txt.",
    )
    input_example = forms.CharField(
        required=False,
        label="Input example (JSON)",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"x": 1.5, "city": "Paris"}'}),
        help_text="The features of one request; validation predicts on it.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.RHYTHMIC_MAX_ARTIFACT_BYTES
        if upload.size > limit:  # refuse before reading it into memory
            raise forms.ValidationError(
                f"the file is {upload.size} bytes; the limit is {limit} (RHYTHMIC_MAX_ARTIFACT_BYTES)"
            )
        return upload

    def clean_format(self) -> str | None:
        return self.cleaned_data["format"] or None

    def clean_input_example(self):
        text = self.cleaned_data["input_example"].strip()
        if not text:
            return None
        try:
            value = jsontext.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"this is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('give a JSON object of features, like {"x": 1.5}')
        return value


class NoteForm(forms.Form):
    note = forms.CharField(
        max_length=500, required=False, help_text="Why: it is kept in the deployment history.", label="Note"
    )


class DeployForm(NoteForm):
    """A version's deploy: where to (the model's location by default; another one moves the model) and how long
    to wait for every serving process there to pre-load it."""

    location = forms.ChoiceField(
        required=False, help_text="Another location than the model's moves the model there.", label="Location"
    )
    timeout_s = forms.FloatField(
        required=False,
        label="Timeout (seconds)",
        help_text="How long to wait for every serving process to pre-load it (empty: the server's default).",
    )
    field_order = ["location", "timeout_s", "note"]

    def __init__(self, *args, locations: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = [("", "no location"), *((name, name) for name in locations)]


class LocationCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=NAME_HELP)
    description = forms.CharField(required=False, max_length=500)
    is_default = forms.BooleanField(required=False, label="Make it the default location")


class CompareForm(forms.Form):
    a = forms.TypedChoiceField(coerce=int, label="Compare")
    b = forms.TypedChoiceField(coerce=int, label="with")

    def __init__(self, *args, numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(n, f"v{n}") for n in numbers]
        self.fields["a"].choices = self.fields["b"].choices = choices
