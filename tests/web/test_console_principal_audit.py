"""A role's and a user's Audit tab: the event history's search (its filter bar without the user
filter, its table, its download), scoped to the principal. A role is scoped to its sessions, so
an IAM user who happens to share the role's name is not mixed in.

Shown allowed (admin), denied (a principal who may read IAM but not cloudtrail:LookupEvents:
403, recorded) and anonymous (sent to sign-in); every read is one LookupEvents event whose
lookupAttributes name the scope.
"""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import services, sts
from grants.principals import Caller, Principal
from keys import services as key_services
from kmsconsole.errors import AccessDeniedError
from tests.conftest import REGION, caller_for, make_user
from tests.web.console_helpers import elements, table_rows

pytestmark = pytest.mark.django_db


def trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


def allow(actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def internal(account) -> Caller:
    return Caller.scheduler(account_id=account.id, region=REGION)


def session_caller(alice, role) -> Caller:
    """A Caller acting as a session of `role`, assumed by alice (what STS and Switch role do)."""
    issued = sts.role_assume(caller=caller_for(alice), role_arn=role.arn, session_name="night")
    return Caller(principal=Principal.for_session(issued.session), region=REGION)


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def ops(admin, alice):
    role = services.role_create(caller=caller_for(admin), name="ops",
                                trust_policy=trust(alice.arn))
    services.role_put_inline_policy(caller=caller_for(admin), role=role, policy_name="kms",
                                    document=allow(["kms:ListKeys", "kms:CreateKey"]))
    return role


@pytest.fixture
def ops_activity(account, alice, ops):
    """The role's sessions list keys and create one; an IAM user also named ops lists keys."""
    as_role = session_caller(alice, ops)
    key_services.key_list(caller=as_role)
    key_services.key_create(caller=as_role, description="made by ops")
    namesake = make_user(account, "ops")
    with pytest.raises(AccessDeniedError):  # recorded with user name "ops" all the same
        key_services.key_list(caller=caller_for(namesake))
    return as_role


def test_the_role_audit_tab_shows_only_its_sessions_requests(signed_in, ops, ops_activity):
    response = signed_in.get(f"/iam/roles/details/{ops.name}/audit")
    html = response.content.decode()
    assert response.status_code == 200
    rows = table_rows(html.split('id="event-table"')[1])
    assert [row[0] for row in rows] == ["CreateKey", "ListKeys"]
    assert all(row[2] == "ops" for row in rows)
    namesakes = AuditEvent.objects.filter(principal_arn__startswith="arn:aws:iam::",
                                          user_name="ops", event_name="ListKeys")
    assert namesakes.count() == 1  # the IAM user's request exists, and is not on the role's tab
    assert last_event("LookupEvents").request_parameters["lookupAttributes"] == [
        {"attributeKey": "PrincipalArn", "attributeValue": ops.arn}]


def test_the_role_audit_tab_has_the_event_history_filters_but_no_user_filter(signed_in, ops,
                                                                             ops_activity):
    response = signed_in.get(f"/iam/roles/details/{ops.name}/audit",
                             {"event_name": "CreateKey"})
    html = response.content.decode()
    rows = table_rows(html.split('id="event-table"')[1])
    assert [row[0] for row in rows] == ["CreateKey"]
    assert elements(html, "input", name="event_name")
    assert not elements(html, "input", name="user")
    scoped = urlencode({"event_name": "CreateKey", "user": ops.arn})
    assert elements(html, "a", href=f"/cloudtrail/events?{scoped}")  # Open in Event history


def test_a_filter_or_page_turn_with_htmx_gets_the_table_only(signed_in, ops, ops_activity):
    response = signed_in.get(f"/iam/roles/details/{ops.name}/audit", HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<section id="event-table"')


def test_the_download_keeps_the_role_scope(signed_in, ops, ops_activity):
    response = signed_in.get("/cloudtrail/events/download",
                             {"user": ops.arn, "format": "jsonl"})
    records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert sorted(record["eventName"] for record in records) == ["CreateKey", "ListKeys"]
    assert {record["userIdentity"]["type"] for record in records} == {"AssumedRole"}


def test_an_unusable_filter_is_a_message_not_a_500(signed_in, ops):
    response = signed_in.get(f"/iam/roles/details/{ops.name}/audit", {"next": "forged"})
    assert response.status_code == 400
    assert "InvalidNextTokenException" in response.content.decode()


def test_the_role_audit_tab_is_refused_without_cloudtrail_lookup(client, account, ops):
    reader = make_user(account, "reader")
    services.user_put_inline_policy(caller=internal(account), user=reader, policy_name="r",
                                    document=allow(["iam:Get*", "iam:List*"]))
    client.force_login(reader)
    response = client.get(f"/iam/roles/details/{ops.name}/audit")
    assert response.status_code == 403
    assert "cloudtrail:LookupEvents" in response.content.decode()
    assert last_event("LookupEvents").error_code == "AccessDeniedException"


def test_the_role_audit_tab_sends_anonymous_visitors_to_sign_in(ops):
    response = Client().get(f"/iam/roles/details/{ops.name}/audit")
    assert response.status_code == 302 and "/signin" in response["Location"]


def test_the_user_audit_tab_filters_within_the_user(signed_in, account, alice):
    services.user_put_inline_policy(caller=internal(account), user=alice, policy_name="kms",
                                    document=allow(["kms:ListKeys"]))
    key_services.key_list(caller=caller_for(alice))
    with pytest.raises(AccessDeniedError):
        key_services.key_create(caller=caller_for(alice))
    response = signed_in.get(f"/iam/users/details/{alice.name}/audit", {"denied_only": "true"})
    html = response.content.decode()
    rows = table_rows(html.split('id="event-table"')[1])
    assert [row[0] for row in rows] == ["CreateKey"]
    assert not elements(html, "input", name="user")
