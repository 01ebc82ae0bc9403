"""The event history's filter bar: a plain GET form whose cleaned data becomes an EventFilter.

Time range: CloudTrail's event history applies no time range until one is chosen (it shows the
whole history it keeps, newest first), so the default here is "Any time" too; the presets are
the console's relative ranges, and "Custom range" takes a start, an end or both (UTC, as every
time in this console). Everything else is matched exactly, except the free text (anywhere in
the record, ignoring case). A value that cannot be used is a message on the page, never a 500.
"""

import datetime

from django import forms
from django.utils import timezone

from .selectors import EventFilter

ANY_TIME = ""
CUSTOM = "custom"
TIME_RANGES = [
    (ANY_TIME, "Any time"),
    ("1h", "Last 1 hour"),
    ("3h", "Last 3 hours"),
    ("12h", "Last 12 hours"),
    ("1d", "Last day"),
    ("1w", "Last week"),
    ("30d", "Last 30 days"),
    (CUSTOM, "Custom range"),
]
RANGE_LENGTHS = {
    "1h": datetime.timedelta(hours=1),
    "3h": datetime.timedelta(hours=3),
    "12h": datetime.timedelta(hours=12),
    "1d": datetime.timedelta(days=1),
    "1w": datetime.timedelta(weeks=1),
    "30d": datetime.timedelta(days=30),
}
# datetime-local inputs send "2026-11-29T05:07" (seconds when the browser shows them); ISO 8601
# with a zone (a shared link, a script) is accepted too.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%d %H:%M", "%Y-%m-%d"]
MIN_TEXT_LENGTH = 3  # shorter terms cannot use the trigram index and would read every event

# The event names this server records, offered as suggestions (any name is accepted).
KMS_EVENT_NAMES = [
    "CancelKeyDeletion", "CreateAlias", "CreateGrant", "CreateKey", "Decrypt", "DeleteAlias",
    "DeleteExpiredKeyMaterial", "DeleteImportedKeyMaterial", "DeleteKey",
    "DescribeCustomKeyStores", "DescribeKey", "DisableKey", "DisableKeyRotation", "EnableKey",
    "EnableKeyRotation", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "GenerateRandom", "GetKeyLastUsage", "GetKeyPolicy", "GetKeyRotationStatus",
    "GetParametersForImport", "GetPublicKey", "ImportKeyMaterial", "ListAliases", "ListGrants",
    "ListKeyPolicies", "ListKeyRotations", "ListKeys", "ListResourceTags",
    "ListRetirableGrants", "PutKeyPolicy", "ReEncrypt", "ResetAccount", "RetireGrant",
    "RevokeGrant", "RotateKey", "RotateKeyOnDemand", "RotateRootKey", "ScheduleKeyDeletion",
    "Sign",
    "TagResource", "UntagResource", "UpdateAlias", "UpdateKeyDescription", "Verify", "VerifyMac",
]
IAM_EVENT_NAMES = [
    "AttachRolePolicy", "AttachUserPolicy", "CreateAccessKey", "CreateAccount",
    "CreateLoginProfile", "CreatePolicy", "CreatePolicyVersion", "CreateRole", "CreateUser",
    "DeletePolicy", "DeletePolicyVersion", "DeleteRole", "DeleteRolePolicy", "DeleteUserPolicy",
    "DetachRolePolicy", "DetachUserPolicy", "PutRolePolicy", "PutUserPolicy",
    "SetDefaultPolicyVersion", "UpdateAssumeRolePolicy", "UpdateLoginProfile",
]
OTHER_EVENT_NAMES = ["AssumeRole", "ConsoleLogin", "GetCallerIdentity", "LookupEvents"]
EVENT_NAMES = sorted(KMS_EVENT_NAMES + IAM_EVENT_NAMES + OTHER_EVENT_NAMES)


class EventFilterForm(forms.Form):
    """The filter bar's GET parameters. `next` is the next page's token (checked by the
    service: a token is signed). Without `with_key`, the form has no key filter (the key
    detail page's Audit tab is scoped to its key already); without `with_user`, no user filter
    (a user's or a role's Audit tab is scoped to that principal)."""

    range = forms.ChoiceField(choices=TIME_RANGES, required=False, label="Time range")
    start = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS,
                                label="Start (UTC)")
    end = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="End (UTC)")
    event_name = forms.CharField(required=False, max_length=64, label="Event name")
    user = forms.CharField(required=False, max_length=2048, label="User name or principal ARN")
    key = forms.CharField(required=False, max_length=2048, label="Key ID or alias")
    access_key_id = forms.CharField(required=False, max_length=128, label="AWS access key")
    read_only = forms.ChoiceField(choices=[("", "Any"), ("true", "true"), ("false", "false")],
                                  required=False, label="Read-only")
    error_code = forms.CharField(required=False, max_length=128, label="Error code")
    denied_only = forms.BooleanField(required=False, label="Denied requests only")
    source_ip = forms.CharField(required=False, max_length=64, label="Source IP address")
    text = forms.CharField(required=False, max_length=256, label="Search text")
    next = forms.CharField(required=False, max_length=256, label="Next page token")

    def __init__(self, *args, with_key: bool = True, with_user: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_key:
            del self.fields["key"]
        if not with_user:
            del self.fields["user"]

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if text and len(text) < MIN_TEXT_LENGTH:
            raise forms.ValidationError(
                f"Enter at least {MIN_TEXT_LENGTH} characters to search the text of events.")
        return text

    def clean(self):
        data = super().clean()
        chosen = data.get("range", ANY_TIME)
        start, end = data.get("start"), data.get("end")
        if chosen in RANGE_LENGTHS:
            # A preset wins over dates left in the custom fields (a form without JavaScript
            # keeps them visible); they are cleared when the page is shown again.
            data["start"] = data["end"] = None
        elif chosen == CUSTOM and start is None and end is None and not self._has_date_errors():
            raise forms.ValidationError("Enter a start, an end or both for a custom range.")
        elif start is not None and end is not None and start > end:
            raise forms.ValidationError("The start of the time range must be before its end.")
        return data

    def _has_date_errors(self) -> bool:
        return "start" in self.errors or "end" in self.errors

    @property
    def custom_range(self) -> bool:
        """Whether the custom fields are in use (to show them filled in)."""
        return self.is_bound and self.data.get("range", ANY_TIME) not in RANGE_LENGTHS

    def event_filter(self, *, now: datetime.datetime | None = None) -> EventFilter:
        """The filter of a valid form; a preset range ends now (`now`, for tests)."""
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        length = RANGE_LENGTHS.get(data.get("range", ANY_TIME))
        if length is not None:
            start, end = (now or timezone.now()) - length, None
        read_only = {"true": True, "false": False}.get(data.get("read_only", ""))
        return EventFilter(
            start=start, end=end, event_name=data.get("event_name", ""),
            user=data.get("user", ""), key=data.get("key", ""),
            access_key_id=data.get("access_key_id", ""), read_only=read_only,
            error_code=data.get("error_code", ""), denied_only=bool(data.get("denied_only")),
            source_ip=data.get("source_ip", ""), text=data.get("text", ""))
