"""grants.services: creating IAM users, their access keys and console passwords.

Each mutating service is shown allowed (with its audit event), refused for another account's
principal and for an unauthenticated caller, and refusing bad input with an AWS error type.
"""

import pytest

from audit.models import AuditEvent
from grants import services
from grants.models import AccessKey, User
from grants.principals import Caller, Principal
from kmsconsole.errors import AccessDeniedError, AlreadyExistsError, ValidationError
from tests.conftest import REGION

from .conftest import raises_kms

pytestmark = pytest.mark.django_db


def anonymous_caller(account_id: str) -> Caller:
    return Caller(principal=Principal.unauthenticated(account_id=account_id), region=REGION,
                  source="api", source_ip="192.0.2.99", user_agent="pytest")


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def test_create_user_makes_the_user_and_audits_it(caller, account):
    user = services.user_create(caller=caller, name="alice")
    assert user.arn == f"arn:aws:iam::{account.id}:user/alice"
    assert not user.has_usable_password()
    event = last_event("CreateUser")
    assert event.error_code == "" and event.event_source == "iam.amazonaws.com"
    assert event.request_parameters == {"userName": "alice"}
    assert event.response_elements["user"]["userId"] == user.unique_id


@pytest.mark.parametrize("name,says", [("", "cannot be blank"), ("has space", "1-64 letters"),
                                       ("slash/inside", "1-64 letters"),
                                       ("x" * 65, "1-64 letters")])
def test_create_user_with_an_invalid_name_is_a_validation_error(caller, name, says):
    with raises_kms(ValidationError, contains=("name: ", says)):
        services.user_create(caller=caller, name=name)
    assert not User.objects.filter(name=name).exists()
    assert last_event("CreateUser").error_code == "ValidationError"


def test_create_user_twice_is_already_exists(caller):
    services.user_create(caller=caller, name="bob")
    with raises_kms(AlreadyExistsError, contains=("bob",)):
        services.user_create(caller=caller, name="bob")
    assert last_event("CreateUser").error_code == "EntityAlreadyExists"


def test_create_user_unauthenticated_is_denied(account):
    with raises_kms(AccessDeniedError):
        services.user_create(caller=anonymous_caller(account.id), name="mallory")
    assert not User.objects.filter(name="mallory").exists()
    assert last_event("CreateUser").error_code == "AccessDenied"


def test_access_key_for_a_user_of_another_account_is_denied(outsider_caller, admin):
    with raises_kms(AccessDeniedError):
        services.access_key_create(caller=outsider_caller, user=admin)
    assert not admin.access_keys.exists()
    assert last_event("CreateAccessKey").error_code == "AccessDenied"


def test_access_key_create_returns_the_secret_once_and_audits_without_it(caller, admin):
    access_key, secret = services.access_key_create(caller=caller, user=admin)
    assert access_key.secret() == secret
    event = last_event("CreateAccessKey")
    assert event.response_elements["accessKey"]["accessKeyId"] == access_key.access_key_id
    assert secret not in str(event.as_record())


def test_access_key_create_unauthenticated_is_denied(account, admin):
    with raises_kms(AccessDeniedError):
        services.access_key_create(caller=anonymous_caller(account.id), user=admin)
    assert not AccessKey.objects.exists()


def test_a_third_access_key_exceeds_the_quota(caller, admin):
    services.access_key_create(caller=caller, user=admin)
    services.access_key_create(caller=caller, user=admin)
    with pytest.raises(Exception) as excinfo:
        services.access_key_create(caller=caller, user=admin)
    assert excinfo.value.code == "LimitExceededException"
    assert admin.access_keys.count() == 2


def test_a_weak_console_password_is_refused_and_nothing_changes(caller, account):
    user = services.user_create(caller=caller, name="carol")
    with raises_kms(ValidationError):
        services.user_set_password(caller=caller, user=user, password="123")
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert last_event("CreateLoginProfile").error_code == "ValidationError"


def test_setting_a_console_password_is_audited_without_the_password(caller, account):
    user = services.user_create(caller=caller, name="dave")
    services.user_set_password(caller=caller, user=user, password="a long passphrase 42")
    user.refresh_from_db()
    assert user.check_password("a long passphrase 42")
    event = last_event("CreateLoginProfile")
    assert event.error_code == "" and "passphrase" not in str(event.as_record())
