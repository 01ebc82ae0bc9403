"""Plain forms of the key detail page and the key actions (kms-spec.md 8.3 and 8.4).

They check only what the page can check alone (a number in range, a box ticked, a name typed);
everything AWS validates (alias names, tag rules, policy documents, grant principals) is the
service's to decide, so the console and the API refuse the same things with the same words.
"""

from django import forms

MIN_WAITING_DAYS = 7
MAX_WAITING_DAYS = 30
DEFAULT_WAITING_DAYS = 30
WAITING_DAYS_MESSAGE = (f"The waiting period must be a whole number of days from "
                        f"{MIN_WAITING_DAYS} to {MAX_WAITING_DAYS}.")


class ScheduleDeletionForm(forms.Form):
    pending_window_days = forms.IntegerField(
        label="Waiting period (in days)", min_value=MIN_WAITING_DAYS, max_value=MAX_WAITING_DAYS,
        initial=DEFAULT_WAITING_DAYS,
        help_text=f"Enter a waiting period between {MIN_WAITING_DAYS} and {MAX_WAITING_DAYS} "
                  f"days.",
        error_messages={"required": WAITING_DAYS_MESSAGE, "invalid": WAITING_DAYS_MESSAGE,
                        "min_value": WAITING_DAYS_MESSAGE, "max_value": WAITING_DAYS_MESSAGE})
    confirm = forms.BooleanField(
        required=True,
        error_messages={"required": "Confirm that you want to schedule key deletion."})
    # The number the ticked sentence named. Without JavaScript the sentence cannot follow the
    # input, so a tick that confirmed another number than the one entered is asked again.
    confirmed_days = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        days, confirmed = cleaned.get("pending_window_days"), cleaned.get("confirmed_days")
        if cleaned.get("confirm") and days is not None and confirmed not in (None, days):
            self.add_error("confirm", f"You confirmed deletion in {confirmed} days, but the "
                                      f"waiting period is {days} days. Confirm again.")
        return cleaned

    def days_shown(self) -> int:
        """The number of days the confirmation sentence names: what was typed if it is valid,
        else the default (a page without JavaScript cannot follow the input as it changes)."""
        value = self.data.get("pending_window_days") if self.is_bound else None
        try:
            days = int(value)
        except (TypeError, ValueError):
            return DEFAULT_WAITING_DAYS
        return days if MIN_WAITING_DAYS <= days <= MAX_WAITING_DAYS else DEFAULT_WAITING_DAYS


class AliasForm(forms.Form):
    """The Aliases tab's Create alias: the name without "alias/", as the console asks for it."""

    alias_name = forms.CharField(label="Alias name", max_length=250, strip=True,
                                 error_messages={"required": "Enter an alias name."})

    def full_name(self) -> str:
        name = self.cleaned_data["alias_name"]
        return name if name.startswith("alias/") else f"alias/{name}"


class GrantForm(forms.Form):
    """Create grant: grantee, operations (those the key type allows), optional constraint."""

    CONSTRAINT_TYPES = [("", "None"), ("EncryptionContextEquals", "Encryption context equals"),
                        ("EncryptionContextSubset", "Encryption context subset")]

    name = forms.CharField(label="Grant name", required=False, max_length=256)
    grantee_principal = forms.CharField(
        label="Grantee principal", max_length=256,
        error_messages={"required": "Enter the ARN of the grantee principal."})
    operations = forms.MultipleChoiceField(
        label="Operations", widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one operation."})
    constraint_type = forms.ChoiceField(label="Encryption context constraint", required=False,
                                        choices=CONSTRAINT_TYPES)
    constraint_pairs = forms.CharField(
        label="Encryption context", required=False, widget=forms.Textarea, max_length=4096,
        help_text="One key=value pair a line.")

    def __init__(self, *args, operations: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operations"].choices = [(name, name) for name in operations]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("constraint_type")
        pairs = {}
        for number, line in enumerate((cleaned.get("constraint_pairs") or "").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                self.add_error("constraint_pairs", f"Line {number} is not a key=value pair.")
                return cleaned
            pairs[name.strip()] = value.strip()
        if kind and not pairs:
            self.add_error("constraint_pairs", "Enter at least one key=value pair.")
        elif pairs and not kind:
            self.add_error("constraint_type", "Choose the kind of constraint.")
        cleaned["constraints"] = {kind: pairs} if kind and pairs else None
        return cleaned


MAX_TAG_ROWS = 60  # 50 tags per key plus room to add; more rows are not read


def tag_rows(data) -> list[dict]:
    """The rows of the Manage tags form: [{"original", "key", "value", "remove"}], in order.

    Each row says which tag it started as (`original`, hidden) so a changed key is a rename
    (untag the old, tag the new) and a ticked "Remove" drops it.
    """
    rows = []
    for index in range(MAX_TAG_ROWS):
        if f"tag_key_{index}" not in data and f"original_{index}" not in data:
            continue
        rows.append({
            "original": data.get(f"original_{index}", ""),
            "key": data.get(f"tag_key_{index}", "").strip(),
            "value": data.get(f"tag_value_{index}", ""),
            "remove": data.get(f"remove_{index}") == "on",
        })
    return rows


def tag_changes(rows: list[dict]) -> tuple[list[tuple[str, str]], list[str]]:
    """(tags to set, tag keys to remove) that turn the original tags into the rows."""
    to_set, to_remove = [], []
    kept = {row["key"] for row in rows if not row["remove"] and row["key"]}
    for row in rows:
        if row["original"] and (row["remove"] or row["key"] != row["original"]) \
                and row["original"] not in kept:
            to_remove.append(row["original"])
        if not row["remove"] and row["key"]:
            to_set.append((row["key"], row["value"]))
    return to_set, to_remove
