"""Switch role from an MFA session: the trust policy is evaluated with aws:MultiFactorAuthPresent
(true for a console session signed in with an MFA code, false otherwise), so a trust policy
that demands MFA lets MFA sessions switch and refuses the others (403, a refused AssumeRole)."""

import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import mfa, services, sts
from grants.models import SessionCredential
from grants.principals import Caller, Principal
from grants.switch_role import SESSION_KEY
from tests.conftest import REGION, caller_for, make_user
from tests.web.console_helpers import enabled_mfa_device

PASSWORD = "correct horse battery"


def mfa_trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def secret(alice):
    return enabled_mfa_device(alice)


@pytest.fixture
def guarded_role(admin, alice):
    return services.role_create(caller=caller_for(admin), name="guarded",
                                trust_policy=mfa_trust(alice.arn))


def switch(client):
    return client.post("/iam/switch-role", {"account": "example", "role": "guarded",
                                            "display_name": ""})


def last_assume_role() -> AuditEvent:
    return AuditEvent.objects.filter(event_name="AssumeRole").latest("id")


def test_an_mfa_session_may_switch_to_a_role_that_demands_mfa(alice, secret, guarded_role):
    client = Client()
    client.post("/signin", {"account": "example", "username": "alice", "password": PASSWORD})
    client.post("/signin", {"step": "mfa",
                            "mfa_code": mfa.totp_code(secret, mfa.current_step())})
    response = switch(client)
    assert response.status_code == 302
    assert client.session[SESSION_KEY]["role_name"] == "guarded"
    assert last_assume_role().error_code == ""
    assert SessionCredential.objects.filter(role=guarded_role).count() == 1


def test_a_session_without_mfa_is_refused_a_role_that_demands_mfa(alice, guarded_role):
    client = Client()
    client.post("/signin", {"account": "example", "username": "alice", "password": PASSWORD})
    response = switch(client)
    assert response.status_code == 403
    assert "sts:AssumeRole" in response.content.decode()
    assert last_assume_role().error_code == "AccessDenied"
    assert SESSION_KEY not in client.session
    assert not SessionCredential.objects.exists()


@pytest.mark.parametrize("mfa_authenticated", [True, False])
def test_assume_role_evaluates_the_callers_mfa(alice, guarded_role, mfa_authenticated):
    caller = Caller(principal=Principal.for_user(alice), region=REGION, source="console",
                    source_ip="192.0.2.10", user_agent="pytest",
                    mfa_authenticated=mfa_authenticated)
    if mfa_authenticated:
        issued = sts.role_assume(caller=caller, role_arn=guarded_role.arn,
                                 session_name="alice")
        assert issued.session.role == guarded_role
    else:
        with pytest.raises(sts.AccessDeniedError):
            sts.role_assume(caller=caller, role_arn=guarded_role.arn, session_name="alice")
