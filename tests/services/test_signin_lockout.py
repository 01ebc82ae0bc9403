"""Sign-in lockout (grants.signin): ten wrong passwords (or MFA codes) in a row lock one user's
console sign-in for SIGNIN_LOCKOUT_SECONDS, even with the right password; the lock is one
ConsoleLogin failure event that says so (errorMessage, additionalEventData LockedUntil); a
success resets the count and stamps last_signin_at; parallel guesses cannot pass the limit."""

import datetime
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from grants import mfa
from grants.models import MFADevice, User
from grants.signin import (
    SignInAttempt,
    SignInFailedError,
    console_sign_in,
    console_sign_in_mfa,
)
from tests.conftest import make_user

PASSWORD = "correct horse battery"
START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    settings.SIGNIN_LOCKOUT_ATTEMPTS = 10
    settings.SIGNIN_LOCKOUT_SECONDS = 900


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


def attempt() -> SignInAttempt:
    return SignInAttempt(region="us-east-1", source_ip="198.51.100.7", user_agent="pytest",
                         request_id="req-1", secure_transport=True,
                         login_to="https://kms.example/kms/keys")


def sign_in(password: str, user_name: str = "alice"):
    return console_sign_in(account="example", user_name=user_name, password=password,
                           attempt=attempt())


def fail(password: str = "wrong password!", user_name: str = "alice") -> SignInFailedError:
    with pytest.raises(SignInFailedError) as refused:
        sign_in(password, user_name)
    return refused.value


def login_records() -> list[dict]:
    return [event.as_record() for event in
            AuditEvent.objects.filter(event_name="ConsoleLogin").order_by("id")]


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_nine_wrong_passwords_do_not_lock_and_are_counted(clock, alice):
    for _ in range(9):
        assert fail().locked_until is None
    assert fresh(alice).failed_signin_count == 9
    assert sign_in(PASSWORD).user == alice


def test_ten_wrong_passwords_lock_the_user_for_the_configured_time(clock, alice):
    for _ in range(9):
        fail()
    error = fail()
    locked_until = START + datetime.timedelta(seconds=900)
    assert error.locked_until == locked_until
    assert fresh(alice).signin_locked_until == locked_until
    # Even the right password is refused while the lock lasts, with the same code.
    refused = fail(PASSWORD)
    assert refused.code == "Failed authentication"
    assert refused.locked_until == locked_until
    clock.shift(datetime.timedelta(seconds=899))
    fail(PASSWORD)
    clock.shift(datetime.timedelta(seconds=2))
    assert sign_in(PASSWORD).user == alice


def test_the_lock_is_an_audit_event_saying_until_when(clock, alice):
    for _ in range(10):
        fail()
    records = login_records()
    assert len(records) == 10
    for record in records[:9]:
        assert record["errorMessage"] == "Failed authentication"
        assert "LockedUntil" not in record["additionalEventData"]
    lock = records[9]
    assert lock["eventSource"] == "signin.amazonaws.com"
    assert lock["errorCode"] == "Failed authentication"
    assert lock["errorMessage"] == ("Failed authentication. Sign-in locked until "
                                    "2026-03-01T12:15:00Z after 10 failed attempts in a row.")
    assert lock["additionalEventData"]["LockedUntil"] == "2026-03-01T12:15:00Z"
    assert lock["responseElements"] == {"ConsoleLogin": "Failure"}
    assert lock["userIdentity"]["arn"] == alice.arn


def test_attempts_while_locked_are_recorded_but_neither_count_nor_extend_the_lock(clock, alice):
    for _ in range(10):
        fail()
    clock.shift(datetime.timedelta(minutes=5))
    fail()
    fail(PASSWORD)
    refused = login_records()[-1]
    assert refused["errorMessage"] == ("Failed authentication. Sign-in is locked until "
                                       "2026-03-01T12:15:00Z.")
    assert refused["additionalEventData"]["LockedUntil"] == "2026-03-01T12:15:00Z"
    assert PASSWORD not in str(refused)
    user = fresh(alice)
    assert user.failed_signin_count == 0
    assert user.signin_locked_until == START + datetime.timedelta(seconds=900)


def test_a_success_resets_the_count_and_records_the_sign_in_time(clock, alice):
    for _ in range(9):
        fail()
    sign_in(PASSWORD)
    user = fresh(alice)
    assert user.failed_signin_count == 0
    assert user.last_signin_at == START
    for _ in range(9):
        assert fail().locked_until is None


def test_the_limit_and_duration_come_from_settings(clock, alice, settings):
    settings.SIGNIN_LOCKOUT_ATTEMPTS = 3
    settings.SIGNIN_LOCKOUT_SECONDS = 60
    fail()
    fail()
    assert fail().locked_until == START + datetime.timedelta(seconds=60)


def test_the_lock_concerns_one_user_only(clock, alice, account):
    make_user(account, "bob")
    for _ in range(10):
        fail()
    assert sign_in(PASSWORD, user_name="bob").user.name == "bob"


def test_unknown_user_names_lock_nothing_and_stay_hidden(clock, alice):
    for _ in range(12):
        fail(user_name="mallory")
    assert sign_in(PASSWORD).user == alice
    assert login_records()[0]["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


# --- MFA codes count too ------------------------------------------------------------------------

@pytest.fixture
def alice_with_mfa(alice):
    device = MFADevice(user=alice, serial_number=mfa.serial_number_for(alice, "alice"),
                       enabled=True)
    secret = mfa.new_totp_secret()
    device.set_secret(secret)
    device.save()
    return alice, secret


def test_a_right_password_of_an_mfa_user_starts_nothing_and_records_nothing(clock,
                                                                             alice_with_mfa):
    result = sign_in(PASSWORD)
    assert result.mfa_required
    assert login_records() == []
    assert fresh(result.user).last_signin_at is None


def wrong_code(secret: str) -> str:
    """A code that is none of the accepted steps' codes."""
    now = mfa.current_step()
    accepted = {mfa.totp_code(secret, step) for step in range(now - 1, now + 2)}
    return next(code for code in ("000000", "111111", "222222", "333333")
                if code not in accepted)


def test_wrong_mfa_codes_count_towards_the_lockout(clock, alice_with_mfa):
    alice, secret = alice_with_mfa
    for _ in range(5):
        fail()
    right = mfa.totp_code(secret, mfa.current_step())
    wrong = wrong_code(secret)
    for _ in range(4):
        with pytest.raises(SignInFailedError):
            console_sign_in_mfa(user_id=alice.pk, code=wrong, attempt=attempt())
    with pytest.raises(SignInFailedError) as locked:
        console_sign_in_mfa(user_id=alice.pk, code=wrong, attempt=attempt())
    assert locked.value.locked_until == START + datetime.timedelta(seconds=900)
    record = login_records()[-1]
    assert record["additionalEventData"]["MFAUsed"] == "Yes"
    assert record["additionalEventData"]["LockedUntil"] == "2026-03-01T12:15:00Z"
    # The right code does not get past the lock either.
    with pytest.raises(SignInFailedError):
        console_sign_in_mfa(user_id=alice.pk, code=right, attempt=attempt())


def test_a_right_mfa_code_signs_in_once_and_resets_the_count(clock, alice_with_mfa):
    alice, secret = alice_with_mfa
    fail()
    code = mfa.totp_code(secret, mfa.current_step())
    assert console_sign_in_mfa(user_id=alice.pk, code=code, attempt=attempt()).user == alice
    assert fresh(alice).failed_signin_count == 0
    assert login_records()[-1]["additionalEventData"]["MFAUsed"] == "Yes"
    assert login_records()[-1]["responseElements"] == {"ConsoleLogin": "Success"}
    # Replaying the same code is refused (and counted).
    with pytest.raises(SignInFailedError):
        console_sign_in_mfa(user_id=alice.pk, code=code, attempt=attempt())
    assert fresh(alice).failed_signin_count == 1


def test_a_right_password_does_not_reset_the_count_of_wrong_mfa_codes(clock, alice_with_mfa):
    alice, secret = alice_with_mfa
    for _ in range(9):
        with pytest.raises(SignInFailedError):
            console_sign_in_mfa(user_id=alice.pk, code=wrong_code(secret), attempt=attempt())
        assert sign_in(PASSWORD).mfa_required
    assert fresh(alice).failed_signin_count == 9


# --- parallel guesses ---------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_lock_exactly_once(account):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises whole transactions)")
    alice = make_user(account, "alice")
    User.objects.filter(pk=alice.pk).update(failed_signin_count=5)
    locks, barrier = [], threading.Barrier(8)

    def guess():
        barrier.wait()
        try:
            sign_in("wrong password!")
        except SignInFailedError as error:
            if error.locked_until is not None and "after" in error.message:
                locks.append(error.locked_until)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    user = fresh(alice)
    # 5 + 5 wrong attempts lock; the other 3 find the lock and are refused uncounted.
    assert len(locks) == 1
    assert user.signin_locked_until is not None and user.signin_locked_until > timezone.now()
    assert user.failed_signin_count == 0
    records = login_records()
    assert len(records) == 8
    assert sum("LockedUntil" in r["additionalEventData"] for r in records) == 4
