"""kms_bootstrap: the first account and administrator `make run` creates on a fresh machine.

Authorization evaluates policies for real (a user with no policy may do nothing), so the first
administrator must come with AdministratorAccess, or a fresh install could not be used at all.
"""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from audit.models import AuditEvent
from grants.builtin_policies import builtin_policy_arn
from grants.models import Account, User
from keys import operations, services

from ..conftest import caller_for

pytestmark = pytest.mark.django_db


def run_bootstrap() -> str:
    out = io.StringIO()
    call_command("kms_bootstrap", stdout=out)
    return out.getvalue()


def test_bootstrap_creates_an_administrator_who_can_create_a_key_and_encrypt():
    out = run_bootstrap()
    account = Account.objects.get()
    admin = User.objects.get(account=account, name="admin")
    assert list(admin.attached_policies.values_list("arn", flat=True)) == [
        builtin_policy_arn("AdministratorAccess")]
    password = re.search(r"Password:\s+(\S+)", out).group(1)
    assert authenticate(None, account=account.id, username="admin", password=password) == admin

    caller = caller_for(admin)
    key = services.key_create(caller=caller, description="first key")
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"hello")
    assert operations.decrypt(caller=caller, ciphertext_blob=blob.blob).plaintext \
        == b"hello"


def test_bootstrap_audits_the_attachment_as_an_operator_event():
    run_bootstrap()
    event = AuditEvent.objects.get(event_name="AttachUserPolicy")
    assert (event.event_source, event.source, event.error_code) == (
        "iam.amazonaws.com", "scheduler", "")
    assert event.event_type == "AwsServiceEvent"  # KMS acting for the account, no caller
    assert list(AuditEvent.objects.order_by("id").values_list("event_name", flat=True)) == [
        "CreateAccount", "CreateUser", "AttachUserPolicy"]


def test_bootstrap_run_again_changes_nothing_and_prints_no_password():
    run_bootstrap()
    before = (list(Account.objects.values_list("id", flat=True)),
              list(User.objects.values_list("id", "password")),
              AuditEvent.objects.count())
    out = run_bootstrap()
    assert "Password" not in out and out.startswith("Root key ready")
    assert (list(Account.objects.values_list("id", flat=True)),
            list(User.objects.values_list("id", "password")),
            AuditEvent.objects.count()) == before
