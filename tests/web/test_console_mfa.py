"""A user's MFA device in the console: the "Multi-factor authentication (MFA)" container, Assign
MFA device (the secret shown once, as text and QR code; two consecutive codes), Remove. Each is
allowed for an administrator (with its IAM event), denied for a user without IAM permissions
(403 page and a failed event) and sends anonymous visitors to sign in."""

import base64
import json

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from grants import mfa, services
from grants.models import MFADevice
from grants.principals import Caller
from tests.conftest import make_user
from tests.web.console_helpers import elements, names

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def flashes(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div")
            if "flash" in e["attrs"].get("class", "").split()]


def assign(client, name="alice", device_name="alice", **extra):
    return client.post(f"/iam/users/details/{name}/mfa/assign",
                       {"device_name": device_name, **extra})


def consecutive_codes(secret: str) -> tuple[str, str]:
    now = mfa.current_step()
    return mfa.totp_code(secret, now - 1), mfa.totp_code(secret, now)


def enable(client, secret: str, name="alice", **extra):
    code_1, code_2 = consecutive_codes(secret)
    return client.post(f"/iam/users/details/{name}/mfa/enable",
                       {"code_1": code_1, "code_2": code_2, **extra})


# --- the container ------------------------------------------------------------------------------

def test_the_mfa_container_offers_assign_when_the_user_has_no_device(signed_in, alice):
    response = signed_in.get("/iam/users/details/alice/mfa")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Multi-factor authentication (MFA) (0)" in names(html, "h2")
    assert "Assign MFA device" in names(html, "a")
    assert "No MFA devices" in html
    crumbs = html.split('aria-label="Breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    assert [(e["text"], e["attrs"]["href"]) for e in elements(crumbs, "a")][1:] == [
        ("Users", "/iam/users"), ("alice", "/iam/users/details/alice/security-credentials")]
    event = last_event("ListMFADevices")
    assert event.event_source == "iam.amazonaws.com" and event.read_only
    assert event.request_parameters == {"userName": "alice"}


def test_the_mfa_container_is_denied_without_iam_permissions(nobody_client, alice):
    response = nobody_client.get("/iam/users/details/alice/mfa")
    assert response.status_code == 403
    assert "iam:GetUser" in response.content.decode()
    assert last_event("GetUser").error_code == "AccessDenied"
    assert last_event("ListMFADevices") is None


@pytest.fixture
def user_reader_client(account):
    """A user who may read users (iam:GetUser) and nothing else (its own client: fixtures
    that set up devices sign the `client` fixture in as the administrator)."""
    client = Client()
    reader = make_user(account, "reader")
    services.user_put_inline_policy(
        caller=Caller.scheduler(account_id=account.id, region="us-east-1"), user=reader,
        policy_name="read-users", document=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
    client.force_login(reader)
    return client


def test_the_mfa_container_is_denied_at_list_mfa_devices_for_a_user_reader(user_reader_client,
                                                                            alice):
    response = user_reader_client.get("/iam/users/details/alice/mfa")
    assert response.status_code == 403
    assert "iam:ListMFADevices" in response.content.decode()
    assert last_event("GetUser").error_code == ""
    assert last_event("ListMFADevices").error_code == "AccessDenied"


@pytest.mark.parametrize("path", ["mfa", "mfa/assign", "mfa/remove"])
def test_a_denied_caller_cannot_tell_whether_a_user_exists(nobody_client, alice, path):
    """Threat: user-name probing. Refused the same way for a real and a made-up name."""
    real = nobody_client.get(f"/iam/users/details/alice/{path}")
    ghost = nobody_client.get(f"/iam/users/details/ghost/{path}")
    assert real.status_code == ghost.status_code == 403
    assert [e.error_code for e in AuditEvent.objects.filter(event_name="GetUser")] == [
        "AccessDenied", "AccessDenied"]
    assert not AuditEvent.objects.exclude(event_name="GetUser").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/iam/users/details/alice/mfa",
                                 "/iam/users/details/alice/mfa/assign",
                                 "/iam/users/details/alice/mfa/remove"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/signin?next={url}"


def test_the_users_security_credentials_tab_includes_the_mfa_container(signed_in, alice):
    html = signed_in.get("/iam/users/details/alice/security-credentials").content.decode()
    assert "Multi-factor authentication (MFA) (0)" in names(html, "h2")
    assign_link = [e for e in elements(html, "a") if e["text"] == "Assign MFA device"][0]
    assert assign_link["attrs"]["href"] == ("/iam/users/details/alice/mfa/assign?next="
                                            "/iam/users/details/alice/security-credentials")


def test_an_unknown_user_is_not_found(signed_in):
    response = signed_in.get("/iam/users/details/ghost/mfa")
    assert response.status_code == 404
    assert "The user with name ghost cannot be found." in response.content.decode()


# --- Assign MFA device ----------------------------------------------------------------------------

def test_assign_asks_for_a_device_name_named_after_the_user(signed_in, alice):
    html = signed_in.get("/iam/users/details/alice/mfa/assign").content.decode()
    assert names(html, "h1") == ["Select MFA device"]
    assert elements(html, "input", name="device_name")[0]["attrs"]["value"] == "alice"
    assert "Authenticator app" in names(html, "label")
    assert names(html, "button")[-1] == "Next"


def test_creating_a_device_shows_its_secret_once_and_records_no_secret(signed_in, alice):
    response = assign(signed_in)
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert names(html, "h1") == ["Set up device"]
    device = MFADevice.objects.get(user=alice)
    secret = device.secret()
    assert secret in html
    qr = elements(html, "img")[0]["attrs"]
    assert qr["src"].startswith("data:image/svg+xml")
    assert qr["alt"] == f"QR code of the MFA device {device.serial_number}"
    assert names(html, "label")[-2:] == ["MFA code 1", "MFA code 2"]
    event = last_event("CreateVirtualMFADevice")
    assert event.error_code == ""
    assert event.request_parameters == {"virtualMFADeviceName": "alice", "path": "/"}
    assert event.response_elements == {"virtualMFADevice": {
        "serialNumber": "arn:aws:iam::111122223333:mfa/alice"}}
    assert secret not in str(event.as_record())
    # Not shown again, nor stored in the clear.
    assert secret not in signed_in.get("/iam/users/details/alice/mfa").content.decode()
    assert not device.enabled
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_wrapped FROM grants_mfadevice")
        stored = bytes(cursor.fetchone()[0])
    assert secret.encode() not in stored
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) not in stored


def test_two_consecutive_codes_enable_the_device(signed_in, alice):
    assign(signed_in)
    secret = MFADevice.objects.get(user=alice).secret()
    response = enable(signed_in, secret, next="/iam/users/details/alice/mfa")
    assert response.status_code == 302
    assert response["Location"] == "/iam/users/details/alice/mfa"
    device = MFADevice.objects.get(user=alice)
    assert device.enabled and device.enabled_at is not None
    event = last_event("EnableMFADevice")
    assert event.error_code == ""
    assert event.request_parameters == {"userName": "alice",
                                        "serialNumber": device.serial_number}
    page = signed_in.get("/iam/users/details/alice/mfa")
    html = page.content.decode()
    assert "MFA device assigned to user alice." in " ".join(flashes(page))
    assert "Multi-factor authentication (MFA) (1)" in names(html, "h2")
    assert device.serial_number in html
    assert "Remove MFA device of alice" in names(html, "a")
    # From now on, sign-in asks for a code.
    visitor = Client()
    response = visitor.post("/signin", {"account": "example", "username": "alice",
                                        "password": PASSWORD})
    assert names(response.content.decode(), "h1") == ["Multi-factor authentication"]


def test_wrong_codes_do_not_enable_and_the_secret_is_not_shown_again(signed_in, alice):
    assign(signed_in)
    secret = MFADevice.objects.get(user=alice).secret()
    now = mfa.current_step()
    # Two codes that are not consecutive (the same code twice).
    code = mfa.totp_code(secret, now)
    response = signed_in.post("/iam/users/details/alice/mfa/enable",
                              {"code_1": code, "code_2": code})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Authentication code for device is not valid." in html
    assert secret not in html
    assert "start over" in names(html, "a")
    assert not MFADevice.objects.get(user=alice).enabled
    assert last_event("EnableMFADevice").error_code == "InvalidAuthenticationCode"


def test_codes_that_are_not_six_digits_are_a_form_error(signed_in, alice):
    assign(signed_in)
    response = signed_in.post("/iam/users/details/alice/mfa/enable",
                              {"code_1": "12", "code_2": "x"})
    assert response.status_code == 400
    assert "Enter the 6-digit code from your authenticator app." in response.content.decode()
    assert last_event("EnableMFADevice") is None


def test_assigning_again_replaces_a_device_that_was_never_enabled(signed_in, alice):
    assign(signed_in)
    first = MFADevice.objects.get(user=alice).secret()
    assign(signed_in, device_name="alice-phone")
    device = MFADevice.objects.get(user=alice)
    assert device.serial_number.endswith(":mfa/alice-phone")
    assert device.secret() != first


def test_a_second_device_is_refused_while_one_is_enabled(signed_in, alice):
    assign(signed_in)
    enable(signed_in, MFADevice.objects.get(user=alice).secret())
    response = assign(signed_in, device_name="another")
    assert response.status_code == 400
    assert "already has an MFA device" in response.content.decode()
    assert last_event("CreateVirtualMFADevice").error_code == "LimitExceeded"


def test_a_device_name_with_markup_is_refused_and_shown_inert(signed_in, alice):
    response = assign(signed_in, device_name='<script>alert("x")</script>')
    html = response.content.decode()
    assert response.status_code == 400
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert last_event("CreateVirtualMFADevice").error_code == "ValidationError"
    assert not MFADevice.objects.exists()


def test_assign_is_denied_without_iam_permissions(nobody_client, alice):
    response = assign(nobody_client)
    assert response.status_code == 403
    assert "iam:GetUser" in response.content.decode()
    assert last_event("GetUser").error_code == "AccessDenied"
    assert last_event("CreateVirtualMFADevice") is None
    assert not MFADevice.objects.exists()


def test_enable_is_denied_without_iam_permissions(admin, account, alice):
    admin_client, nobody = Client(), Client()
    admin_client.force_login(admin)
    nobody.force_login(make_user(account, "nobody"))
    assign(admin_client)
    enabled_before = last_event("EnableMFADevice")
    response = enable(nobody, MFADevice.objects.get(user=alice).secret())
    assert response.status_code == 403
    assert last_event("GetUser").error_code == "AccessDenied"
    assert last_event("EnableMFADevice") == enabled_before
    assert not MFADevice.objects.get(user=alice).enabled


def test_assign_needs_a_csrf_token(admin, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert assign(client).status_code == 403
    assert not MFADevice.objects.exists()


def test_the_return_page_is_never_off_site(signed_in, alice):
    assign(signed_in)
    secret = MFADevice.objects.get(user=alice).secret()
    response = enable(signed_in, secret, next="https://evil.example/phish")
    assert response["Location"] == "/iam/users/details/alice/mfa"


# --- Remove -------------------------------------------------------------------------------------

@pytest.fixture
def alice_with_device(signed_in, alice):
    assign(signed_in)
    enable(signed_in, MFADevice.objects.get(user=alice).secret())
    return alice


def test_remove_asks_for_confirmation_then_deactivates_and_deletes(signed_in,
                                                                   alice_with_device):
    page = signed_in.get("/iam/users/details/alice/mfa/remove")
    html = page.content.decode()
    assert names(html, "h1") == ["Remove MFA device?"]
    assert "arn:aws:iam::111122223333:mfa/alice" in html
    response = signed_in.post("/iam/users/details/alice/mfa/remove")
    assert response.status_code == 302
    assert not MFADevice.objects.filter(user=alice_with_device).exists()
    assert last_event("DeactivateMFADevice").error_code == ""
    deleted = last_event("DeleteVirtualMFADevice")
    assert deleted.error_code == ""
    assert deleted.request_parameters == {"serialNumber": "arn:aws:iam::111122223333:mfa/alice"}
    after = signed_in.get(response["Location"])
    assert "MFA device removed from user alice." in " ".join(flashes(after))
    visitor = Client()
    visitor.post("/signin", {"account": "example", "username": "alice", "password": PASSWORD})
    assert "_auth_user_id" in visitor.session


def test_remove_is_denied_without_iam_permissions(account, alice_with_device):
    nobody = Client()
    nobody.force_login(make_user(account, "nobody"))
    response = nobody.post("/iam/users/details/alice/mfa/remove")
    assert response.status_code == 403
    assert last_event("GetUser").error_code == "AccessDenied"
    assert MFADevice.objects.get(user=alice_with_device).enabled


def test_the_remove_confirmation_refused_to_list_devices_is_the_403_page(user_reader_client,
                                                                         alice_with_device):
    response = user_reader_client.get("/iam/users/details/alice/mfa/remove")
    assert response.status_code == 403
    html = response.content.decode()
    assert "iam:ListMFADevices" in html and "Remove MFA device?" not in names(html, "h1")
    assert last_event("ListMFADevices").error_code == "AccessDenied"
    assert MFADevice.objects.get(user=alice_with_device).enabled


def test_remove_needs_a_csrf_token(admin, alice_with_device):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post("/iam/users/details/alice/mfa/remove").status_code == 403
    assert MFADevice.objects.filter(user=alice_with_device).exists()


# --- TOTP itself ----------------------------------------------------------------------------------

def test_codes_follow_rfc_6238():
    """RFC 6238 appendix B, SHA-1, T = 59 s (step 1): 94287082, of which the app shows the
    last six digits."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert mfa.totp_code(secret, 1) == "287082"


def test_only_codes_of_the_neighbouring_steps_are_accepted():
    secret = mfa.new_totp_secret()
    now = mfa.current_step()
    for step in (now - 1, now, now + 1):
        assert mfa.matching_step(secret, mfa.totp_code(secret, step), after_step=0) == step
    for step in (now - 3, now + 3):
        code = mfa.totp_code(secret, step)
        if code not in {mfa.totp_code(secret, s) for s in (now - 1, now, now + 1)}:
            assert mfa.matching_step(secret, code, after_step=0) is None
    assert mfa.matching_step(secret, mfa.totp_code(secret, now), after_step=now) is None
