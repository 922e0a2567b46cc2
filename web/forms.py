"""The forms of the setup wizard (plan, accounting credentials) and of the dashboard."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, Tenant, User
from accounts.roles import INVITABLE_ROLES
from accounts.selectors import team_members
from connectors import documents
from connectors.providers import CredentialField, Provider
from connectors.registry import sold_plan_choices
from connectors.shapes import Capabilities, DocumentKind
from sync.messages import percent
from sync.models import DocumentRule, TransferSettings
from sync.services import context

if TYPE_CHECKING:
    from web.documents_views import Pipeline

# -- setup wizard -----------------------------------------------------------------------------


class PlanForm(forms.Form):
    """Step 4: one plan per accounting system, and one for ZEP (time tracking)."""

    plan = forms.ChoiceField(
        label=_("System"),
        choices=sold_plan_choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose a system.")},
    )


# Keys travel in HTTP headers, where a line break makes the request fail with the key in the
# traceback; none of the vendors' keys or logins contains whitespace or control characters.
# Spaces around a pasted key are stripped; inside it they are refused before any call.
_one_word = RegexValidator(
    r"^[^\s\x00-\x1f\x7f]*$",
    message=_(
        "The key contains a line break, space or other invisible character. Please copy it "
        "again without them."
    ),
    code="whitespace",
)


def _credential_field(declared: CredentialField) -> forms.CharField:
    if not declared.secret:
        return forms.CharField(
            label=declared.label,
            help_text=declared.help_text,
            max_length=200,
            strip=True,
            validators=[_one_word],
        )
    # Never rendered back into the page, not even after a refused attempt.
    return forms.CharField(
        label=declared.label,
        help_text=declared.help_text,
        max_length=500,
        strip=True,
        validators=[_one_word],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


def token_form(declared: Provider) -> type[forms.Form]:
    """The form where a customer pastes the system's API key, built from its declaration."""
    scheme = declared.api_key
    fields = {f.name: _credential_field(f) for f in scheme.fields} if scheme else {}
    return type(f"{declared.key.title()}TokenForm", (forms.Form,), fields)


# -- dashboard --------------------------------------------------------------------------------


class TransferSettingsForm(forms.ModelForm[TransferSettings]):
    # HubSpot's connector offers no public list of pipelines with their labels, so the won
    # stages are entered as the stage ids HubSpot shows in the pipeline settings.
    won_stages = forms.CharField(
        label=_("Won stages"),
        required=False,
        max_length=1000,
        help_text=_(
            "Stage ids separated by commas, e.g. closedwon. Empty: every stage with a deal "
            "probability of 100 %."
        ),
    )

    class Meta:
        model = TransferSettings
        fields = [
            "placeholder_name",
            "placeholder_street",
            "placeholder_city",
            "default_tax_rate",
            "fallback_currency",
            "validity_days",
            "contact_transfer_enabled",
            "exclusion_property",
            "hold_placeholder_data",
            "document_language",
            "document_texts",  # from the per-language fields below (clean)
            "paid_stage_id",
        ]
        labels = {
            "placeholder_name": _("Placeholder company"),
            "placeholder_street": _("Placeholder street"),
            "placeholder_city": _("Placeholder city"),
            "default_tax_rate": _("Default tax rate"),
            "fallback_currency": _("Currency for deals without one"),
            "validity_days": _("Quote valid for (days)"),
            "contact_transfer_enabled": _("Transfer contacts and companies"),
            "exclusion_property": _("Exclusion property"),
            "hold_placeholder_data": _("Hold customers with incomplete data"),
            "document_language": _("Language of quotes"),
        }
        help_texts = {
            "placeholder_name": _("Used when a deal's company data are incomplete."),
            "hold_placeholder_data": _(
                "Instead of placeholder values, such a transfer waits as “needs data” until "
                "the name and address are completed in HubSpot, or until you retry it."
            ),
            "document_language": _(
                "By the customer's country: German for Germany, Austria and German-speaking "
                "Switzerland, French for France, Belgium, Luxembourg and French-speaking "
                "Switzerland, English elsewhere."
            ),
            "exclusion_property": _(
                "Internal name of the HubSpot checkbox that keeps a record out of accounting."
            ),
        }

    # The introduction and the remark of quotes per language: (key, field label, help).
    DOCUMENT_TEXTS = (
        (
            "introduction",
            _("Introduction of quotes (%(language)s)"),
            _("Above the positions. Empty: only the reference to the HubSpot deal."),
        ),
        (
            "remark",
            _("Closing remark of quotes (%(language)s)"),
            _("Below the positions, e.g. payment terms. Empty: your accounting system's default."),
        ),
    )

    def __init__(self, *args: Any, pipelines: list[Pipeline] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Stored as one JSON value, edited as a text field per language and kind of text
        # (clean); the model's own field stays, hidden, for the model form to write it.
        self.fields["document_texts"].widget = forms.HiddenInput()
        self.fields["document_texts"].required = False
        stored = (
            self.instance.document_texts if isinstance(self.instance.document_texts, dict) else {}
        )
        languages = dict(TransferSettings.DocumentLanguage.choices)
        for language in documents.LANGUAGES:
            for key, label, help_text in self.DOCUMENT_TEXTS:
                own = stored.get(language)
                self.fields[f"{key}_{language}"] = forms.CharField(
                    label=label % {"language": languages[language]},
                    help_text=help_text,
                    required=False,
                    max_length=2000,
                    widget=forms.Textarea(attrs={"rows": 2}),
                    initial=own.get(key, "") if isinstance(own, dict) else "",
                )
        if self.instance.won_stage_ids:
            self.fields["won_stages"].initial = ", ".join(self.instance.won_stage_ids or [])
        self._offer_account_terms(self.instance.tenant)
        self._offer_paid_stages(pipelines)
        self.fields["validity_days"].validators.append(MinValueValidator(1))
        self.fields["validity_days"].validators.append(MaxValueValidator(365))

    def _offer_account_terms(self, tenant: Tenant) -> None:
        """Only what the connected accounting system allows: its tax rates (read from its
        API where it offers them) and its currencies."""
        rates, standard = context.offered_tax_rates(tenant=tenant)
        self.fields["default_tax_rate"] = forms.TypedChoiceField(
            label=self.fields["default_tax_rate"].label,
            choices=[
                ("", _("Standard rate (%(rate)s %%)") % {"rate": percent(standard)}),
                *((percent(rate), f"{percent(rate)} %") for rate in sorted(rates)),
            ],
            coerce=Decimal,
            empty_value=None,
            required=False,
            help_text=_(
                "For line items without a tax rate of their own. Only the rates your "
                "accounting system allows are offered."
            ),
        )
        if self.instance.default_tax_rate is not None:
            self.initial["default_tax_rate"] = percent(self.instance.default_tax_rate)
        currencies, company = context.offered_currencies(tenant=tenant)
        automatic = (
            _("Company currency of your HubSpot account (%(currency)s)") % {"currency": company}
            if company
            else _("Company currency of your HubSpot account")
        )
        self.fields["fallback_currency"] = forms.ChoiceField(
            label=self.fields["fallback_currency"].label,
            choices=[("", automatic), *((code, code) for code in currencies)],
            required=False,
            help_text=_("Used when a deal in HubSpot has no currency of its own."),
        )

    def _offer_paid_stages(self, pipelines: list[Pipeline] | None) -> None:
        """The portal's stages, with their ids; the stored one stays choosable when HubSpot
        no longer names it or cannot be asked now."""
        stored = self.instance.paid_stage_id
        offered = stage_choices(pipelines)
        if stored and not any(stored in dict(group) for _label, group in offered):
            offered.append((str(_("Other")), [(stored, stored)]))
        self.fields["paid_stage_id"] = forms.ChoiceField(
            label=_("Stage of deals whose invoice is paid"),
            choices=[("", _("Stays in its stage")), *offered],
            required=False,
            help_text=_(
                "When a deal's invoice is paid in full, the deal moves to this stage (only "
                "within its own pipeline)."
            ),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        texts: dict[str, dict[str, str]] = {}
        for language in documents.LANGUAGES:
            for key, _label, _help in self.DOCUMENT_TEXTS:
                value = str(cleaned.get(f"{key}_{language}") or "").strip()
                if value:
                    texts.setdefault(language, {})[key] = value
        cleaned["document_texts"] = texts
        return cleaned

    def clean_won_stages(self) -> list[str]:
        text = self.cleaned_data.get("won_stages") or ""
        return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def stage_choices(pipelines: list[Pipeline] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The portal's stages grouped by pipeline, each with its id as HubSpot shows it."""
    return [
        (
            pipeline.label,
            [(stage_id, f"{label} ({stage_id})") for stage_id, label in pipeline.stages],
        )
        for pipeline in pipelines or []
    ]


_STAGE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class DocumentRuleForm(forms.Form):
    """One rule "a deal entering this stage makes this document", offering only what the
    connected accounting system can create."""

    stage = forms.ChoiceField(label=_("Deal stage"))
    pipeline = forms.ChoiceField(label=_("Pipeline"), required=False)
    document = forms.ChoiceField(label=_("Document"), choices=DocumentRule.Document.choices)
    finalize = forms.BooleanField(
        label=_("Create invoices finalized (numbered and open) instead of as drafts"),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        pipelines: list[Pipeline] | None,
        system_label: str,
        capabilities: Capabilities | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pipelines = pipelines
        self.system_label = system_label
        self.capabilities = capabilities or Capabilities()
        self.connected = capabilities is not None
        won = (DocumentRule.WON_STAGES, _("Any won stage"))
        if pipelines is None:
            # HubSpot cannot be asked now: the ids as HubSpot shows them in its settings.
            self.fields["stage"] = forms.RegexField(
                label=_("Deal stage id"),
                regex=_STAGE_ID,
                help_text=_(
                    "HubSpot's pipelines could not be read just now: a stage id, or “won”."
                ),
            )
            self.fields["pipeline"] = forms.RegexField(
                label=_("Pipeline id"), regex=_STAGE_ID, required=False
            )
        else:
            self.fields["stage"].choices = [won, *stage_choices(pipelines)]  # type: ignore[attr-defined]
            self.fields["pipeline"].choices = [  # type: ignore[attr-defined]
                ("", _("Any pipeline")),
                *((p.pipeline_id, f"{p.label} ({p.pipeline_id})") for p in pipelines),
            ]
        # Every kind is accepted by the field, so that one the system lacks is refused in
        # words (clean); only those it can create are offered.
        offered = [
            (kind, capfirst(label))
            for kind, label in DocumentRule.Document.choices
            if kind in self.offered
        ]
        self.fields["document"].widget.choices = offered
        if not self.capabilities.can_finalize_invoices:
            del self.fields["finalize"]

    @property
    def offered(self) -> frozenset[DocumentKind]:
        return self.capabilities.documents if self.connected else frozenset()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.connected:
            raise forms.ValidationError(
                _("Please connect your accounting system first."), code="no_system"
            )
        document = cleaned.get("document")
        if document and DocumentKind(document) not in self.offered:
            self.add_error(
                "document",
                forms.ValidationError(
                    _(
                        "%(system)s cannot create this document (%(document)s), so the rule "
                        "cannot be served."
                    ),
                    code="not_offered",
                    params={
                        "system": self.system_label,
                        "document": DocumentRule.Document(document).label,
                    },
                ),
            )
        if cleaned.get("finalize") and document != DocumentRule.Document.INVOICE:
            self.add_error("finalize", _("Only invoices can be created finalized."))
        self._check_stage_in_pipeline(cleaned)
        return cleaned

    def _check_stage_in_pipeline(self, cleaned: dict[str, Any]) -> None:
        stage, pipeline_id = cleaned.get("stage"), cleaned.get("pipeline")
        if not stage or not pipeline_id or stage == DocumentRule.WON_STAGES:
            return
        for pipeline in self.pipelines or []:
            if pipeline.pipeline_id == pipeline_id and stage not in dict(pipeline.stages):
                self.add_error("stage", _("This stage is not in the chosen pipeline."))


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address of your colleague"))
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(role.value, role.label) for role in INVITABLE_ROLES],
        initial=Role.MEMBER,
    )


class _MemberForm(forms.Form):
    """Names one member of the signed-in person's company; anyone else is no valid choice."""

    member = forms.ModelChoiceField(queryset=User.objects.none())

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = team_members(tenant=tenant)  # type: ignore[attr-defined]


class MemberRoleForm(_MemberForm):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class MemberRemoveForm(_MemberForm):
    pass


class CloseAccountForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand that my account, all connections and the activity log are deleted."),
        required=True,
        error_messages={"required": _("Please confirm that you want to close your account.")},
    )


class ZepSettingsForm(forms.Form):
    """Which deals become ZEP projects and which company property keeps a customer out
    (reference 002): stored as TransferSettings.project_stage_ids, "" / "all" / stage ids."""

    NONE, ALL, CHOSEN = "none", "all", "chosen"

    projects = forms.ChoiceField(
        label=_("Deals that become ZEP projects"),
        choices=[
            (NONE, _("None")),
            (ALL, _("Every deal")),
            (CHOSEN, _("Deals in the stages chosen below")),
        ],
        widget=forms.RadioSelect,
    )
    stages = forms.MultipleChoiceField(
        label=_("Deal stages"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "A deal in one of these stages becomes a project and stays synchronised while it "
            "is in them; a deal that leaves them keeps its project."
        ),
    )
    exclusion_property = forms.CharField(
        label=_("Exclusion property"),
        max_length=100,
        strip=True,
        validators=[_one_word],
        help_text=_(
            "Internal name of the HubSpot company property that keeps a company out of ZEP "
            "when it says “no” or “nein” (in any case)."
        ),
    )

    def __init__(
        self, *args: Any, stages: list[Any] | None, stored: TransferSettings, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        setting = stored.project_stage_ids.strip()
        chosen = [part.strip() for part in setting.replace(";", ",").split(",") if part.strip()]
        if setting.casefold() == self.ALL:
            self.initial.update(projects=self.ALL, stages=[])
        else:
            self.initial.update(projects=self.CHOSEN if chosen else self.NONE, stages=chosen)
        self.initial["exclusion_property"] = stored.project_exclusion_property or "ZEP"
        offered = [
            (stage.stage_id, f"{stage.pipeline}: {stage.label} ({stage.stage_id})")
            for stage in stages or []
        ]
        known = {value for value, _label in offered}
        # A stored stage HubSpot no longer names (or cannot be asked about) stays choosable.
        offered += [(stage_id, stage_id) for stage_id in chosen if stage_id not in known]
        self.fields["stages"].choices = offered  # type: ignore[attr-defined]
        if stages is None:
            self.fields["other_stages"] = forms.CharField(
                label=_("Other stage ids"),
                required=False,
                max_length=1000,
                help_text=_(
                    "HubSpot's pipelines could not be read just now: stage ids separated by "
                    "commas, as HubSpot shows them in the pipeline settings."
                ),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        typed = str(cleaned.get("other_stages") or "")
        ids = list(
            dict.fromkeys([*(cleaned.get("stages") or []), *(p.strip() for p in typed.split(","))])
        )
        ids = [stage_id for stage_id in ids if stage_id]
        if cleaned.get("projects") == self.CHOSEN and not ids:
            self.add_error("stages", _("Please choose at least one stage."))
        max_length = TransferSettings._meta.get_field("project_stage_ids").max_length or 0
        if len(",".join(ids)) > max_length:
            self.add_error("stages", _("Please choose fewer stages."))
        cleaned["stage_ids"] = ids
        return cleaned

    def project_stage_ids(self) -> str:
        """The setting as stored: "" for none, "all", or the stage ids separated by commas."""
        choice = self.cleaned_data["projects"]
        if choice == self.ALL:
            return "all"
        if choice == self.NONE:
            return ""
        return ",".join(self.cleaned_data["stage_ids"])
