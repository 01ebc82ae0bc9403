"""The key state machine of kms-spec.md 3.3: which operations each state allows, and AWS's errors.

Disabled keys refuse cryptographic use with DisabledException "<arn> is disabled."; keys pending
deletion refuse use and most management with KMSInvalidStateException "<arn> is pending
deletion."; reading (describe, list, tags) and DeleteAlias work in every state.
"""

import datetime

import pytest
from django.utils import timezone

from keys import operations, services
from keys.models import DISABLED, ENABLED, PENDING_DELETION
from kmsconsole.errors import DisabledError, InvalidStateError, ValidationError

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

STATES = [ENABLED, DISABLED, PENDING_DELETION]


def put_in_state(caller, key, state: str) -> None:
    """Move a key into `state` the way a user would: through the services."""
    if state == DISABLED:
        services.key_disable(caller=caller, key_id=str(key.id))
    elif state == PENDING_DELETION:
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    key.refresh_from_db()
    assert key.key_state == state


# --- cryptographic use ----------------------------------------------------------------------
# Each case: (key spec, prepare(caller, key) -> ctx made while the key is Enabled,
#             call(caller, key, ctx) run after the key changed state).

def _blob(caller, key):
    return operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"made earlier").blob


def _encrypt(caller, key, ctx):
    operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")


def _decrypt(caller, key, blob):
    operations.decrypt(caller=caller, ciphertext_blob=blob)


def _decrypt_naming_the_key(caller, key, blob):
    operations.decrypt(caller=caller, ciphertext_blob=blob, key_id=key.arn)


def _re_encrypt_from(caller, key, blob):
    destination = create_key(caller)
    operations.re_encrypt(caller=caller, ciphertext_blob=blob,
                          destination_key_id=str(destination.id))


def _source_blob(caller, key):
    source = create_key(caller)
    return _blob(caller, source)


def _re_encrypt_to(caller, key, blob):
    operations.re_encrypt(caller=caller, ciphertext_blob=blob, destination_key_id=str(key.id))


def _generate_data_key(caller, key, ctx):
    operations.generate_data_key(caller=caller, key_id=str(key.id), key_spec="AES_256")


def _generate_data_key_without_plaintext(caller, key, ctx):
    operations.generate_data_key(caller=caller, key_id=str(key.id), number_of_bytes=16,
                                 with_plaintext=False)


def _generate_data_key_pair(caller, key, ctx):
    operations.generate_data_key_pair(caller=caller, key_id=str(key.id),
                                      key_pair_spec="ECC_NIST_P256")


def _signature(caller, key):
    return operations.sign(caller=caller, key_id=str(key.id), message=b"m",
                           signing_algorithm="ECDSA_SHA_256").signature


def _sign(caller, key, ctx):
    operations.sign(caller=caller, key_id=str(key.id), message=b"m",
                    signing_algorithm="ECDSA_SHA_256")


def _verify(caller, key, signature):
    operations.verify(caller=caller, key_id=str(key.id), message=b"m", signature=signature,
                      signing_algorithm="ECDSA_SHA_256")


def _get_public_key(caller, key, ctx):
    operations.get_public_key(caller=caller, key_id=str(key.id))


def _mac(caller, key):
    return operations.generate_mac(caller=caller, key_id=str(key.id), message=b"m",
                                   mac_algorithm="HMAC_SHA_256").mac


def _generate_mac(caller, key, ctx):
    operations.generate_mac(caller=caller, key_id=str(key.id), message=b"m",
                            mac_algorithm="HMAC_SHA_256")


def _verify_mac(caller, key, tag):
    operations.verify_mac(caller=caller, key_id=str(key.id), message=b"m", mac_value=tag,
                          mac_algorithm="HMAC_SHA_256")


def _nothing(caller, key):
    return None


USE_CASES = {
    "encrypt": ("SYMMETRIC_DEFAULT", _nothing, _encrypt),
    "decrypt": ("SYMMETRIC_DEFAULT", _blob, _decrypt),
    "decrypt-with-key-id": ("SYMMETRIC_DEFAULT", _blob, _decrypt_naming_the_key),
    "re_encrypt-source": ("SYMMETRIC_DEFAULT", _blob, _re_encrypt_from),
    "re_encrypt-destination": ("SYMMETRIC_DEFAULT", _source_blob, _re_encrypt_to),
    "generate_data_key": ("SYMMETRIC_DEFAULT", _nothing, _generate_data_key),
    "generate_data_key_without_plaintext": ("SYMMETRIC_DEFAULT", _nothing,
                                            _generate_data_key_without_plaintext),
    "generate_data_key_pair": ("SYMMETRIC_DEFAULT", _nothing, _generate_data_key_pair),
    "sign": ("ECC_NIST_P256", _nothing, _sign),
    "verify": ("ECC_NIST_P256", _signature, _verify),
    "get_public_key": ("ECC_NIST_P256", _nothing, _get_public_key),
    "generate_mac": ("HMAC_256", _nothing, _generate_mac),
    "verify_mac": ("HMAC_256", _mac, _verify_mac),
}


@pytest.mark.parametrize("state, error_class, suffix", [
    (DISABLED, DisabledError, "is disabled."),
    (PENDING_DELETION, InvalidStateError, "is pending deletion."),
])
@pytest.mark.parametrize("operation", list(USE_CASES))
def test_cryptographic_use_is_refused_unless_the_key_is_enabled(caller, operation, state,
                                                                error_class, suffix):
    key_spec, prepare, call = USE_CASES[operation]
    key = create_key(caller, key_spec)
    ctx = prepare(caller, key)
    call(caller, key, ctx)  # works while Enabled
    put_in_state(caller, key, state)
    with raises_kms(error_class, f"{key.arn} {suffix}"):
        call(caller, key, ctx)


@pytest.mark.parametrize("operation", list(USE_CASES))
def test_cryptographic_use_works_again_after_reenabling(caller, operation):
    key_spec, prepare, call = USE_CASES[operation]
    key = create_key(caller, key_spec)
    ctx = prepare(caller, key)
    put_in_state(caller, key, DISABLED)
    services.key_enable(caller=caller, key_id=str(key.id))
    call(caller, key, ctx)


# --- management -----------------------------------------------------------------------------

MANAGEMENT = {
    "enable": lambda caller, key: services.key_enable(caller=caller, key_id=str(key.id)),
    "disable": lambda caller, key: services.key_disable(caller=caller, key_id=str(key.id)),
    "tag": lambda caller, key: services.key_tag(caller=caller, key_id=str(key.id),
                                                tags=[("team", "x")]),
    "untag": lambda caller, key: services.key_untag(caller=caller, key_id=str(key.id),
                                                    tag_keys=["team"]),
    "update_description": lambda caller, key: services.key_update_description(
        caller=caller, key_id=str(key.id), description="new"),
    "create_alias": lambda caller, key: services.alias_create(
        caller=caller, alias_name="alias/new-name", target_key_id=str(key.id)),
    "update_alias_to_it": lambda caller, key: services.alias_update(
        caller=caller, alias_name="alias/elsewhere",
        target_key_id=str(key.id)),
    "schedule_deletion": lambda caller, key: services.key_schedule_deletion(
        caller=caller, key_id=str(key.id), pending_window_days=30),
}


def _with_alias_elsewhere(caller):
    elsewhere = create_key(caller, description="current alias target")
    services.alias_create(caller=caller, alias_name="alias/elsewhere",
                          target_key_id=str(elsewhere.id))


@pytest.mark.parametrize("operation", list(MANAGEMENT))
def test_management_of_a_key_pending_deletion_is_invalid_state(caller, operation):
    key = create_key(caller)
    _with_alias_elsewhere(caller)
    services.key_tag(caller=caller, key_id=str(key.id), tags=[("team", "before")])
    put_in_state(caller, key, PENDING_DELETION)
    before = (key.description, list(key.tags.values_list("tag_key", "tag_value")),
              key.aliases.count(), key.deletion_date)
    with raises_kms(InvalidStateError, f"{key.arn} is pending deletion."):
        MANAGEMENT[operation](caller, key)
    key.refresh_from_db()
    assert key.key_state == PENDING_DELETION
    assert before == (key.description, list(key.tags.values_list("tag_key", "tag_value")),
                      key.aliases.count(), key.deletion_date)


@pytest.mark.parametrize("operation", list(MANAGEMENT))
def test_management_of_a_disabled_key_works(caller, operation):
    key = create_key(caller)
    _with_alias_elsewhere(caller)
    put_in_state(caller, key, DISABLED)
    MANAGEMENT[operation](caller, key)


# --- what works in every state --------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_describe_list_tags_and_aliases_work_in_every_state(caller, state):
    key = create_key(caller)
    services.key_tag(caller=caller, key_id=str(key.id), tags=[("team", "a"), ("env", "")])
    services.alias_create(caller=caller, alias_name="alias/stateful", target_key_id=str(key.id))
    put_in_state(caller, key, state)

    for key_id in (str(key.id), key.arn, "alias/stateful"):
        assert services.key_describe(caller=caller, key_id=key_id).key_state == state
    keys, _ = services.key_list(caller=caller)
    assert key.pk in {k.pk for k in keys}
    tags, _ = services.key_list_tags(caller=caller, key_id=str(key.id))
    assert [(t.tag_key, t.tag_value) for t in tags] == [("env", ""), ("team", "a")]
    aliases, _ = services.alias_list(caller=caller, key_id=str(key.id))
    assert [a.name for a in aliases] == ["alias/stateful"]
    services.alias_delete(caller=caller, alias_name="alias/stateful")
    assert not key.aliases.exists()


@pytest.mark.parametrize("state", STATES)
def test_an_alias_can_be_moved_away_from_a_key_in_any_state(caller, state):
    key = create_key(caller)
    other = create_key(caller)
    services.alias_create(caller=caller, alias_name="alias/moving", target_key_id=str(key.id))
    put_in_state(caller, key, state)
    alias = services.alias_update(caller=caller, alias_name="alias/moving",
                                  target_key_id=str(other.id))
    assert alias.target_key_id == other.pk


# --- deletion scheduling and cancelling -----------------------------------------------------

@pytest.mark.parametrize("state", [ENABLED, DISABLED])
def test_cancel_deletion_of_a_key_not_pending_deletion_is_invalid_state(caller, state):
    key = create_key(caller)
    put_in_state(caller, key, state)
    with raises_kms(InvalidStateError, f"{key.arn} is not pending deletion."):
        services.key_cancel_deletion(caller=caller, key_id=str(key.id))
    key.refresh_from_db()
    assert key.key_state == state


@pytest.mark.parametrize("state_before", [ENABLED, DISABLED])
def test_cancel_deletion_returns_the_key_to_disabled(caller, state_before):
    key = create_key(caller)
    put_in_state(caller, key, state_before)
    put_in_state(caller, key, PENDING_DELETION)
    cancelled = services.key_cancel_deletion(caller=caller, key_id=key.arn)
    assert cancelled.key_state == DISABLED
    key.refresh_from_db()
    assert key.key_state == DISABLED
    assert key.deletion_date is None
    assert key.pending_window_days is None
    with raises_kms(DisabledError, f"{key.arn} is disabled."):
        operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")
    services.key_enable(caller=caller, key_id=str(key.id))
    operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")


@pytest.mark.parametrize("days", [0, 1, 6, 31, 365, -1])
def test_schedule_deletion_outside_7_to_30_days_is_refused(caller, days):
    key = create_key(caller)
    with raises_kms(ValidationError, contains=("pendingWindowInDays",)):
        services.key_schedule_deletion(caller=caller, key_id=str(key.id),
                                       pending_window_days=days)
    key.refresh_from_db()
    assert key.key_state == ENABLED
    assert key.deletion_date is None


@pytest.mark.parametrize("days", [7, 8, 29, 30])
def test_schedule_deletion_within_7_to_30_days_sets_the_deletion_date(caller, days):
    key = create_key(caller)
    before = timezone.now()
    scheduled = services.key_schedule_deletion(caller=caller, key_id=str(key.id),
                                               pending_window_days=days)
    after = timezone.now()
    assert scheduled.key_state == PENDING_DELETION
    assert scheduled.pending_window_days == days
    window = datetime.timedelta(days=days)
    assert before + window <= scheduled.deletion_date <= after + window
    key.refresh_from_db()
    assert key.key_state == PENDING_DELETION
    assert key.deletion_date == scheduled.deletion_date


def test_schedule_deletion_defaults_to_30_days(caller):
    key = create_key(caller)
    before = timezone.now()
    scheduled = services.key_schedule_deletion(caller=caller, key_id=key.arn)
    assert scheduled.pending_window_days == 30
    delta = scheduled.deletion_date - before
    assert datetime.timedelta(days=30) <= delta < datetime.timedelta(days=30, minutes=1)


def test_a_key_pending_deletion_can_be_rescheduled_only_after_cancelling(caller):
    key = create_key(caller)
    put_in_state(caller, key, PENDING_DELETION)
    with raises_kms(InvalidStateError, f"{key.arn} is pending deletion."):
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    services.key_cancel_deletion(caller=caller, key_id=str(key.id))
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)


# --- enable / disable are idempotent --------------------------------------------------------

def test_enable_of_an_enabled_key_keeps_it_enabled(caller):
    key = create_key(caller)
    for _ in range(2):
        assert services.key_enable(caller=caller, key_id=str(key.id)).key_state == ENABLED
    key.refresh_from_db()
    assert key.key_state == ENABLED


def test_disable_of_a_disabled_key_keeps_it_disabled(caller):
    key = create_key(caller)
    for _ in range(2):
        assert services.key_disable(caller=caller, key_id=key.arn).key_state == DISABLED
    key.refresh_from_db()
    assert key.key_state == DISABLED
    assert not key.enabled


def test_enable_after_disable_restores_use(caller):
    key = create_key(caller)
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p").blob
    services.key_disable(caller=caller, key_id=str(key.id))
    services.key_enable(caller=caller, key_id=str(key.id))
    assert operations.decrypt(caller=caller, ciphertext_blob=blob).plaintext == b"p"
