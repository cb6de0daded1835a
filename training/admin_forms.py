"""Forms of the training admin pages (snapshot creation, retrain, SAM tuning, compare, promote, roll back)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from annotations.models import Cohort, View
from inference.models import EnsembleVersion
from training.configs import CONFIG_DESCRIPTIONS, CONFIG_NAMES
from training.models import DatasetSnapshot


def _id_list(text: str, *, field: str) -> list[int]:
    """``"3, 5 8"`` -> ``[3, 5, 8]``."""
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError as exc:
        raise forms.ValidationError(f"{field}: give image or case ids separated by commas.") from exc


class SnapshotCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    view = forms.ChoiceField(choices=View.choices, initial=View.AP)
    n_folds = forms.IntegerField(min_value=2, max_value=10, initial=4, label="Folds")
    seed = forms.IntegerField(initial=0)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    cohort = forms.ChoiceField(choices=[("", "any"), *Cohort.choices], required=False)
    case_ids = forms.CharField(required=False, label="Case ids", help_text="Optional, separated by commas.")
    created_before = forms.DateTimeField(required=False, help_text="Optional: the approved revisions as of then.")

    def clean_case_ids(self) -> list[int]:
        return _id_list(self.cleaned_data["case_ids"], field="Case ids")

    def clean_cohort(self) -> str | None:
        return self.cleaned_data["cohort"] or None


class RetrainForm(forms.Form):
    config = forms.ChoiceField(choices=[(name, f"{name}: {CONFIG_DESCRIPTIONS[name]}") for name in CONFIG_NAMES],
                               initial="tiny", help_text="The ETA on the run page is extrapolated from the epochs "
                                                         "done so far on the worker that runs it.")
    seed = forms.IntegerField(initial=0)


class SamTuneForm(forms.Form):
    epochs = forms.IntegerField(min_value=1, max_value=100, initial=3,
                                help_text="Tuning starts from the active SAM bone weights. Images without a cached "
                                          "embedding are embedded first (about 5 s each on a CPU).")
    holdout_fold = forms.IntegerField(min_value=0, required=False, label="Held-out fold",
                                      help_text="Evaluated on, not trained on; default: the snapshot's highest fold.")
    seed = forms.IntegerField(initial=0)


class CompareForm(forms.Form):
    dataset_snapshot = forms.ModelChoiceField(queryset=DatasetSnapshot.objects.all(), label="Evaluation snapshot")
    baseline = forms.ModelChoiceField(queryset=EnsembleVersion.objects.all(), required=False,
                                      help_text="Default: the active ensemble of the view.")


class PromoteForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
    repredict = forms.BooleanField(initial=True, required=False, label="Re-predict pending images afterwards")
    repredict_image_ids = forms.CharField(required=False, label="Also re-predict images",
                                          help_text="Optional image ids, separated by commas.")

    def clean_repredict_image_ids(self) -> list[int]:
        return _id_list(self.cleaned_data["repredict_image_ids"], field="Images")


class RollbackForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


def render_form_page(
    request: HttpRequest,
    *,
    admin_context: dict[str, Any],
    title: str,
    form: forms.Form,
    submit_label: str,
    intro: str = "",
    objects: list[Any] | None = None,
    action: str | None = None,
) -> HttpResponse:
    """The admin-styled page of ``form``; with ``action`` it is an admin action's intermediate page."""
    context = {
        **admin_context, "title": title, "form": form, "submit_label": submit_label, "intro": intro,
        "objects": objects or [], "action": action, "selected": [obj.pk for obj in objects or []],
    }
    return TemplateResponse(request, "admin/training/form_page.html", context)
