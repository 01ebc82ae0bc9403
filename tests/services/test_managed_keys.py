"""AWS managed keys (alias/aws/<service>) are created on first use, once, and stay AWS's."""

import pytest

from keys import services
from keys.models import MANAGER_AWS, Alias, Key
from kmsconsole.errors import AccessDeniedError, NotFoundError
from tests.conftest import caller_for


@pytest.mark.django_db
def test_describing_an_aws_managed_alias_creates_the_key_once(caller):
    first = services.key_describe(caller=caller, key_id="alias/aws/s3")
    again = services.key_describe(caller=caller, key_id="alias/aws/s3")
    assert first.pk == again.pk
    assert first.key_manager == MANAGER_AWS
    assert first.rotation_enabled and first.rotation_period_days == 365
    assert "S3 objects" in first.description
    assert '"kms:ViaService" : "s3.us-east-1.amazonaws.com"' in first.policy
    assert Alias.objects.filter(name="alias/aws/s3", target_key=first).count() == 1


@pytest.mark.django_db
def test_aws_managed_alias_arn_of_the_own_account_creates_the_key(caller):
    key = services.key_describe(
        caller=caller, key_id="arn:aws:kms:us-east-1:111122223333:alias/aws/ebs")
    assert key.key_manager == MANAGER_AWS and key.region == "us-east-1"


@pytest.mark.django_db
def test_aws_managed_keys_are_per_region(admin):
    east = services.key_describe(caller=caller_for(admin), key_id="alias/aws/s3")
    west = services.key_describe(caller=caller_for(admin, region="eu-west-1"),
                                 key_id="alias/aws/s3")
    assert east.pk != west.pk and west.region == "eu-west-1"


@pytest.mark.django_db
def test_an_unknown_aws_service_alias_is_not_found_and_creates_nothing(caller):
    with pytest.raises(NotFoundError):
        services.key_describe(caller=caller, key_id="alias/aws/not-a-service")
    assert not Key.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("change", [
    lambda caller, key: services.key_disable(caller=caller, key_id=str(key.id)),
    lambda caller, key: services.key_schedule_deletion(caller=caller, key_id=str(key.id)),
    lambda caller, key: services.key_update_description(caller=caller, key_id=str(key.id),
                                                        description="mine now"),
    lambda caller, key: services.key_tag(caller=caller, key_id=str(key.id), tags=[("a", "b")]),
], ids=["disable", "schedule-deletion", "update-description", "tag"])
def test_customers_cannot_change_an_aws_managed_key(caller, change):
    # Its key policy allows the account metadata and use through the service, nothing else,
    # so even an administrator is refused before the key's manager is looked at.
    key = services.key_describe(caller=caller, key_id="alias/aws/s3")
    with pytest.raises(AccessDeniedError, match="no resource-based policy allows"):
        change(caller, key)
    key.refresh_from_db()
    assert key.key_state == "Enabled" and "mine" not in key.description
