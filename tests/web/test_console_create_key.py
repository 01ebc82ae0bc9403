"""The Create key wizard (kms-spec.md 8.2), walked with plain form posts as a browser without
JavaScript would: five steps, Previous keeps entries, errors stay on their step, Finish creates
the key and its alias through one service (audited as CreateKey and CreateAlias), a user without
kms:CreateKey is refused with the explanation, anonymous visitors are sent to sign in."""

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest

from audit.models import AuditEvent
from grants import services as grants_services
from keys.models import Alias, Key
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, caller_for, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

WIZARD = "/kms/keys/create"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
    "Action": "sts:AssumeRole"}]})
XSS = '<script>alert("x")</script>'


@pytest.fixture
def world(admin, account):
    """Besides the admin: a key administrator, a key user and an application role."""
    caller = caller_for(admin)
    return {
        "key_admin": make_user(account, "key-admin"),
        "key_user": make_user(account, "key-user"),
        "role": grants_services.role_create(caller=caller, name="app-role", trust_policy=TRUST),
    }


@pytest.fixture
def signed_in(client, admin, world):
    client.force_login(admin)
    return client


def start(client) -> str:
    """Open the wizard; the run id its steps carry."""
    response = client.get(WIZARD)
    assert response.status_code == 302
    return parse_qs(urlparse(response["Location"]).query)["run"][0]


def step_url(run: str, step: int) -> str:
    return f"{WIZARD}?run={run}&step={step}"


def post(client, run: str, step: int, action: str = "next", **data):
    return client.post(WIZARD, {"run": run, "step": step, "action": action, **data})


def location_step(response) -> int:
    assert response.status_code == 302, response.content.decode()[:2000]
    return int(parse_qs(urlparse(response["Location"]).query)["step"][0])


def walk(client, world, *, configure: dict, alias: str, description="", tags=(),
         admins=("key_admin",), users=("key_user",), other_accounts=()) -> str:
    """Steps 1 to 4 with these entries; the run id, now at Review."""
    run = start(client)
    assert location_step(post(client, run, 1, **configure)) == 2
    keys = [k for k, _ in tags] or [""]
    values = [v for _, v in tags] or [""]
    assert location_step(post(client, run, 2, alias=alias, description=description,
                              tag_key=keys, tag_value=values)) == 3
    admin_arns = [world[name].arn for name in admins]
    user_arns = [world[name].arn for name in users]
    shown = [p.arn for p in world.values()] + [client_user_arn(client)]
    assert location_step(post(client, run, 3, admin=admin_arns, shown=shown,
                              allow_admins_to_delete="on")) == 4
    assert location_step(post(client, run, 4, user=user_arns, shown=shown,
                              other_account=list(other_accounts))) == 5
    return run


def client_user_arn(client) -> str:
    from grants.models import User
    return User.objects.get(pk=client.session["_auth_user_id"]).arn


def review_policy(client, run: str) -> str:
    html = client.get(step_url(run, 5)).content.decode()
    return elements(html, "textarea", id="policy")[0]["text"]


def finish(client, run: str, policy: str | None = None):
    data = {} if policy is None else {"policy": policy}
    return post(client, run, 5, "finish", **(data if policy is not None else {
        "policy": review_policy(client, run)}))


def listed(client) -> dict[str, list[str]]:
    html = client.get("/kms/keys").content.decode()
    return {row[0]: row for row in table_rows(html) if len(row) > 1}


# --- walking the wizard to the end ----------------------------------------------------------

def test_the_wizard_creates_a_symmetric_key_with_alias_tags_and_policy(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"},
               alias="payments", description="payments data", tags=[("team", "payments")])
    response = finish(signed_in, run)
    assert response.status_code == 302 and response["Location"] == "/kms/keys"
    key = Key.objects.get(aliases__name="alias/payments")
    assert (key.key_spec, key.key_usage, key.description) == (
        "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "payments data")
    assert dict(key.tags.values_list("tag_key", "tag_value")) == {"team": "payments"}
    policy = json.loads(key.policy)
    assert policy["Id"] == "key-consolepolicy-3"
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["Allow access for Key Administrators"]["Principal"] == {
        "AWS": world["key_admin"].arn}
    assert "kms:ScheduleKeyDeletion" in statements["Allow access for Key Administrators"][
        "Action"]
    assert statements["Allow use of the key"]["Principal"] == {"AWS": world["key_user"].arn}
    assert "kms:GenerateDataKey*" in statements["Allow use of the key"]["Action"]
    page = signed_in.get("/kms/keys").content.decode()
    assert (f"Your AWS KMS key was created with alias payments and key ID {key.id}."
            in page)
    row = listed(signed_in)["alias/payments"]
    assert row[2:6] == ["Enabled", "Symmetric", "SYMMETRIC_DEFAULT", "Encrypt and decrypt"]


def test_the_wizard_creates_an_asymmetric_rsa_signing_key(signed_in, world, other_account):
    run = walk(signed_in, world, configure={"key_type": "ASYMMETRIC", "key_usage": "SIGN_VERIFY",
                                            "key_spec": "RSA_3072"},
               alias="signer", admins=("role",), users=("key_user", "role"),
               other_accounts=[OTHER_ACCOUNT_ID])
    assert finish(signed_in, run)["Location"] == "/kms/keys"
    key = Key.objects.get(aliases__name="alias/signer")
    assert (key.key_spec, key.key_usage, key.key_state) == ("RSA_3072", "SIGN_VERIFY",
                                                            "Enabled")
    statements = {s["Sid"]: s for s in json.loads(key.policy)["Statement"]}
    assert statements["Allow access for Key Administrators"]["Principal"] == {
        "AWS": world["role"].arn}
    use = statements["Allow use of the key"]
    assert sorted(use["Principal"]["AWS"]) == sorted([
        world["key_user"].arn, world["role"].arn, f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"])
    assert use["Action"] == ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"]
    assert listed(signed_in)["alias/signer"][3:6] == ["Asymmetric", "RSA_3072",
                                                      "Sign and verify"]


def test_the_wizard_creates_an_hmac_key(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "GENERATE_VERIFY_MAC",
                                            "key_spec": "HMAC_384"},
               alias="mac-key", admins=(), users=("key_user",))
    finish(signed_in, run)
    key = Key.objects.get(aliases__name="alias/mac-key")
    assert (key.key_spec, key.key_usage) == ("HMAC_384", "GENERATE_VERIFY_MAC")
    statements = {s["Sid"]: s for s in json.loads(key.policy)["Statement"]}
    assert "Allow access for Key Administrators" not in statements
    assert statements["Allow use of the key"]["Action"] == [
        "kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"]
    assert listed(signed_in)["alias/mac-key"][3:6] == ["Symmetric", "HMAC_384",
                                                       "Generate and verify MAC"]


def test_an_external_key_is_created_pending_import_after_the_acknowledgement(signed_in, world):
    run = start(signed_in)
    response = post(signed_in, run, 1, key_type="SYMMETRIC", key_usage="ENCRYPT_DECRYPT",
                    origin="EXTERNAL")
    html = response.content.decode()
    assert response.status_code == 200
    assert "You must acknowledge" in html
    assert "open" in elements(html, "details")[0]["attrs"]
    assert location_step(post(signed_in, run, 1, key_type="SYMMETRIC",
                              key_usage="ENCRYPT_DECRYPT", origin="EXTERNAL",
                              external_ack="on")) == 2
    post(signed_in, run, 2, alias="byok", tag_key=[""], tag_value=[""])
    post(signed_in, run, 3, shown=[], allow_admins_to_delete="on")
    post(signed_in, run, 4, shown=[])
    review = signed_in.get(step_url(run, 5)).content.decode()
    assert "Import it later through the API" in review
    assert "kms:ImportKeyMaterial" in review or "Allow access for Key Administrators" not in review
    finish(signed_in, run)
    key = Key.objects.get(aliases__name="alias/byok")
    assert (key.origin, key.key_state) == ("EXTERNAL", "PendingImport")


def test_finish_records_create_key_and_create_alias(signed_in, world, admin):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="audited")
    AuditEvent.objects.all().delete()
    finish(signed_in, run)
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.event_name for e in events] == ["CreateKey", "CreateAlias"]
    assert {e.source for e in events} == {"console"}
    assert {e.principal_arn for e in events} == {admin.arn}
    assert {e.error_code for e in events} == {""}
    assert events[1].request_parameters["aliasName"] == "alias/audited"


# --- the steps ------------------------------------------------------------------------------

def test_the_steps_show_the_aws_captions_and_buttons(signed_in, world):
    run = start(signed_in)
    html = signed_in.get(step_url(run, 1)).content.decode()
    assert names(html, "h1") == ["Configure key"]
    steps = elements(html, "nav", aria_label="Steps")[0]["text"]
    for title in ["Configure key", "Add labels", "Define key administrative permissions",
                  "Define key usage permissions", "Review"]:
        assert title in steps
    form = html.split('class="wizard__form"', 1)[1].split("</form>", 1)[0]
    assert [n for n in names(form, "button") if n] == ["Cancel", "Next"]
    assert names(html, "legend") == ["Key type", "Key usage", "Key material origin"]
    assert names(html, "summary") == ["Advanced options"]
    assert "Encrypt and decrypt" in html and "Generate and verify MAC" in html
    assert elements(html, "input", type="hidden", name="csrfmiddlewaretoken")
    assert "<script>" not in html.split("</head>", 1)[1]


def test_key_specs_offered_are_those_valid_for_the_usage(signed_in, world):
    run = start(signed_in)
    response = post(signed_in, run, 1, key_type="ASYMMETRIC", key_usage="ENCRYPT_DECRYPT")
    html = response.content.decode()
    assert "Choose a key spec." in html
    offered = [e["attrs"]["value"] for e in elements(html, "input", name="key_spec")]
    assert offered == ["RSA_2048", "RSA_3072", "RSA_4096"]
    html = post(signed_in, run, 1, key_type="ASYMMETRIC", key_usage="SIGN_VERIFY").content
    offered = [e["attrs"]["value"] for e in elements(html.decode(), "input", name="key_spec")]
    assert offered == ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                       "ECC_NIST_P521", "ECC_SECG_P256K1"]
    html = post(signed_in, run, 1, key_type="SYMMETRIC", key_usage="GENERATE_VERIFY_MAC").content
    offered = [e["attrs"]["value"] for e in elements(html.decode(), "input", name="key_spec")]
    assert offered == ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"]


def test_a_usage_of_the_other_key_type_is_asked_again(signed_in, world):
    run = start(signed_in)
    response = post(signed_in, run, 1, key_type="SYMMETRIC", key_usage="SIGN_VERIFY")
    assert response.status_code == 200
    assert "Choose a key usage for this key type." in response.content.decode()


def test_previous_keeps_what_was_entered(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "ASYMMETRIC", "key_usage": "SIGN_VERIFY",
                                            "key_spec": "ECC_NIST_P384"},
               alias="kept", description="my words", tags=[("env", "prod")])
    assert location_step(post(signed_in, run, 5, "previous",
                              policy=review_policy(signed_in, run))) == 4
    html = signed_in.get(step_url(run, 4)).content.decode()
    checked = [e["attrs"]["value"] for e in elements(html, "input", name="user")
               if "checked" in e["attrs"]]
    assert checked == [world["key_user"].arn]
    assert location_step(post(signed_in, run, 2, "previous", alias="kept2",
                              description="my words", tag_key=["env"],
                              tag_value=["prod"])) == 1
    html = signed_in.get(step_url(run, 1)).content.decode()
    assert "checked" in elements(html, "input", name="key_spec", value="ECC_NIST_P384")[0][
        "attrs"]
    html = signed_in.get(step_url(run, 2)).content.decode()
    assert elements(html, "input", id="alias")[0]["attrs"]["value"] == "kept2"
    assert elements(html, "textarea", id="description")[0]["text"] == "my words"
    assert [e["attrs"]["value"] for e in elements(html, "input", name="tag_key")] == ["env"]


def test_add_tag_adds_a_row_and_keeps_the_entries(signed_in, world):
    run = start(signed_in)
    post(signed_in, run, 1, key_type="SYMMETRIC", key_usage="ENCRYPT_DECRYPT")
    response = post(signed_in, run, 2, "add_tag", alias="a", tag_key=["team"],
                    tag_value=["x"])
    assert location_step(response) == 2
    html = signed_in.get(response["Location"]).content.decode()
    assert [e["attrs"]["value"] for e in elements(html, "input", name="tag_key")] == ["team", ""]
    assert "Add tag" in names(html, "button")
    response = post(signed_in, run, 2, "remove_tag:0", alias="a", tag_key=["team", "b"],
                    tag_value=["x", "y"])
    html = signed_in.get(response["Location"]).content.decode()
    assert [e["attrs"]["value"] for e in elements(html, "input", name="tag_key")] == ["b"]


@pytest.mark.parametrize(("data", "message"), [
    ({"alias": ""}, "An alias is required."),
    ({"alias": "aws/mine"}, "alias/aws/mine is reserved for AWS managed keys."),
    ({"alias": "has space"}, "failed to satisfy constraint"),
    ({"alias": "ok", "tag_key": ["aws:team"], "tag_value": ["x"]},
     "Tags beginning with aws: are reserved"),
    ({"alias": "ok", "tag_key": ["a", "a"], "tag_value": ["1", "2"]}, "Duplicate tag keys"),
    ({"alias": "ok", "tag_key": [""], "tag_value": ["orphan value"]},
     "Member must have length greater than or equal to 1"),
])
def test_errors_on_add_labels_stay_on_the_step(signed_in, world, data, message):
    run = start(signed_in)
    post(signed_in, run, 1, key_type="SYMMETRIC", key_usage="ENCRYPT_DECRYPT")
    data = {"tag_key": [""], "tag_value": [""], **data}
    response = post(signed_in, run, 2, **data)
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Add labels"]
    assert message in html
    assert signed_in.get(step_url(run, 3)).content.decode().count("<h1>Add labels</h1>") == 1


def test_the_principal_filter_works_by_get_and_post_and_keeps_hidden_choices(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="f")
    html = signed_in.get(step_url(run, 3) + "&filter=APP").content.decode()
    assert [e["attrs"]["value"] for e in elements(html, "input", name="admin")] == [
        world["role"].arn]
    # Posting from the filtered view keeps key-admin, which the filter hides.
    response = post(signed_in, run, 3, "filter", filter="key-", shown=[world["role"].arn],
                    admin=[world["role"].arn], allow_admins_to_delete="on")
    html = signed_in.get(response["Location"]).content.decode()
    assert [e["attrs"]["value"] for e in elements(html, "input", name="admin")] == [
        world["key_admin"].arn, world["key_user"].arn]
    post(signed_in, run, 3, shown=[], filter="")
    policy = review_policy(signed_in, run)
    admins = {s["Sid"]: s for s in json.loads(policy)["Statement"]}[
        "Allow access for Key Administrators"]["Principal"]["AWS"]
    assert sorted(admins) == sorted([world["key_admin"].arn, world["role"].arn])


def test_unchecking_key_deletion_drops_the_deletion_actions(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="nodelete")
    html = signed_in.get(step_url(run, 3)).content.decode()
    assert "Allow key administrators to delete this key" in html
    assert "checked" in elements(html, "input", name="allow_admins_to_delete")[0]["attrs"]
    post(signed_in, run, 3, shown=[world["key_admin"].arn], admin=[world["key_admin"].arn])
    assert "kms:ScheduleKeyDeletion" not in review_policy(signed_in, run)


def test_other_accounts_must_be_12_digits(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="o")
    response = post(signed_in, run, 4, "add_account", shown=[])
    html = signed_in.get(response["Location"]).content.decode()
    assert len(elements(html, "input", name="other_account")) == 1
    assert "Add another AWS account" in names(html, "button")
    response = post(signed_in, run, 4, shown=[], other_account=["12345"])
    assert response.status_code == 200
    assert "An AWS account ID is 12 digits." in response.content.decode()


# --- Review and Finish ----------------------------------------------------------------------

def test_an_invalid_edited_policy_is_shown_at_review_and_nothing_is_created(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="broken")
    before = Key.objects.count()
    response = finish(signed_in, run, policy='{"Version": "2012-10-17", "Statement": [')
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Review"]
    error = elements(html, "p", id="policy-error")
    assert error and error[0]["text"]
    assert elements(html, "textarea", id="policy")[0]["text"] == (
        '{"Version": "2012-10-17", "Statement": [')
    assert Key.objects.count() == before
    assert not Alias.objects.filter(name="alias/broken").exists()
    event = AuditEvent.objects.filter(event_name="CreateKey").latest("id")
    assert event.error_code == "MalformedPolicyDocumentException"


def test_a_policy_that_locks_the_user_out_is_refused(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="locked")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": world["key_user"].arn},
        "Action": "kms:Encrypt", "Resource": "*"}]})
    html = finish(signed_in, run, policy=policy).content.decode()
    assert "will not allow you to update the key policy" in html
    assert not Key.objects.filter(aliases__name="alias/locked").exists()


def test_a_taken_alias_at_finish_returns_to_add_labels_and_creates_nothing(signed_in, world,
                                                                          admin):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"}, alias="taken")
    create_key(admin, alias="alias/taken")
    before = Key.objects.count()
    policy = review_policy(signed_in, run)
    last = AuditEvent.objects.latest("id").id
    response = finish(signed_in, run, policy=policy)
    html = response.content.decode()
    assert names(html, "h1") == ["Add labels"]
    assert "already exists" in html
    assert Key.objects.count() == before
    # All or nothing: the key and its CreateKey event rolled back; the refusal stays audited.
    events = list(AuditEvent.objects.filter(id__gt=last).order_by("id"))
    assert [(e.event_name, e.error_code) for e in events] == [
        ("CreateAlias", "AlreadyExistsException")]
    assert events[0].request_parameters["aliasName"] == "alias/taken"


def test_xss_in_description_and_tags_is_escaped_on_review(signed_in, world):
    run = walk(signed_in, world, configure={"key_type": "SYMMETRIC",
                                            "key_usage": "ENCRYPT_DECRYPT"},
               alias="xss", description=XSS, tags=[("t", XSS)])
    html = signed_in.get(step_url(run, 5)).content.decode()
    assert XSS not in html
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 2
    finish(signed_in, run)
    assert Key.objects.get(aliases__name="alias/xss").description == XSS


def test_cancel_forgets_the_run_and_returns_to_the_list(signed_in, world):
    run = start(signed_in)
    response = post(signed_in, run, 1, "cancel")
    assert response["Location"] == "/kms/keys"
    response = signed_in.get(step_url(run, 1))
    assert response.status_code == 302  # a new run starts
    assert parse_qs(urlparse(response["Location"]).query)["run"][0] != run


def test_two_runs_do_not_share_their_entries(signed_in, world):
    first, second = start(signed_in), start(signed_in)
    post(signed_in, first, 1, key_type="SYMMETRIC", key_usage="ENCRYPT_DECRYPT")
    post(signed_in, second, 1, key_type="SYMMETRIC", key_usage="ENCRYPT_DECRYPT")
    post(signed_in, first, 2, alias="first", tag_key=[""], tag_value=[""])
    post(signed_in, second, 2, alias="second", tag_key=[""], tag_value=[""])
    html = signed_in.get(step_url(first, 2)).content.decode()
    assert elements(html, "input", id="alias")[0]["attrs"]["value"] == "first"


def test_a_step_not_reached_yet_shows_the_furthest_step(signed_in, world):
    run = start(signed_in)
    html = signed_in.get(step_url(run, 5)).content.decode()
    assert names(html, "h1") == ["Configure key"]


def test_customer_managed_keys_has_a_create_key_button(signed_in):
    html = signed_in.get("/kms/keys").content.decode()
    link = [e for e in elements(html, "a", href=WIZARD)]
    assert [re.sub(r"\s+", " ", e["text"]).strip() for e in link] == ["Create key"]
    assert "button--primary" in link[0]["attrs"]["class"]


# --- access ---------------------------------------------------------------------------------

def test_a_user_without_create_key_is_denied_at_finish_with_the_explanation(client, account,
                                                                           world):
    nobody = make_user(account, "nobody")
    client.force_login(nobody)
    run = walk(client, world, configure={"key_type": "SYMMETRIC",
                                         "key_usage": "ENCRYPT_DECRYPT"}, alias="denied")
    before = Key.objects.count()
    response = finish(client, run)
    html = response.content.decode()
    assert response.status_code == 403
    assert names(html, "h1") == ["Access denied"]
    alert = " ".join(e["text"] for e in elements(html, "div", role="alert"))
    assert "AccessDeniedException" in alert and "kms:CreateKey" in alert and "nobody" in alert
    assert Key.objects.count() == before
    event = AuditEvent.objects.filter(event_name="CreateKey").latest("id")
    assert event.error_code == "AccessDeniedException"


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    response = client.get(WIZARD)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    response = client.post(WIZARD, {"run": "x" * 16, "step": 5, "action": "finish"})
    assert response.status_code in (302, 403)
    assert not Key.objects.exists()


def test_posts_without_csrf_token_are_refused(admin, world):
    from django.test import Client
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    run = start(client)
    assert post(client, run, 1, key_type="SYMMETRIC").status_code == 403


def test_an_expired_run_starts_again_without_error(signed_in):
    response = post(signed_in, "unknown-run-id-123", 3)
    assert response.status_code == 302 and response["Location"] == WIZARD


@pytest.mark.parametrize("data", [
    {"step": "abc", "action": "next"},
    {"step": "99", "action": "finish"},
    {"step": "1", "action": "launch-missiles"},
    {"step": "2", "action": "remove_tag:abc"},
    {"step": "1", "action": "next", "key_type": "QUANTUM", "key_usage": "X", "key_spec": "Y",
     "origin": "AWS_CLOUDHSM"},
])
def test_odd_posts_never_fail_with_a_server_error(signed_in, world, data):
    run = start(signed_in)
    response = signed_in.post(WIZARD, {"run": run, **data})
    assert response.status_code in (200, 302)
    for step in ("0", "-1", "x", "6"):
        assert signed_in.get(f"{WIZARD}?run={run}&step={step}").status_code == 200
    assert not Key.objects.exists()
