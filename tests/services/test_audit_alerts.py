"""Suspicious-activity alerts (audit/alerts.py): each rule fires on the events that should
trigger it -- produced through the real services -- and stays quiet below its threshold; a
continuing pattern raises one alert per window; the scan is incremental, works in batches and
never raises an alert twice, even with two scanners at once; thresholds come from settings."""

import datetime
import json
import threading

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from audit import alerts
from audit.alerts import alerts_scan
from audit.models import Alert, AlertScanState, AuditEvent
from audit.tasks import audit_alerts_scan
from grants.users import user_list
from keys import operations, services
from keys.policies import api_default_policy
from kmsconsole.errors import AccessDeniedError, DisabledError, InvalidStateError
from tests.conftest import ACCOUNT_ID, caller_for, make_user

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

# A fixed, quiet moment (no minute boundary near it), so windows are exact.
NOON = datetime.datetime(2026, 11, 2, 12, 0, 10, tzinfo=datetime.UTC)


@pytest.fixture
def nobody(account):
    """A user with no policy: every request it makes to the account's keys is denied."""
    return make_user(account, "nobody")


@pytest.fixture
def key(caller):
    return create_key(caller, description="payments")


def denied(user, key, times: int) -> list[int]:
    """`times` DescribeKey requests refused with AccessDenied; their events' sequences."""
    for _ in range(times):
        with raises_kms(AccessDeniedError):
            services.key_describe(caller=caller_for(user), key_id=str(key.id))
    events = AuditEvent.objects.filter(principal_arn=user.arn, error_code="AccessDeniedException")
    return list(events.order_by("-sequence").values_list("sequence", flat=True)[:times])[::-1]


def raised(rule: str) -> list[Alert]:
    return list(Alert.objects.filter(rule=rule).order_by("id"))


def newest_sequence() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()


# --- a burst of denied requests ------------------------------------------------------------------

def test_ten_denied_requests_within_a_minute_raise_one_burst_alert(nobody, key):
    sequences = denied(nobody, key, 10)
    alerts_scan()
    [alert] = raised(alerts.DENIED_BURST)
    assert alert.account_id == ACCOUNT_ID
    assert alert.principal_arn == nobody.arn
    assert alert.event_sequences == sequences
    assert ("was denied 10 requests (AccessDeniedException or AccessDenied) within 1 minute."
            in alert.message)
    assert alert.acknowledged_at is None


def test_iam_refusals_count_towards_the_burst_like_kms_ones(nobody, key):
    # A stolen credential probing IAM (AccessDenied) and KMS (AccessDeniedException) alike.
    kms_sequences = denied(nobody, key, 5)
    for _ in range(5):
        with raises_kms(AccessDeniedError):
            user_list(caller=caller_for(nobody))
    iam_events = AuditEvent.objects.filter(principal_arn=nobody.arn, error_code="AccessDenied",
                                           event_source="iam.amazonaws.com")
    assert iam_events.count() == 5
    alerts_scan()
    [alert] = raised(alerts.DENIED_BURST)
    assert alert.event_sequences == kms_sequences + sorted(
        iam_events.values_list("sequence", flat=True))


def test_nine_denied_requests_raise_no_burst_alert(nobody, key):
    denied(nobody, key, 9)
    alerts_scan()
    assert raised(alerts.DENIED_BURST) == []


def test_denied_requests_spread_wider_than_the_window_raise_no_alert(nobody, key):
    with time_machine.travel(NOON, tick=False):
        denied(nobody, key, 6)
    with time_machine.travel(NOON + datetime.timedelta(seconds=61), tick=False):
        denied(nobody, key, 6)
    alerts_scan()
    assert raised(alerts.DENIED_BURST) == []


def test_a_continuing_burst_raises_one_alert_per_window(nobody, key):
    with time_machine.travel(NOON, tick=False):
        denied(nobody, key, 12)
        alerts_scan()
        denied(nobody, key, 13)
        alerts_scan()
    assert len(raised(alerts.DENIED_BURST)) == 1
    with time_machine.travel(NOON + datetime.timedelta(seconds=61), tick=False):
        denied(nobody, key, 10)
    alerts_scan()
    assert len(raised(alerts.DENIED_BURST)) == 2


def test_each_principal_has_its_own_burst(account, nobody, key):
    other = make_user(account, "another-nobody")
    denied(nobody, key, 5)
    denied(other, key, 5)
    alerts_scan()
    assert raised(alerts.DENIED_BURST) == []
    denied(other, key, 5)
    alerts_scan()
    assert [alert.principal_arn for alert in raised(alerts.DENIED_BURST)] == [other.arn]


@override_settings(AUDIT_ALERT_DENIED_BURST_COUNT=3, AUDIT_ALERT_DENIED_BURST_SECONDS=5)
def test_the_burst_thresholds_come_from_settings(nobody, key):
    with time_machine.travel(NOON, tick=False):
        denied(nobody, key, 2)
    with time_machine.travel(NOON + datetime.timedelta(seconds=6), tick=False):
        denied(nobody, key, 2)
    alerts_scan()
    assert raised(alerts.DENIED_BURST) == []
    with time_machine.travel(NOON + datetime.timedelta(seconds=7), tick=False):
        denied(nobody, key, 1)
    alerts_scan()
    [alert] = raised(alerts.DENIED_BURST)
    assert ("was denied 3 requests (AccessDeniedException or AccessDenied) within 5 seconds"
            in alert.message)


# --- Decrypt volume against the principal's own baseline --------------------------------------

DECRYPT_SETTINGS = {"AUDIT_ALERT_DECRYPT_WINDOW_SECONDS": 3600,
                    "AUDIT_ALERT_DECRYPT_BASELINE_DAYS": 1,
                    "AUDIT_ALERT_DECRYPT_FACTOR": 5.0,
                    "AUDIT_ALERT_DECRYPT_MIN_COUNT": 3}


def decrypt_at(caller, blob, moment: datetime.datetime, times: int = 1) -> None:
    with time_machine.travel(moment, tick=False):
        for _ in range(times):
            operations.decrypt(caller=caller, ciphertext_blob=blob)


@pytest.fixture
def blob(caller, key):
    with time_machine.travel(NOON - datetime.timedelta(days=2), tick=False):
        return operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"card").blob


@pytest.fixture
def one_decrypt_an_hour_yesterday(caller, blob):
    """A baseline of 24 Decrypts in the day before the last hour: an average of 1 an hour."""
    for hours_ago in range(24, 0, -1):
        decrypt_at(caller, blob, NOON - datetime.timedelta(hours=hours_ago, minutes=30))


@override_settings(**DECRYPT_SETTINGS)
def test_decrypts_far_above_the_principals_own_baseline_raise_an_alert(
        caller, blob, one_decrypt_an_hour_yesterday):
    decrypt_at(caller, blob, NOON, times=6)
    alerts_scan()
    [alert] = raised(alerts.DECRYPT_SPIKE)
    assert alert.principal_arn == caller.principal.arn
    assert alert.raised_at == NOON
    last_hour = AuditEvent.objects.filter(event_name="Decrypt", event_time=NOON)
    assert alert.event_sequences == sorted(last_hour.values_list("sequence", flat=True))
    assert "made 6 successful Decrypt requests within 1 hour" in alert.message
    assert "average over the previous 1 day was 1.0 per 1 hour" in alert.message


@override_settings(**DECRYPT_SETTINGS)
def test_decrypts_up_to_factor_times_the_baseline_raise_no_alert(
        caller, blob, one_decrypt_an_hour_yesterday):
    decrypt_at(caller, blob, NOON, times=5)
    alerts_scan()
    assert raised(alerts.DECRYPT_SPIKE) == []


@override_settings(**DECRYPT_SETTINGS)
def test_a_quiet_principals_first_decrypts_below_the_minimum_raise_no_alert(caller, blob):
    decrypt_at(caller, blob, NOON, times=2)
    alerts_scan()
    assert raised(alerts.DECRYPT_SPIKE) == []
    decrypt_at(caller, blob, NOON + datetime.timedelta(minutes=1))
    alerts_scan()
    assert len(raised(alerts.DECRYPT_SPIKE)) == 1


def test_by_default_a_hundred_decrypts_an_hour_are_needed_before_any_alert(caller, blob):
    decrypt_at(caller, blob, NOON, times=20)
    alerts_scan()
    assert raised(alerts.DECRYPT_SPIKE) == []


@override_settings(**DECRYPT_SETTINGS)
def test_a_continuing_decrypt_spike_raises_one_alert_an_hour(caller, blob):
    decrypt_at(caller, blob, NOON, times=4)
    alerts_scan()
    decrypt_at(caller, blob, NOON + datetime.timedelta(minutes=30), times=4)
    alerts_scan()
    assert len(raised(alerts.DECRYPT_SPIKE)) == 1
    decrypt_at(caller, blob, NOON + datetime.timedelta(minutes=61), times=4)
    alerts_scan()
    assert len(raised(alerts.DECRYPT_SPIKE)) == 2


# --- a key scheduled for deletion ----------------------------------------------------------------

def test_scheduling_a_key_for_deletion_raises_an_alert(caller, key):
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    alerts_scan()
    [alert] = raised(alerts.DELETION_SCHEDULED)
    event = AuditEvent.objects.get(event_name="ScheduleKeyDeletion")
    assert alert.event_sequences == [event.sequence]
    assert alert.key_id == str(key.id)
    assert alert.principal_arn == caller.principal.arn
    assert f"Key {key.id} was scheduled for deletion in 7 days" in alert.message


def test_a_refused_deletion_raises_no_deletion_alert(nobody, key):
    with raises_kms(AccessDeniedError):
        services.key_schedule_deletion(caller=caller_for(nobody), key_id=str(key.id))
    alerts_scan()
    assert raised(alerts.DELETION_SCHEDULED) == []


# --- a key policy open to everyone ---------------------------------------------------------------

def policy_with(statement: dict) -> str:
    """The default key policy plus `statement` (the account keeps its own access)."""
    document = json.loads(api_default_policy(ACCOUNT_ID))
    document["Statement"].append(statement)
    return json.dumps(document)


OPEN = {"Sid": "Open to all", "Effect": "Allow", "Principal": "*", "Action": "kms:*",
        "Resource": "*"}


@pytest.mark.parametrize("statement", [
    OPEN,
    {**OPEN, "Principal": {"AWS": "*"}},
    {**OPEN, "Action": "*"},
    {**OPEN, "Action": ["kms:Decrypt", "kms:*"]},
], ids=["kms-star-to-star", "aws-star", "action-star", "kms-star-among-others"])
def test_put_key_policy_allowing_every_kms_action_to_everyone_raises_an_alert(
        caller, key, statement):
    services.key_put_policy(caller=caller, key_id=str(key.id), policy=policy_with(statement))
    alerts_scan()
    [alert] = raised(alerts.PUBLIC_POLICY)
    event = AuditEvent.objects.get(event_name="PutKeyPolicy")
    assert alert.event_sequences == [event.sequence]
    assert alert.key_id == str(key.id)
    assert 'Statement[1] "Open to all"' in alert.message


def test_create_key_with_a_policy_open_to_everyone_raises_an_alert(caller):
    key = create_key(caller, policy=policy_with(OPEN))
    alerts_scan()
    [alert] = raised(alerts.PUBLIC_POLICY)
    assert alert.key_id == str(key.id)
    assert "(CreateKey)" in alert.message


@pytest.mark.parametrize("statement", [
    {**OPEN, "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT_ID}}},
    {**OPEN, "Action": "kms:Decrypt"},
    {**OPEN, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}},
    {**OPEN, "Effect": "Deny", "Action": "kms:Decrypt"},
], ids=["with-condition", "one-action", "named-principal", "deny"])
def test_key_policies_that_do_not_open_the_key_to_everyone_raise_no_alert(
        caller, key, statement):
    services.key_put_policy(caller=caller, key_id=str(key.id), policy=policy_with(statement))
    alerts_scan()
    assert raised(alerts.PUBLIC_POLICY) == []


def test_the_default_key_policy_raises_no_alert(caller):
    create_key(caller, policy=api_default_policy(ACCOUNT_ID))
    alerts_scan()
    assert raised(alerts.PUBLIC_POLICY) == []


# --- use of a disabled or pending-deletion key ---------------------------------------------------

def test_encrypt_with_a_disabled_key_raises_one_alert_per_principal_and_key(caller, key):
    services.key_disable(caller=caller, key_id=str(key.id))
    for _ in range(3):
        with raises_kms(DisabledError):
            operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")
    alerts_scan()
    [alert] = raised(alerts.DISABLED_KEY_USE)
    first = AuditEvent.objects.filter(event_name="Encrypt").order_by("sequence").first()
    assert alert.event_sequences == [first.sequence]
    assert alert.key_id == str(key.id)
    assert "tried Encrypt with key" in alert.message
    assert "which is disabled" in alert.message


def test_decrypt_with_a_key_pending_deletion_raises_an_alert(caller, key):
    blob = operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p").blob
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    with raises_kms(InvalidStateError):
        operations.decrypt(caller=caller, ciphertext_blob=blob)
    alerts_scan()
    [alert] = raised(alerts.DISABLED_KEY_USE)
    assert alert.key_id == str(key.id)
    assert "tried Decrypt with key" in alert.message
    assert "which is pending deletion" in alert.message


def test_use_of_a_key_pending_import_raises_no_disabled_key_alert(caller):
    key = create_key(caller, origin="EXTERNAL")
    with raises_kms(InvalidStateError):
        operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")
    alerts_scan()
    assert raised(alerts.DISABLED_KEY_USE) == []


@override_settings(AUDIT_ALERT_KEY_USE_WINDOW_SECONDS=60)
def test_use_of_a_disabled_key_alerts_again_after_its_window(caller, key):
    services.key_disable(caller=caller, key_id=str(key.id))
    for seconds in (0, 30, 61):
        with time_machine.travel(NOON + datetime.timedelta(seconds=seconds), tick=False), \
                raises_kms(DisabledError):
            operations.encrypt(caller=caller, key_id=str(key.id), plaintext=b"p")
    alerts_scan()
    assert [alert.raised_at for alert in raised(alerts.DISABLED_KEY_USE)] == [
        NOON, NOON + datetime.timedelta(seconds=61)]


# --- the scan ----------------------------------------------------------------------------------

def test_rescanning_raises_nothing_new_and_the_state_follows_the_chain(caller, key):
    services.key_schedule_deletion(caller=caller, key_id=str(key.id))
    first = alerts_scan()
    assert first.alerts == 1
    assert AlertScanState.objects.get().last_sequence == newest_sequence()
    again = alerts_scan()
    assert (again.events, again.alerts) == (0, 0)
    assert Alert.objects.count() == 1


def test_the_next_scan_reads_only_the_events_recorded_since(caller, key):
    alerts_scan()
    scanned = AlertScanState.objects.get().last_sequence
    services.key_schedule_deletion(caller=caller, key_id=str(key.id))
    result = alerts_scan()
    assert result.events == newest_sequence() - scanned
    assert len(raised(alerts.DELETION_SCHEDULED)) == 1


def test_a_burst_split_across_batches_is_still_one_alert(nobody, key):
    denied(nobody, key, 12)
    result = alerts_scan(batch_size=3)
    assert result.batches >= 4
    [alert] = raised(alerts.DENIED_BURST)
    assert len(alert.event_sequences) == 10


@override_settings(AUDIT_ALERT_SCAN_BATCH_SIZE=2)
def test_the_batch_size_comes_from_settings_and_max_batches_bounds_a_scan(nobody, key):
    denied(nobody, key, 10)
    result = alerts_scan(max_batches=2)
    assert (result.batches, result.events) == (2, 4)
    assert AlertScanState.objects.get().last_sequence == result.last_sequence


def test_the_beat_task_scans_and_summarises(caller, key):
    services.key_schedule_deletion(caller=caller, key_id=str(key.id))
    summary = audit_alerts_scan()
    assert "1 alert(s) raised" in summary
    assert f"up to sequence {newest_sequence()}" in summary


@pytest.mark.django_db(transaction=True)
def test_two_scanners_at_once_never_raise_an_alert_twice(nobody, key):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections: PostgreSQL only (SQLite has one writer)")
    denied(nobody, key, 30)
    start = threading.Barrier(2)
    errors = []

    def scan():
        try:
            start.wait()
            alerts_scan(batch_size=1)
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(raised(alerts.DENIED_BURST)) == 1
    assert AlertScanState.objects.get().last_sequence == newest_sequence()


def test_alerts_are_raised_at_the_time_of_the_triggering_event(caller, key):
    moment = timezone.now().replace(microsecond=0) - datetime.timedelta(days=3)
    with time_machine.travel(moment, tick=False):
        services.key_schedule_deletion(caller=caller, key_id=str(key.id))
    alerts_scan()
    [alert] = raised(alerts.DELETION_SCHEDULED)
    assert alert.raised_at == moment
