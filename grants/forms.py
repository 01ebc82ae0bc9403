"""The console sign-in form (AWS's IAM user sign-in page: account, user name, password)."""

from django import forms


class SignInForm(forms.Form):
    account = forms.CharField(label="Account ID or alias", max_length=63, strip=True,
                              widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    username = forms.CharField(label="IAM user name", max_length=64, strip=True,
                               widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label="Password", max_length=128, strip=False,
                               widget=forms.PasswordInput(
                                   attrs={"autocomplete": "current-password"}))
