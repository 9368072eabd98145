"""Forms of the pipeline pages: the stages typed one per line (``scorer as anomaly_score``, then ``classifier``),
and the features a pipeline scores (JSON)."""

from django import forms

from catalogue import jsontext
from dashboard.forms import NAME_HELP

STAGES_HELP = (
    "One stage per line, in order: a model's name, and for every stage but the last 'as' and the feature name "
    "the later stages see its output under, e.g. 'scorer as anomaly_score', then 'classifier'."
)


def parse_stages(text: str) -> list[dict]:
    """``scorer as score`` / ``classifier`` lines -> [{"model": "scorer", "as": "score"}, {"model": "classifier"}]."""
    stages = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) == 1:
            stages.append({"model": words[0]})
        elif len(words) == 3 and words[1] == "as":
            stages.append({"model": words[0], "as": words[2]})
        else:
            raise forms.ValidationError(f"line {number} ({line.strip()!r}) is not 'model' or 'model as name'")
    if not stages:
        raise forms.ValidationError("name at least one stage")
    return stages


def format_stages(stages: list[dict]) -> str:
    return "\n".join(f"{s['model']} as {s['as']}" if s.get("as") else s["model"] for s in stages)


class StagesField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def __init__(self, **kwargs):
        super().__init__(help_text=STAGES_HELP, **kwargs)

    def to_python(self, value):
        return parse_stages(super().to_python(value) or "")


class PipelineCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=NAME_HELP)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    stages = StagesField()


class PipelineVersionForm(forms.Form):
    stages = StagesField()
    message = forms.CharField(required=False, max_length=500, help_text="What changed, as in a commit message.")


class PipelineScoreForm(forms.Form):
    features = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": '{"amount": 0.3, "hour": 0.8}'}),
        help_text="The request's features, as a JSON object.",
        label="Features (JSON)",
    )
    id = forms.CharField(
        required=False,
        max_length=150,
        label="Prediction id",
        help_text="Optional: learn its ground truth later with POST /api/v1/pipelines/<name>/learn.",
    )

    def clean_features(self) -> dict:
        try:
            value = jsontext.loads(self.cleaned_data["features"])
        except ValueError as exc:
            raise forms.ValidationError(f"this is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('give a JSON object of features, like {"amount": 0.3}')
        return value

    def clean_id(self) -> str | None:
        return self.cleaned_data["id"].strip() or None
