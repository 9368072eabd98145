"""Forms of the Datasets page: upload a file, or build a dataset from a model's learn log.

Type checks only (the file's size before it is read); ``catalogue.datasets.services`` and ``serving.datasets``
decide what is allowed.
"""

from django import forms

from catalogue.datasets.services import max_bytes
from catalogue.models import Dataset
from dashboard.forms import NAME_HELP


class DatasetUploadForm(forms.Form):
    file = forms.FileField(label="File", help_text="CSV (the first row names the columns) or JSON Lines, UTF-8.")
    name = forms.CharField(max_length=100, help_text=NAME_HELP)
    target = forms.CharField(max_length=200, help_text="The column holding the ground truth.")
    format = forms.ChoiceField(
        choices=[("", "from the file name"), *Dataset.Format.choices], required=False, label="Format"
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > max_bytes():  # refuse before reading it into memory
            raise forms.ValidationError(
                f"the file is {upload.size} bytes; a dataset holds at most {max_bytes()} (RHYTHMIC_MAX_DATASET_BYTES)"
            )
        return upload


class DatasetFromLogForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=NAME_HELP)
    model = forms.CharField(max_length=100, label="Model", help_text="The model whose learn log is read.")
    from_seq = forms.IntegerField(required=False, min_value=1, label="From entry", help_text="Default: 1.")
    to_seq = forms.IntegerField(required=False, min_value=1, label="To entry", help_text="Default: the log's end.")
