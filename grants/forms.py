"""The console sign-in forms (AWS's IAM user sign-in page: account, user name, password; then
the MFA code when the user has an MFA device)."""

import re

from django import forms


class SignInForm(forms.Form):
    account = forms.CharField(label="Account ID or alias", max_length=63, strip=True,
                              widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    username = forms.CharField(label="IAM user name", max_length=64, strip=True,
                               widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label="Password", max_length=128, strip=False,
                               widget=forms.PasswordInput(
                                   attrs={"autocomplete": "current-password"}))


class MFACodeForm(forms.Form):
    mfa_code = forms.CharField(
        label="MFA code", max_length=7, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))

    def clean_mfa_code(self):
        # Spaces are dropped: some authenticator apps show the code as "123 456".
        code = self.cleaned_data["mfa_code"].replace(" ", "")
        if not re.fullmatch(r"\d{6}", code):
            raise forms.ValidationError("Enter the 6-digit code from your MFA device.")
        return code


class ChangePasswordForm(forms.Form):
    """Change password (IAM's ChangePassword): the old password, the new one twice. The
    account's password policy is the service's to check (grants.passwords)."""

    old_password = forms.CharField(label="Old password", max_length=128, strip=False,
                                   widget=forms.PasswordInput(
                                       attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(label="New password", max_length=128, strip=False,
                                   widget=forms.PasswordInput(
                                       attrs={"autocomplete": "new-password"}))
    confirm_password = forms.CharField(label="Confirm new password", max_length=128,
                                       strip=False, widget=forms.PasswordInput(
                                           attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if (data.get("new_password") and data.get("confirm_password")
                and data["new_password"] != data["confirm_password"]):
            self.add_error("confirm_password", "The passwords do not match.")
        return data


# --- MFA device (templates/iam/mfa) -----------------------------------------------------------

class MFADeviceNameForm(forms.Form):
    device_name = forms.CharField(label="Device name", max_length=226, strip=True)


def _code_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, max_length=7, strip=True, widget=forms.TextInput(
        attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


class MFAEnableForm(forms.Form):
    code_1 = _code_field("MFA code 1")
    code_2 = _code_field("MFA code 2")

    def _code(self, name: str) -> str:
        code = self.cleaned_data[name].replace(" ", "")
        if not re.fullmatch(r"\d{6}", code):
            raise forms.ValidationError("Enter the 6-digit code from your authenticator app.")
        return code

    def clean_code_1(self):
        return self._code("code_1")

    def clean_code_2(self):
        return self._code("code_2")


# --- account settings (templates/iam/account) --------------------------------------------------

class AccountAliasForm(forms.Form):
    # The service checks IAM's rules and says which one failed.
    alias = forms.CharField(label="Preferred alias", max_length=128, strip=True)


class PasswordPolicyForm(forms.Form):
    """The IAM console's Edit password policy: IAM default, or a custom policy (IAM's ranges
    are checked by the service, which says which field is out of range)."""

    DEFAULT, CUSTOM = "default", "custom"
    policy_type = forms.ChoiceField(
        label="Password policy", widget=forms.RadioSelect,
        choices=[(DEFAULT, "IAM default"), (CUSTOM, "Custom")], initial=DEFAULT)
    minimum_password_length = forms.IntegerField(
        label="Password minimum length", initial=8, required=False,
        help_text="Enforce a minimum length of characters: 6 to 128.")
    require_uppercase_characters = forms.BooleanField(
        label="Require at least one uppercase letter from the Latin alphabet (A-Z)",
        required=False)
    require_lowercase_characters = forms.BooleanField(
        label="Require at least one lowercase letter from the Latin alphabet (a-z)",
        required=False)
    require_numbers = forms.BooleanField(label="Require at least one number", required=False)
    require_symbols = forms.BooleanField(
        label="Require at least one non-alphanumeric character "
              "(! @ # $ % ^ & * ( ) _ + - = [ ] { } | ' or a space)", required=False)
    expire_passwords = forms.BooleanField(label="Turn on password expiration", required=False)
    max_password_age = forms.IntegerField(
        label="Expire passwords in day(s)", required=False,
        help_text="1 to 1095 days.")
    hard_expiry = forms.BooleanField(label="Password expiration requires administrator reset",
                                     required=False)
    allow_users_to_change_password = forms.BooleanField(
        label="Allow users to change their own password", required=False)
    prevent_reuse = forms.BooleanField(label="Prevent password reuse", required=False)
    password_reuse_prevention = forms.IntegerField(
        label="Remember password(s)", required=False, help_text="1 to 24 passwords.")

    def clean(self):
        data = super().clean()
        if data.get("policy_type") != self.CUSTOM:
            return data
        if data.get("minimum_password_length") is None:
            self.add_error("minimum_password_length", "Enter a minimum length from 6 to 128.")
        if data.get("expire_passwords") and data.get("max_password_age") is None:
            self.add_error("max_password_age", "Enter the number of days, from 1 to 1095.")
        if data.get("prevent_reuse") and data.get("password_reuse_prevention") is None:
            self.add_error("password_reuse_prevention",
                           "Enter how many passwords to remember, from 1 to 24.")
        return data


# --- policy simulator (templates/iam/simulator) ------------------------------------------------

class SimulatorForm(forms.Form):
    principal = forms.ChoiceField(label="User or role")
    action = forms.ChoiceField(label="Action", required=False)
    custom_action = forms.CharField(
        label="Other action", max_length=200, required=False, strip=True,
        help_text="An action that is not in the list, like kms:ListKeys or iam:GetUser. "
                  "It is used instead of the list's choice.")
    key_id = forms.CharField(
        label="Key", max_length=2048, required=False, strip=True,
        help_text="Key ID, key ARN, alias name (alias/...) or alias ARN. Leave empty for "
                  "actions without a key, such as kms:CreateKey.")
    encryption_context = forms.CharField(
        label="Encryption context", required=False, max_length=8192,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One key=value pair a line.")
    mfa = forms.BooleanField(label="Signed in with MFA (aws:MultiFactorAuthPresent)",
                             required=False)

    def __init__(self, *args, principals=(), actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["principal"].choices = [("", "Choose a user or role")] + [
            (p.arn, f"{p.kind}: {p.name}") for p in principals]
        self.fields["action"].choices = [("", "Choose an action")] + [(a, a) for a in actions]

    def clean_encryption_context(self) -> dict[str, str]:
        pairs = {}
        for number, line in enumerate(self.cleaned_data["encryption_context"].splitlines(), 1):
            if not line.strip():
                continue
            name, separator, value = line.partition("=")
            if not separator or not name.strip():
                raise forms.ValidationError(f"Line {number} is not key=value.")
            pairs[name.strip()] = value.strip()
        return pairs

    def clean(self):
        data = super().clean()
        data["chosen_action"] = data.get("custom_action") or data.get("action") or ""
        if not data["chosen_action"] and not self.has_error("action"):
            self.add_error("action", "Choose an action or enter one.")
        return data
