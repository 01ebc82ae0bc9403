"""The policy simulator page: pick a user or role, an action, a key (id, ARN or alias) and an
encryption context -> Allowed or Denied with the decision's explanation (the statement that
allowed, the missing permission, the explicit Deny, the condition that failed). The simulation
is recorded as IAM's read-only SimulatePrincipalPolicy; the simulated request is not recorded.
Denied without iam:SimulatePrincipalPolicy; anonymous visitors are sent to sign in."""

import json

import pytest

from audit.models import AuditEvent
from grants import services
from grants.principals import Caller
from tests.conftest import REGION, make_user
from tests.web.console_helpers import create_key, elements, names


@pytest.fixture
def operator(account):
    return Caller.scheduler(account_id=account.id, region=REGION)


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments")


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def simulate(client, principal, action="kms:Encrypt", key_id="alias/payments", **extra):
    return client.get("/iam/policy-simulator", {"principal": principal.arn, "action": action,
                                                "key_id": key_id, **extra})


def result_section(response) -> str:
    return response.content.decode().split('id="result-title"', 1)[1]


def result_lines(response) -> list[str]:
    """The explanation's lines (and failed conditions) of the Result container."""
    return [" ".join(e["text"].split()) for e in elements(result_section(response), "li")]


def verdict(response) -> str:
    """The Result's status indicator: Allowed, Explicitly denied or Implicitly denied."""
    return [" ".join(e["text"].split()) for e in elements(result_section(response), "span")
            if "status" in e["attrs"].get("class", "").split()][0]


def test_the_page_offers_users_roles_and_kms_actions(signed_in, alice, operator):
    services.role_create(caller=operator, name="app", trust_policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "sts:AssumeRole"}))
    response = signed_in.get("/iam/policy-simulator")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Policy simulator"]
    options = names(html, "option")
    assert {"User: admin", "User: alice", "Role: app", "kms:Encrypt", "kms:ReEncryptFrom",
            "kms:CreateKey"} <= set(options)
    assert {"User or role", "Action", "Other action", "Key", "Encryption context"} <= set(
        names(html, "label"))
    assert AuditEvent.objects.filter(event_name="ListUsers", read_only=True).exists()
    assert AuditEvent.objects.filter(event_name="ListRoles", read_only=True).exists()
    assert "Policy simulator" in names(html, "a")


def test_a_principal_without_permissions_is_denied_with_the_missing_permission(signed_in, key,
                                                                                alice):
    response = simulate(signed_in, alice)
    assert response.status_code == 200
    assert verdict(response) == "Implicitly denied"
    assert ("Denied: no statement allows kms:Encrypt: no identity-based policy allows the "
            "kms:Encrypt action.") in result_lines(response)
    event = AuditEvent.objects.get(event_name="SimulatePrincipalPolicy")
    record = event.as_record()
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["readOnly"] is True
    assert record["requestParameters"]["policySourceArn"] == alice.arn
    assert record["requestParameters"]["actionNames"] == ["kms:Encrypt"]
    # The simulated request did not happen.
    assert not AuditEvent.objects.filter(event_name="Encrypt").exists()


def test_an_allow_names_the_statement_of_the_key_policy_and_the_identity_policy(signed_in, key,
                                                                                 admin):
    response = simulate(signed_in, admin)
    assert verdict(response) == "Allowed"
    lines = result_lines(response)
    assert ('Allowed by statement "Enable IAM User Permissions" (Statement[0]) of the key '
            'policy.') in lines
    assert ("Allowed by Statement[0] of arn:aws:iam::aws:policy/AdministratorAccess."
            in lines)
    assert key.arn in response.content.decode()


def test_an_explicit_deny_names_the_denying_statement(signed_in, key, admin, operator):
    services.user_put_inline_policy(caller=operator, user=admin, policy_name="no-encrypt",
                                    document=policy({"Sid": "NoEncrypt", "Effect": "Deny",
                                                     "Action": "kms:Encrypt",
                                                     "Resource": "*"}))
    response = simulate(signed_in, admin)
    assert verdict(response) == "Explicitly denied"
    assert ('Explicitly denied by statement "NoEncrypt" (Statement[0]) of '
            f'{admin.arn} inline policy no-encrypt.') in result_lines(response)


def test_a_failed_condition_is_shown_and_the_context_satisfies_it(signed_in, key, alice,
                                                                  operator):
    services.user_put_inline_policy(
        caller=operator, user=alice, policy_name="payments-only",
        document=policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                         "Condition": {"StringEquals": {
                             "kms:EncryptionContext:app": "payments"}}}))
    response = simulate(signed_in, alice)
    html = response.content.decode()
    assert verdict(response) == "Implicitly denied"
    assert "Conditions that failed" in names(html, "h3")
    assert "StringEquals kms:EncryptionContext:app" in html
    response = simulate(signed_in, alice, encryption_context="app=payments\n")
    assert verdict(response) == "Allowed"


def test_a_role_is_simulated_as_a_session_of_the_role(signed_in, key, operator):
    role = services.role_create(caller=operator, name="app", trust_policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "sts:AssumeRole"}))
    response = simulate(signed_in, role)
    assert verdict(response) == "Implicitly denied"
    services.role_put_inline_policy(caller=operator, role=role, policy_name="use",
                                    document=policy({"Effect": "Allow",
                                                     "Action": "kms:Encrypt",
                                                     "Resource": "*"}))
    response = simulate(signed_in, role, key_id=str(key.id))
    assert verdict(response) == "Allowed"
    assert f"Allowed by Statement[0] of {role.arn} inline policy use." in result_lines(response)


def test_a_custom_action_and_no_key_decide_on_identity_policies(signed_in, admin, alice):
    response = simulate(signed_in, alice, action="", custom_action="kms:CreateKey", key_id="")
    assert verdict(response) == "Implicitly denied"
    response = simulate(signed_in, admin, action="", custom_action="kms:CreateKey", key_id="")
    assert verdict(response) == "Allowed"
    assert "*" in [e["text"] for e in elements(response.content.decode(), "dd")]


def test_mfa_can_be_simulated(signed_in, key, alice, operator):
    services.user_put_inline_policy(
        caller=operator, user=alice, policy_name="mfa",
        document=policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}))
    assert verdict(simulate(signed_in, alice)) == "Implicitly denied"
    assert verdict(simulate(signed_in, alice, mfa="on")) == "Allowed"


@pytest.mark.parametrize("fields,message", [
    ({"key_id": "alias/nothing"}, "NotFoundException"),
    ({"encryption_context": "no equals sign"}, "Line 1 is not key=value."),
    ({"action": "", "custom_action": "not an action"}, "An action is a service prefix"),
    ({"action": ""}, "Choose an action or enter one."),
])
def test_bad_input_is_explained_on_the_form(signed_in, key, alice, fields, message):
    response = simulate(signed_in, alice, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_markup_in_the_form_is_rendered_inert(signed_in, key, alice):
    response = simulate(signed_in, alice, key_id='<img src=x onerror="alert(1)">',
                        encryption_context='app=<script>alert(1)</script>')
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert '<img src=x onerror="alert(1)">' not in html


def test_simulating_needs_iam_simulate_principal_policy(client, account, key, alice, operator):
    lister = make_user(account, "lister")
    services.user_put_inline_policy(caller=operator, user=lister, policy_name="list",
                                    document=policy({"Effect": "Allow",
                                                     "Action": ["iam:ListUsers",
                                                                "iam:ListRoles"],
                                                     "Resource": "*"}))
    client.force_login(lister)
    response = simulate(client, alice)
    assert response.status_code == 403
    assert "iam:SimulatePrincipalPolicy" in response.content.decode()
    event = AuditEvent.objects.get(event_name="SimulatePrincipalPolicy")
    assert event.error_code == "AccessDenied"


def test_the_page_is_denied_without_iam_permissions(client, account):
    client.force_login(make_user(account, "nobody"))
    response = client.get("/iam/policy-simulator")
    assert response.status_code == 403
    assert "iam:ListUsers" in response.content.decode()
    assert AuditEvent.objects.get(event_name="ListUsers").error_code == "AccessDenied"


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/iam/policy-simulator")
    assert response.status_code == 302
    assert response["Location"] == "/signin?next=/iam/policy-simulator"
