"""Forms of the Roles, Policies and Switch role pages (captions as in AWS's IAM console).

They check what the page can say at once (a name's characters, an account id, a number of
hours); the services check everything again, and decide what a form cannot (a name already
taken, a malformed or too large policy, a principal that does not exist).
"""

import re

from django import forms
from django.core.validators import RegexValidator

from .models import IAM_NAME_VALIDATOR, POLICY_NAME_VALIDATOR
from .roles import MAX_DESCRIPTION_LENGTH

# IAM's pattern for role and policy descriptions: tab, new lines and printable Latin-1.
DESCRIPTION_VALIDATOR = RegexValidator(
    r"^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*$",
    "Use letters, digits, spaces and printable punctuation (Latin-1) only.")
ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}$", "Enter a 12-digit AWS account ID.")
# The Switch role form takes an account id or alias, and a role name with its path if any.
ACCOUNT_OR_ALIAS_VALIDATOR = RegexValidator(
    r"^(\d{12}|[A-Za-z0-9][A-Za-z0-9-]{0,62})$",
    "Enter a 12-digit account ID or an account alias.")
ROLE_NAME_WITH_PATH_VALIDATOR = RegexValidator(
    r"^([\x21-\x7e]*/)?[\w+=,.@-]{1,64}$",
    "Enter a role name (1-64 letters, digits and + = , . @ _ -), with its path if it has one.")
HOURS = range(1, 13)
ENTITY_AWS_ACCOUNT = "aws_account"
ENTITY_CUSTOM = "custom"
THIS_ACCOUNT = "this"
ANOTHER_ACCOUNT = "another"


def duration_label(seconds: int) -> str:
    """A maximum session duration as the IAM console words it: "1 hour", "12 hours"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} seconds"


def duration_choices(current: int | None = None) -> list[tuple[str, str]]:
    """Maximum session duration: 1 to 12 hours (in seconds, as UpdateRole takes it), and the
    role's current value when it is not a whole number of hours (set through the API)."""
    choices = [(str(hours * 3600), duration_label(hours * 3600)) for hours in HOURS]
    if current is not None and str(current) not in dict(choices):
        choices.append((str(current), f"Custom duration ({current} seconds)"))
    return choices


def _description_field() -> forms.CharField:
    return forms.CharField(label="Description", required=False, strip=False,
                           max_length=MAX_DESCRIPTION_LENGTH,
                           validators=[DESCRIPTION_VALIDATOR], widget=forms.Textarea)


class RoleCreateForm(forms.Form):
    """Create role: trusted entity, permissions, name and details (one page, the steps of
    AWS's wizard as sections)."""

    trusted_entity_type = forms.ChoiceField(
        label="Trusted entity type", initial=ENTITY_AWS_ACCOUNT,
        choices=[(ENTITY_AWS_ACCOUNT, "AWS account"), (ENTITY_CUSTOM, "Custom trust policy")])
    account_choice = forms.ChoiceField(
        label="An AWS account", initial=THIS_ACCOUNT, required=False,
        choices=[(THIS_ACCOUNT, "This account"), (ANOTHER_ACCOUNT, "Another AWS account")])
    account_id = forms.CharField(label="Account ID", required=False, strip=True,
                                 max_length=12, validators=[ACCOUNT_ID_VALIDATOR])
    trust_policy = forms.CharField(label="Custom trust policy", required=False, strip=False,
                                   widget=forms.Textarea)
    policies = forms.MultipleChoiceField(label="Permissions policies", required=False)
    name = forms.CharField(label="Role name", max_length=64, strip=True,
                           validators=[IAM_NAME_VALIDATOR])
    description = _description_field()
    max_session_duration = forms.TypedChoiceField(
        label="Maximum session duration", coerce=int, initial="3600",
        choices=duration_choices())

    def __init__(self, *args, policy_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policies"].choices = list(policy_choices)

    def clean(self):
        data = super().clean()
        if data.get("trusted_entity_type") == ENTITY_CUSTOM:
            if not (data.get("trust_policy") or "").strip():
                self.add_error("trust_policy", "Enter a trust policy.")
        elif data.get("account_choice") == ANOTHER_ACCOUNT and not data.get("account_id"):
            if "account_id" not in self.errors:
                self.add_error("account_id", "Enter the 12-digit ID of the other account.")
        return data


class RoleEditForm(forms.Form):
    """The role summary's Edit: description and maximum session duration (UpdateRole)."""

    description = _description_field()
    max_session_duration = forms.TypedChoiceField(label="Maximum session duration",
                                                  coerce=int, choices=duration_choices())

    def __init__(self, *args, current_duration: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["max_session_duration"].choices = duration_choices(current_duration)


class InlinePolicyForm(forms.Form):
    """Create or edit an inline policy of a role: its name and document."""

    policy_name = forms.CharField(label="Policy name", max_length=128, strip=True,
                                  validators=[POLICY_NAME_VALIDATOR])
    policy = forms.CharField(label="Policy editor", strip=False, widget=forms.Textarea)


class PolicyCreateForm(forms.Form):
    """Create policy: the JSON document, then the policy's name and description."""

    name = forms.CharField(label="Policy name", max_length=128, strip=True,
                           validators=[POLICY_NAME_VALIDATOR])
    description = _description_field()
    policy = forms.CharField(label="Policy editor", strip=False, widget=forms.Textarea)


class SwitchRoleForm(forms.Form):
    """Switch role, as AWS's console asks: account, role and an optional display name."""

    account = forms.CharField(label="Account ID or alias", max_length=63, strip=True,
                              validators=[ACCOUNT_OR_ALIAS_VALIDATOR])
    role = forms.CharField(label="IAM role name", max_length=576, strip=True,
                           validators=[ROLE_NAME_WITH_PATH_VALIDATOR])
    display_name = forms.CharField(label="Display name", max_length=64, required=False,
                                   strip=True)

    def clean_display_name(self):
        # Shown in the top bar on every page: one line of printable text.
        value = self.cleaned_data["display_name"]
        if re.search(r"[\x00-\x1f\x7f]", value):
            raise forms.ValidationError("Use printable characters only.")
        return value


def newline_normalised(text: str) -> str:
    """Browsers send textarea lines with CRLF; policies read back as they were typed."""
    return text.replace("\r\n", "\n")
