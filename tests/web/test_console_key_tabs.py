"""The key detail tabs as URLs (kms-spec.md 8.3): Key policy (view, edit, validate as you type),
Cryptographic configuration, Tags (Manage tags), Aliases (Create alias, Delete), Public key
(PEM, Download) and Grants (Create grant, Revoke). Every page: allowed, denied (a user with no
policy sees the 403 explanation and nothing changes), anonymous (sign-in); every change goes
through the service and is audited with source console; user text is escaped."""

import json

import pytest
from cryptography.hazmat.primitives import serialization

from audit.models import AuditEvent
from grants import kms_grants
from grants.models import Grant
from keys import services
from keys.models import Alias, Key
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

XSS = '<script>alert("x")</script>'


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/payments", tags=[("team", "payments")])


@pytest.fixture
def signing_key(admin):
    return create_key(admin, alias="alias/signing", key_spec="RSA_2048", key_usage="SIGN_VERIFY")


def policy_of(key) -> str:
    return Key.objects.get(pk=key.pk).policy


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def flashes(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(response.content.decode(), "div")
            if "flash" in e["attrs"].get("class", "").split()]


TAB_PAGES = ["", "/policy", "/policy/edit", "/crypto", "/tags", "/tags/edit", "/aliases",
             "/grants"]


# --- every page: allowed / denied / anonymous ---------------------------------------------------

@pytest.mark.parametrize("suffix", TAB_PAGES)
def test_every_tab_is_a_page_with_the_tab_marked_current(signed_in, key, suffix):
    response = signed_in.get(f"/kms/keys/{key.id}{suffix}")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["alias/payments"]
    assert "General configuration" in names(html, "h2")
    tabs = names(html, "a", aria_current="page")
    assert tabs == [{"": "Key policy", "/policy": "Key policy", "/policy/edit": "Key policy",
                     "/crypto": "Cryptographic configuration", "/tags": "Tags",
                     "/tags/edit": "Tags", "/aliases": "Aliases", "/grants": "Grants"}[suffix]]


def test_the_tabs_of_a_symmetric_and_an_asymmetric_key(signed_in, key, signing_key):
    nav = ["Key policy", "Cryptographic configuration", "Tags", "Key rotation", "Aliases",
           "Grants", "Audit"]
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    assert names(html, "a", **{"class": "tabs__tab"}) == nav
    html = signed_in.get(f"/kms/keys/{signing_key.id}").content.decode()
    assert names(html, "a", **{"class": "tabs__tab"}) == nav[:3] + ["Aliases", "Public key",
                                                                    "Grants", "Audit"]


@pytest.mark.parametrize("suffix", TAB_PAGES + ["/public-key", "/public-key/download"])
def test_every_tab_is_denied_with_the_explanation(nobody_client, signing_key, suffix):
    response = nobody_client.get(f"/kms/keys/{signing_key.id}{suffix}")
    assert response.status_code == 403
    assert "kms:DescribeKey" in response.content.decode()


@pytest.mark.parametrize("method, suffix", [(
    "get", s) for s in TAB_PAGES + ["/public-key", "/public-key/download"]] + [
    ("post", "/policy/edit"), ("post", "/policy/validate"), ("post", "/tags/edit"),
    ("post", "/aliases/create"), ("post", "/aliases/delete"), ("post", "/grants/create"),
    ("post", "/grants/revoke")])
def test_every_tab_sends_anonymous_users_to_sign_in(client, signing_key, method, suffix):
    response = getattr(client, method)(f"/kms/keys/{signing_key.id}{suffix}")
    assert response.status_code == 302 and response["Location"].startswith("/signin")


def test_reading_the_policy_tab_is_audited(signed_in, admin, key):
    AuditEvent.objects.all().delete()
    signed_in.get(f"/kms/keys/{key.id}/policy")
    assert [e.event_name for e in AuditEvent.objects.order_by("id")] == [
        "DescribeKey", "ListAliases", "GetKeyPolicy"]
    assert {e.source for e in AuditEvent.objects.all()} == {"console"}


# --- Key policy --------------------------------------------------------------------------------

def test_the_policy_view_shows_the_document_and_edit(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    pre = elements(html, "pre")[0]
    assert json.loads(pre["text"]) == json.loads(policy_of(key))
    assert elements(html, "a", href=f"/kms/keys/{key.id}/policy/edit")[0]["text"] == "Edit"


def _policy_with_sid(account_id: str, sid: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": sid, "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Sign",
         "Resource": "*"}]}, indent=2)


def test_edit_policy_saves_through_put_key_policy(signed_in, admin, key):
    html = signed_in.get(f"/kms/keys/{key.id}/policy/edit").content.decode()
    assert names(html, "button")[-2:] == ["Validate", "Save changes"]
    assert json.loads(elements(html, "textarea", name="policy")[0]["text"]) == json.loads(
        policy_of(key))
    new = _policy_with_sid(admin.account_id, XSS)
    response = signed_in.post(f"/kms/keys/{key.id}/policy/edit", {"policy": new, "save": "1"},
                              follow=True)
    assert response.redirect_chain[-1][0] == f"/kms/keys/{key.id}/policy"
    assert policy_of(key) == new
    assert flashes(response) == ["The key policy was saved."]
    html = response.content.decode()
    assert XSS not in html and "&lt;script&gt;" in html  # the Sid is shown escaped
    event = last_event("PutKeyPolicy")
    assert (event.source, event.error_code) == ("console", "")


@pytest.mark.parametrize("text, code", [
    ('{"Version": "2012-10-17", "Statement": [', "MalformedPolicyDocumentException"),
    ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": '
     '"arn:aws:iam::111122223333:user/ghost"}, "Action": "kms:*", "Resource": "*"}]}',
     "MalformedPolicyDocumentException"),
    ("x" * 33000, "LimitExceededException"),
    ("{\u0100}", "ValidationException"),
])
def test_an_invalid_policy_shows_the_services_message_and_is_not_saved(
        signed_in, key, text, code):
    before = policy_of(key)
    response = signed_in.post(f"/kms/keys/{key.id}/policy/edit", {"policy": text, "save": "1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert code in names(html, "h3")
    assert policy_of(key) == before
    assert last_event("PutKeyPolicy").error_code == code


def test_a_policy_that_locks_the_caller_out_is_refused(signed_in, key):
    before = policy_of(key)
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:Encrypt", "Resource": "*"}]})
    response = signed_in.post(f"/kms/keys/{key.id}/policy/edit", {"policy": text, "save": "1"})
    assert response.status_code == 400
    assert "will not allow you to update the key policy" in response.content.decode()
    assert policy_of(key) == before


def test_editing_the_policy_is_denied_with_the_explanation(client, admin, account, key):
    # A user who may read the key (DescribeKey, GetKeyPolicy) but not change its policy.
    reader = make_user(account, "reader")
    services.key_put_policy(caller=caller_for(admin), key_id=str(key.id), policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": reader.arn},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*"}]}))
    before = policy_of(key)
    client.force_login(reader)
    assert client.get(f"/kms/keys/{key.id}/policy/edit").status_code == 200
    response = client.post(f"/kms/keys/{key.id}/policy/edit",
                           {"policy": _policy_with_sid("111122223333", "x"), "save": "1"})
    assert response.status_code == 403
    assert "kms:PutKeyPolicy" in response.content.decode()
    assert policy_of(key) == before


def test_validate_with_htmx_returns_the_fragment_with_errors_and_warnings(signed_in, key):
    inert = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": XSS, "Effect": "Allow", "Principal": {"AWS": "*"}, "Resource": "*"}]})
    response = signed_in.post(f"/kms/keys/{key.id}/policy/validate", {"policy": inert},
                              HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="policy-validation"')
    assert "<html" not in html
    assert names(html, "h3") == ["Warnings"]
    assert "has no effect" in html and XSS not in html and "&lt;script&gt;" in html
    bad = signed_in.post(f"/kms/keys/{key.id}/policy/validate", {"policy": "{"},
                         HTTP_HX_REQUEST="true").content.decode()
    assert names(bad, "h3") == ["Errors"] and "MalformedPolicyDocumentException" in bad
    good = signed_in.post(f"/kms/keys/{key.id}/policy/validate", {"policy": policy_of(key)},
                          HTTP_HX_REQUEST="true").content.decode()
    assert "The policy document is valid." in good
    assert not AuditEvent.objects.filter(event_name="PutKeyPolicy").exists()


def test_validate_without_javascript_shows_the_editor_page_with_the_result(signed_in, key):
    before = policy_of(key)
    for url, data in [(f"/kms/keys/{key.id}/policy/validate", {"policy": "{"}),
                      (f"/kms/keys/{key.id}/policy/edit", {"policy": "{", "validate": "1"})]:
        response = signed_in.post(url, data)
        html = response.content.decode()
        assert response.status_code == 200
        assert "<html" in html and names(html, "h1") == ["alias/payments"]
        assert elements(html, "textarea", name="policy")[0]["text"] == "{"
        assert "MalformedPolicyDocumentException" in html
    assert policy_of(key) == before


def test_the_editor_has_the_htmx_validation_and_no_inline_script(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}/policy/edit").content.decode()
    textarea = elements(html, "textarea", name="policy")[0]["attrs"]
    assert textarea["hx-post"] == f"/kms/keys/{key.id}/policy/validate"
    assert not [e for e in elements(html, "script") if not e["attrs"].get("src")]


def test_validate_denied_without_htmx_and_anonymous(nobody_client, key):
    response = nobody_client.post(f"/kms/keys/{key.id}/policy/validate", {"policy": "{}"})
    assert response.status_code == 403


# --- Cryptographic configuration ---------------------------------------------------------------

def test_crypto_tab_shows_type_origin_spec_usage_algorithms(signed_in, signing_key):
    html = signed_in.get(f"/kms/keys/{signing_key.id}/crypto").content.decode()
    pairs = dict(zip(names(html, "dt"), [" ".join(e["text"].split())
                                          for e in elements(html, "dd")], strict=True))
    assert pairs["Key type"] == "Asymmetric" and pairs["Origin"] == "AWS KMS"
    assert pairs["Key spec"] == "RSA_2048" and pairs["Key usage"] == "Sign and verify"
    assert "RSASSA_PSS_SHA_256" in pairs["Signing algorithms"]


# --- Tags ---------------------------------------------------------------------------------------

def test_tags_tab_lists_tags_escaped(signed_in, admin, key):
    services.key_tag(caller=caller_for(admin), key_id=str(key.id), tags=[("xss", XSS)])
    html = signed_in.get(f"/kms/keys/{key.id}/tags").content.decode()
    assert table_rows(html.split('id="tags"', 1)[1]) == [["team", "payments"], ["xss", XSS]]
    assert XSS not in html
    assert "Manage tags" in names(html, "a")


def test_manage_tags_adds_changes_and_removes(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}/tags/edit").content.decode()
    assert names(html, "button")[-2:] == ["Add tag", "Save changes"]
    more = signed_in.post(f"/kms/keys/{key.id}/tags/edit", {
        "original_0": "team", "tag_key_0": "team", "tag_value_0": "payments",
        "original_1": "", "tag_key_1": "env", "tag_value_1": "prod", "add_tag": "1"})
    assert len(elements(more.content.decode(), "input", type="checkbox")) == 3
    response = signed_in.post(f"/kms/keys/{key.id}/tags/edit", {
        "original_0": "team", "tag_key_0": "team", "tag_value_0": "payments",
        "remove_0": "on",
        "original_1": "", "tag_key_1": "env", "tag_value_1": XSS,
        "original_2": "", "tag_key_2": "", "tag_value_2": "", "save": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/kms/keys/{key.id}/tags"
    assert dict(Key.objects.get(pk=key.pk).tags.values_list("tag_key", "tag_value")) == {
        "env": XSS}
    assert XSS not in response.content.decode()
    assert last_event("TagResource").source == "console"
    assert last_event("UntagResource").request_parameters["tagKeys"] == ["team"]


def test_renaming_a_tag_key_untags_the_old_key(signed_in, key):
    signed_in.post(f"/kms/keys/{key.id}/tags/edit", {
        "original_0": "team", "tag_key_0": "owner", "tag_value_0": "payments", "save": "1"})
    assert dict(Key.objects.get(pk=key.pk).tags.values_list("tag_key", "tag_value")) == {
        "owner": "payments"}


def test_an_invalid_tag_shows_the_services_message(signed_in, key):
    response = signed_in.post(f"/kms/keys/{key.id}/tags/edit", {
        "original_0": "", "tag_key_0": "aws:reserved", "tag_value_0": "x", "save": "1"})
    assert response.status_code == 400
    assert "Tags beginning with aws: are reserved" in response.content.decode()
    assert not Key.objects.get(pk=key.pk).tags.filter(tag_key="aws:reserved").exists()


def test_managing_tags_denied(nobody_client, key):
    response = nobody_client.post(f"/kms/keys/{key.id}/tags/edit", {
        "original_0": "team", "tag_key_0": "team", "tag_value_0": "x", "save": "1"})
    assert response.status_code == 403
    assert Key.objects.get(pk=key.pk).tags.get().tag_value == "payments"


# --- Aliases ------------------------------------------------------------------------------------

def test_create_alias_without_the_prefix_and_delete_it(signed_in, key):
    html = signed_in.get(f"/kms/keys/{key.id}/aliases").content.decode()
    assert "Create alias" in names(html, "button") and "Alias name" in names(html, "label")
    response = signed_in.post(f"/kms/keys/{key.id}/aliases/create", {"alias_name": "orders"},
                              follow=True)
    assert response.redirect_chain[-1][0] == f"/kms/keys/{key.id}/aliases"
    assert Alias.objects.filter(name="alias/orders", target_key=key).exists()
    assert flashes(response) == ["The alias alias/orders was created."]
    rows = table_rows(response.content.decode().split('id="aliases"', 1)[1])
    assert [row[0] for row in rows] == ["alias/orders", "alias/payments"]
    assert last_event("CreateAlias").source == "console"
    response = signed_in.post(f"/kms/keys/{key.id}/aliases/delete",
                              {"alias_name": "alias/orders"}, follow=True)
    assert not Alias.objects.filter(name="alias/orders").exists()
    assert flashes(response) == ["The alias alias/orders was deleted."]
    assert last_event("DeleteAlias").source == "console"


@pytest.mark.parametrize("name, message", [
    ("bad name!", "satisfy regular expression pattern"),
    ("aws/mine", "reserved for AWS managed keys"),
    ("payments", "already exists"),
    ("", "Enter an alias name."),
])
def test_an_invalid_alias_name_is_shown_on_the_tab(signed_in, key, name, message):
    response = signed_in.post(f"/kms/keys/{key.id}/aliases/create", {"alias_name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(Alias.objects.filter(target_key=key).values_list("name", flat=True)) == [
        "alias/payments"]


def test_an_alias_name_is_shown_escaped_when_refused(signed_in, key):
    html = signed_in.post(f"/kms/keys/{key.id}/aliases/create",
                          {"alias_name": XSS}).content.decode()
    assert XSS not in html and "&lt;script&gt;" in html


def test_alias_create_and_delete_denied(nobody_client, key):
    assert nobody_client.post(f"/kms/keys/{key.id}/aliases/create",
                              {"alias_name": "x"}).status_code == 403
    assert nobody_client.post(f"/kms/keys/{key.id}/aliases/delete",
                              {"alias_name": "alias/payments"}).status_code == 403
    assert list(Alias.objects.values_list("name", flat=True).filter(target_key=key)) == [
        "alias/payments"]


def test_deleting_an_alias_of_another_key_is_refused(signed_in, admin, key):
    other = create_key(admin, alias="alias/other")
    response = signed_in.post(f"/kms/keys/{key.id}/aliases/delete",
                              {"alias_name": "alias/other"}, follow=True)
    assert flashes(response) == ["That alias does not point to this key."]
    assert Alias.objects.filter(name="alias/other", target_key=other).exists()


# --- Public key ---------------------------------------------------------------------------------

def test_public_key_tab_and_download_give_a_pem_cryptography_loads(signed_in, signing_key):
    html = signed_in.get(f"/kms/keys/{signing_key.id}/public-key").content.decode()
    pem = elements(html, "textarea", id="public-key-pem")[0]["text"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert "Download" in names(html, "a")
    response = signed_in.get(f"/kms/keys/{signing_key.id}/public-key/download")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{signing_key.id}.pem"'
    loaded = serialization.load_pem_public_key(response.content)
    assert loaded.key_size == 2048
    assert response.content.decode() == pem
    assert last_event("GetPublicKey").source == "console"


def test_a_symmetric_key_has_no_public_key(signed_in, key):
    response = signed_in.get(f"/kms/keys/{key.id}/public-key")
    assert response.status_code == 400
    assert "UnsupportedOperationException" in response.content.decode()


# --- Grants -------------------------------------------------------------------------------------

def test_create_and_revoke_a_grant(signed_in, account, key):
    grantee = make_user(account, "app")
    html = signed_in.get(f"/kms/keys/{key.id}/grants").content.decode()
    offered = [e["attrs"]["value"] for e in elements(html, "input", name="operations")]
    assert "Encrypt" in offered and "Sign" not in offered
    assert "Create grant" in names(html, "button")
    response = signed_in.post(f"/kms/keys/{key.id}/grants/create", {
        "grantee_principal": grantee.arn, "operations": ["Encrypt", "Decrypt"],
        "constraint_type": "EncryptionContextEquals", "constraint_pairs": "app=orders"},
        follow=True)
    grant = Grant.objects.get(key=key)
    assert set(grant.operations) == {"Encrypt", "Decrypt"}
    assert grant.constraints == {"EncryptionContextEquals": {"app": "orders"}}
    assert flashes(response) == [f"The grant {grant.grant_id} was created."]
    rows = table_rows(response.content.decode().split('id="grants"', 1)[1])
    assert rows[0][0] == grant.grant_id and rows[0][2] == grantee.arn
    assert last_event("CreateGrant").source == "console"
    response = signed_in.post(f"/kms/keys/{key.id}/grants/revoke",
                              {"grant_id": grant.grant_id}, follow=True)
    assert not Grant.objects.filter(key=key).exists()
    assert flashes(response) == [f"The grant {grant.grant_id} was revoked."]
    assert last_event("RevokeGrant").source == "console"


@pytest.mark.parametrize("data, message", [
    ({"grantee_principal": "", "operations": ["Encrypt"]}, "Enter the ARN"),
    ({"grantee_principal": "arn:aws:iam::111122223333:user/app"}, "Choose at least one"),
    ({"grantee_principal": "arn:aws:iam::111122223333:user/ghost", "operations": ["Encrypt"]},
     "InvalidArnException"),
    ({"grantee_principal": "arn:aws:iam::111122223333:user/app", "operations": ["Encrypt"],
      "constraint_type": "EncryptionContextSubset"}, "Enter at least one key=value pair."),
])
def test_an_invalid_grant_is_shown_on_the_tab(signed_in, account, key, data, message):
    make_user(account, "app")
    response = signed_in.post(f"/kms/keys/{key.id}/grants/create", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Grant.objects.filter(key=key).exists()


def test_grants_denied(nobody_client, admin, account, key):
    grantee = make_user(account, "app")
    grant, _ = kms_grants.grant_create(
        caller=caller_for(admin), key_id=str(key.id), grantee_principal=grantee.arn,
        operations=["Encrypt"])
    assert nobody_client.post(f"/kms/keys/{key.id}/grants/create", {
        "grantee_principal": grantee.arn, "operations": ["Encrypt"]}).status_code == 403
    assert nobody_client.post(f"/kms/keys/{key.id}/grants/revoke",
                              {"grant_id": grant.grant_id}).status_code == 403
    assert Grant.objects.filter(key=key).count() == 1


def test_revoking_an_unknown_grant_is_a_message(signed_in, key):
    response = signed_in.post(f"/kms/keys/{key.id}/grants/revoke", {"grant_id": "nope"},
                              follow=True)
    assert response.status_code == 200
    [flash] = flashes(response)
    assert flash.startswith("ValidationException") or flash.startswith("InvalidGrantId")


# --- AWS managed keys are read-only ---------------------------------------------------------------

def test_aws_managed_keys_tabs_have_no_edit_forms(signed_in, admin):
    from keys.access import resolve_key
    managed = resolve_key(caller_for(admin), "alias/aws/ebs")
    for suffix in ["", "/tags", "/aliases", "/grants"]:
        html = signed_in.get(f"/kms/keys/{managed.id}{suffix}").content.decode()
        assert not [name for name in names(html, "a") + names(html, "button")
                    if name in {"Edit", "Manage tags", "Create alias", "Create grant", "Delete",
                                "Revoke"}]
    assert signed_in.get(f"/kms/keys/{managed.id}/policy/edit")["Location"] == \
        f"/kms/keys/{managed.id}/policy"
