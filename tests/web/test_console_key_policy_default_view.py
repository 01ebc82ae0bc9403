"""The Key policy tab's default view (kms-spec.md 8.3) and the header's Edit (description).

A key whose policy is the console's default policy (as the Create key wizard makes it) shows
Key administrators, Key deletion, Key users and Other AWS accounts; every change regenerates the
policy with console_default_policy and saves it through PutKeyPolicy as the signed-in user
(audited, source console). A hand-edited policy only has the policy view."""

import json

import pytest

from audit.models import AuditEvent
from grants import services as iam
from grants.models import Account, User
from grants.policy.defaults import console_default_policy
from keys import services
from keys.models import Key
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import create_key, elements, names

XSS = '<script>alert("x")</script>'


@pytest.fixture
def alice(account):
    return make_user(account, "alice")


@pytest.fixture
def bob(account):
    return make_user(account, "bob")


@pytest.fixture
def worker(admin):
    return iam.role_create(caller=caller_for(admin), name="worker", trust_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": admin.arn}}]}))


def wizard_policy(account_id, **kwargs) -> str:
    kwargs.setdefault("admins", [])
    kwargs.setdefault("users", [])
    kwargs.setdefault("other_accounts", [])
    kwargs.setdefault("key_type", "SYMMETRIC_ENCRYPT")
    return console_default_policy(account_id, **kwargs)


@pytest.fixture
def key(admin, alice, bob):
    return create_key(admin, alias="alias/payments", policy=wizard_policy(
        admin.account_id, admins=[alice.arn], users=[bob.arn]))


def policy_of(key) -> str:
    return Key.objects.get(pk=key.pk).policy


def url(key, suffix="/policy") -> str:
    return f"/kms/keys/{key.id}{suffix}"


def put_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_name="PutKeyPolicy").order_by("id"))


def change(client, key, **data):
    return client.post(url(key, "/policy/default"), data)


def assert_saved_as(key, **kwargs):
    assert policy_of(key) == wizard_policy(Key.objects.get(pk=key.pk).account_id, **kwargs)
    event = put_events()[-1]
    assert event.source == "console" and event.error_code in ("", None)
    assert event.request_parameters["policy"] == policy_of(key)


# --- which view ------------------------------------------------------------------------------

def test_a_wizard_policy_shows_the_default_view(signed_in, key, alice, bob):
    for path in ("", "/policy"):
        response = signed_in.get(url(key, path))
        html = response.content.decode()
        assert response.status_code == 200
        headings = names(html, "h2")
        for heading in ("Key administrators (1)", "Key deletion", "Key users (1)",
                        "Other AWS accounts (0)"):
            assert heading in headings
        assert elements(html, "a", href=url(key) + "?view=policy")[0]["text"] == \
            "Switch to policy view"
        assert not elements(html, "pre")
        assert names(html, "button").count("Remove") == 3
        assert names(html, "button").count("Add") == 2
        assert "Add other AWS accounts" in names(html, "button")
        assert "Select alice" in names(html, "input") and "Select bob" in names(html, "input")
        deletion = elements(html, "input", name="allow_admins_to_delete")[0]
        assert "checked" in deletion["attrs"]
        assert "Allow key administrators to delete this key" in names(html, "label")
        # Add offers the account's users and roles not in the table yet.
        admin_options = [o["attrs"]["value"] for o in
                         html_options(html, "add-admin")]
        assert alice.arn not in admin_options and bob.arn in admin_options


def html_options(html: str, select_id: str) -> list[dict]:
    select = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return elements(select, "option")


def test_switching_between_the_views(signed_in, key):
    html = signed_in.get(url(key) + "?view=policy").content.decode()
    assert json.loads(elements(html, "pre")[0]["text"]) == json.loads(policy_of(key))
    assert "Switch to default view" in [e["text"] for e in elements(html, "a", href=url(key))]
    assert elements(html, "a", href=url(key, "/policy/edit"))[0]["text"] == "Edit"
    assert "Key administrators (1)" not in names(html, "h2")


def test_a_hand_edited_policy_only_has_the_policy_view(signed_in, key):
    document = json.loads(policy_of(key))
    document["Statement"][2]["Action"].append("kms:GenerateDataKeyPair*")
    services.key_put_policy(caller=caller_for(key_owner(key)), key_id=str(key.id),
                            policy=json.dumps(document))
    for query in ("", "?view=policy"):
        html = signed_in.get(url(key) + query).content.decode()
        assert elements(html, "pre")
        assert "Switch to default view" not in names(html, "a")
        assert "Switch to policy view" not in names(html, "a")
        assert "The default view is not available" in html
    # A forged default-view post changes nothing.
    before = policy_of(key)
    response = change(signed_in, key, action="remove_user", principal=document[
        "Statement"][2]["Principal"]["AWS"])
    assert response.status_code == 302 and response["Location"] == url(key) + "?view=policy"
    assert policy_of(key) == before


def key_owner(key):
    return User.objects.get(name="admin", account_id=key.account_id)


def test_a_key_created_with_the_api_default_has_only_the_policy_view(signed_in, admin):
    key = create_key(admin)
    html = signed_in.get(url(key)).content.decode()
    assert elements(html, "pre") and "Switch to default view" not in names(html, "a")


def test_an_asymmetric_wizard_key_has_the_default_view(signed_in, admin, alice):
    key = create_key(admin, key_spec="RSA_2048", key_usage="SIGN_VERIFY", policy=wizard_policy(
        admin.account_id, users=[alice.arn], key_type="SIGN_VERIFY"))
    html = signed_in.get(url(key)).content.decode()
    assert "Key users (1)" in names(html, "h2")
    # The symmetric template is not this key's template.
    key2 = create_key(admin, key_spec="RSA_2048", key_usage="SIGN_VERIFY", policy=wizard_policy(
        admin.account_id, users=[alice.arn]))
    assert "Key users (1)" not in names(signed_in.get(url(key2)).content.decode(), "h2")


# --- changes ---------------------------------------------------------------------------------

def test_add_and_remove_key_administrators(signed_in, key, alice, bob, worker):
    AuditEvent.objects.all().delete()
    response = change(signed_in, key, action="add_admin", principal=worker.arn)
    assert response.status_code == 302 and response["Location"] == url(key)
    assert_saved_as(key, admins=[alice.arn, worker.arn], users=[bob.arn])
    html = signed_in.get(url(key)).content.decode()
    assert "Key administrators (2)" in names(html, "h2")
    assert "The key policy was saved." in html
    change(signed_in, key, action="remove_admin", principal=[alice.arn, worker.arn])
    assert_saved_as(key, users=[bob.arn])
    assert len(put_events()) == 2


def test_add_and_remove_key_users(signed_in, key, alice, bob, worker):
    change(signed_in, key, action="add_user", principal=worker.arn)
    assert_saved_as(key, admins=[alice.arn], users=[bob.arn, worker.arn])
    change(signed_in, key, action="remove_user", principal=bob.arn)
    assert_saved_as(key, admins=[alice.arn], users=[worker.arn])
    change(signed_in, key, action="remove_user", principal=worker.arn)
    assert_saved_as(key, admins=[alice.arn])


def test_toggling_key_deletion(signed_in, key, alice, bob):
    change(signed_in, key, action="set_deletion")  # the checkbox unchecked
    assert_saved_as(key, admins=[alice.arn], users=[bob.arn], allow_admins_to_delete=False)
    html = signed_in.get(url(key)).content.decode()
    assert "checked" not in elements(html, "input", name="allow_admins_to_delete")[0]["attrs"]
    assert "kms:ScheduleKeyDeletion" not in policy_of(key)
    change(signed_in, key, action="set_deletion", allow_admins_to_delete="on")
    assert_saved_as(key, admins=[alice.arn], users=[bob.arn])
    # Adding an administrator keeps the setting.
    change(signed_in, key, action="set_deletion")
    change(signed_in, key, action="add_admin", principal=bob.arn)
    assert_saved_as(key, admins=[alice.arn, bob.arn], users=[bob.arn],
                    allow_admins_to_delete=False)


def test_add_and_remove_other_aws_accounts(signed_in, key, alice, bob):
    Account.objects.create(id="777788889999")
    response = change(signed_in, key, action="add_account", account_id=" 777788889999 ")
    assert response.status_code == 302
    assert_saved_as(key, admins=[alice.arn], users=[bob.arn], other_accounts=["777788889999"])
    html = signed_in.get(url(key)).content.decode()
    assert "Other AWS accounts (1)" in names(html, "h2")
    assert "arn:aws:iam::777788889999:root" in html
    change(signed_in, key, action="remove_account", account_id="777788889999")
    assert_saved_as(key, admins=[alice.arn], users=[bob.arn])


@pytest.mark.parametrize("data, message", [
    ({"action": "add_account", "account_id": "12345"}, "An AWS account ID is 12 digits."),
    ({"action": "add_account", "account_id": "111122223333"}, "This is the key&#x27;s own account"),
    ({"action": "add_admin", "principal": "arn:aws:iam::444455556666:user/x"},
     "Choose an IAM user or role of this account to add."),
    ({"action": "remove_user"}, "Select the key users to remove."),
    ({"action": "remove_account"}, "Select the AWS accounts to remove."),
    ({"action": "bogus"}, "Choose a change to the key policy."),
])
def test_invalid_changes_are_shown_and_change_nothing(signed_in, key, data, message):
    before = policy_of(key)
    response = change(signed_in, key, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert policy_of(key) == before and not put_events()


def test_an_account_that_does_not_exist_is_refused_by_the_service(signed_in, key):
    before = policy_of(key)
    response = change(signed_in, key, action="add_account", account_id="999999999999")
    html = response.content.decode()
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in html and "invalid principals" in html
    assert 'value="999999999999"' in html
    assert policy_of(key) == before
    assert put_events()[-1].error_code == "MalformedPolicyDocumentException"


def test_the_lockout_check_is_shown_on_the_page(client, admin, account):
    # carol administers the key through the key policy only (no identity policy): removing
    # herself would lock her out, so PutKeyPolicy refuses it.
    carol = make_user(account, "carol")
    key = create_key(admin, policy=wizard_policy(account.id, admins=[carol.arn]))
    client.force_login(carol)
    assert "Key administrators (1)" in names(client.get(url(key)).content.decode(), "h2")
    response = change(client, key, action="remove_admin", principal=carol.arn)
    html = response.content.decode()
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in html
    assert "Key administrators (1)" in names(html, "h2")
    assert carol.arn in policy_of(key)


# --- denied and anonymous --------------------------------------------------------------------

def test_denied_users_see_the_explanation_and_nothing_changes(nobody_client, key, bob):
    before = policy_of(key)
    for response in (nobody_client.get(url(key)),
                     change(nobody_client, key, action="remove_user", principal=bob.arn)):
        assert response.status_code == 403
        assert "kms:DescribeKey" in response.content.decode()
    assert policy_of(key) == before


def test_a_reader_cannot_change_the_policy(client, admin, account, key, bob):
    reader = make_user(account, "reader")
    iam.user_put_inline_policy(caller=caller_for(admin), user=reader, policy_name="read",
                               document=json.dumps({"Version": "2012-10-17", "Statement": [{
                                   "Effect": "Allow", "Resource": "*",
                                   "Action": ["kms:Describe*", "kms:Get*", "kms:List*"]}]}))
    client.force_login(reader)
    assert "Key users (1)" in names(client.get(url(key)).content.decode(), "h2")
    before = policy_of(key)
    response = change(client, key, action="remove_user", principal=bob.arn)
    assert response.status_code == 403
    assert "kms:PutKeyPolicy" in response.content.decode()
    assert policy_of(key) == before
    assert put_events()[-1].error_code == "AccessDeniedException"


@pytest.mark.parametrize("method, suffix", [
    ("get", "/policy"), ("post", "/policy/default"), ("get", "/description/edit"),
    ("post", "/description/edit")])
def test_anonymous_users_are_sent_to_sign_in(client, key, method, suffix):
    before = policy_of(key)
    response = getattr(client, method)(url(key, suffix), {"action": "remove_user"})
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert policy_of(key) == before


# --- Edit (description) ----------------------------------------------------------------------

def test_the_header_offers_edit(signed_in, key):
    html = signed_in.get(url(key, "")).content.decode()
    assert elements(html, "a", href=url(key, "/description/edit"))[0]["text"] == "Edit"


def test_editing_the_description(signed_in, key):
    response = signed_in.get(url(key, "/description/edit"))
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Edit description"]
    assert "Description" in names(html, "label")
    assert "Save changes" in names(html, "button")
    response = signed_in.post(url(key, "/description/edit"), {"description": f"Payments {XSS}"})
    assert response.status_code == 302 and response["Location"] == url(key, "")
    assert Key.objects.get(pk=key.pk).description == f"Payments {XSS}"
    event = AuditEvent.objects.filter(event_name="UpdateKeyDescription").order_by("-id").first()
    assert event.source == "console"
    for path in ("", "/description/edit"):
        html = signed_in.get(url(key, path)).content.decode()
        assert XSS not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    # "" clears it.
    signed_in.post(url(key, "/description/edit"), {"description": ""})
    assert Key.objects.get(pk=key.pk).description == ""


def test_the_description_cannot_change_while_pending_deletion(signed_in, admin, key):
    services.key_update_description(caller=caller_for(admin), key_id=str(key.id),
                                    description="before")
    services.key_schedule_deletion(caller=caller_for(admin), key_id=str(key.id),
                                   pending_window_days=7)
    html = signed_in.get(url(key, "/description/edit")).content.decode()
    assert "pending deletion" in html
    response = signed_in.post(url(key, "/description/edit"), {"description": "after"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "KMSInvalidStateException" in html and "pending deletion" in html
    assert Key.objects.get(pk=key.pk).description == "before"


def test_editing_the_description_is_denied(nobody_client, key):
    for response in (nobody_client.get(url(key, "/description/edit")),
                     nobody_client.post(url(key, "/description/edit"), {"description": "x"})):
        assert response.status_code == 403
    assert Key.objects.get(pk=key.pk).description == ""


def test_a_description_too_long_is_shown(signed_in, key):
    response = signed_in.post(url(key, "/description/edit"), {"description": "x" * 8193})
    assert response.status_code == 400
    assert "ValidationException" in response.content.decode()
