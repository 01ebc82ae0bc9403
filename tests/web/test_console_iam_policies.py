"""The console's IAM Policies pages: the list (AWS managed built-ins and customer managed
policies, attached entities, filters), Create policy (the JSON editor validated as it is typed),
a policy's detail page (Permissions: the default version's document; Edit creates a new default
version within IAM's 5-version limit; Policy versions: view, Set as default, Delete; Entities
attached: attach and detach users and roles) and Delete, which detaches the policy first.

Each page is shown allowed (the administrator; every change asserts its IAM audit event),
denied (403 with the explanation and a failed event) and anonymous (sent to sign in); forms
enforce CSRF and user text is rendered inert.
"""

import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import managed_policies, services
from grants.builtin_policies import builtin_policy_arn
from grants.models import ManagedPolicy
from grants.principals import Caller
from kmsconsole.errors import AccessDeniedError, NoSuchEntityError, ValidationError
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user
from tests.web.console_helpers import elements, names, table_rows

SCRIPT = "<script>alert('x')</script>"
READ_ONLY = builtin_policy_arn("KMSReadOnly")
POLICY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/app-keys"


def document(action="kms:DescribeKey") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": "*"}]}, indent=4)


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def flashes(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(e["text"].split()) for e in elements(html, "div")
            if "flash" in e["attrs"].get("class", "").split()]


def scheduler() -> Caller:
    return Caller.scheduler(account_id=ACCOUNT_ID, region=REGION)


def customer_policies():
    return ManagedPolicy.objects.filter(account__isnull=False)


@pytest.fixture
def nobody(account):
    return make_user(account, "nobody")


@pytest.fixture
def nobody_client(client, nobody):
    client.force_login(nobody)
    return client


@pytest.fixture
def reader_client(client, account):
    """A user who may read IAM (iam:Get*, iam:List*) but change nothing."""
    reader = make_user(account, "reader")
    services.user_put_inline_policy(caller=scheduler(), user=reader, policy_name="read-iam",
                                    document=document(["iam:Get*", "iam:List*"]))
    client.force_login(reader)
    return client


@pytest.fixture
def policy(admin):
    return services.managed_policy_create(caller=caller_for(admin), name="app-keys",
                                          document=document(), description="Keys of the app")


@pytest.fixture
def app_role(admin):
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "sts:AssumeRole"}]})
    return services.role_create(caller=caller_for(admin), name="app", trust_policy=trust)


# --- the list -----------------------------------------------------------------------------------

def test_the_list_shows_built_in_and_customer_policies_with_attached_entities(
        signed_in, admin, policy, app_role):
    services.policy_attach_role(caller=caller_for(admin), role=app_role, policy_arn=POLICY_ARN)
    response = signed_in.get("/iam/policies")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Policies (5)"]
    assert table_rows(html) == [
        ["AdministratorAccess", "AWS managed", "1",
         "Provides full access to every action and resource."],
        ["app-keys", "Customer managed", "1", "Keys of the app"],
        ["IAMUserChangePassword", "AWS managed", "0",
         "Provides the ability for an IAM user to change their own password."],
        ["KMSKeyAdministrator", "AWS managed", "0", table_rows(html)[3][3]],
        ["KMSReadOnly", "AWS managed", "0", table_rows(html)[4][3]],
    ]
    assert elements(html, "a", href="/iam/policies/details/app-keys")
    assert elements(html, "a", href="/iam/policies/aws/AdministratorAccess")
    assert "Create policy" in names(html, "a")
    event = last_event("ListPolicies")
    assert (event.event_source, event.source, event.error_code) == (
        "iam.amazonaws.com", "console", "")


def test_a_built_in_policy_counts_only_this_accounts_attachments(signed_in, outsider):
    # The outsider (another account) holds AdministratorAccess too; admin's row shows 1.
    html = signed_in.get("/iam/policies", {"name": "administratoraccess"}).content.decode()
    assert [row[:3] for row in table_rows(html)] == [["AdministratorAccess", "AWS managed",
                                                      "1"]]


def test_the_list_filters_by_name_and_type_and_answers_htmx_with_the_table(signed_in, policy):
    customer = signed_in.get("/iam/policies", {"type": "Customer managed"}).content.decode()
    assert [row[0] for row in table_rows(customer)] == ["app-keys"]
    by_name = signed_in.get("/iam/policies", {"name": "KMS"}).content.decode()
    assert [row[0] for row in table_rows(by_name)] == ["KMSKeyAdministrator", "KMSReadOnly"]
    none = signed_in.get("/iam/policies", {"name": "zzz"}).content.decode()
    assert "No policies match the filters." in none
    fragment = signed_in.get("/iam/policies", {"type": "AWS managed"}, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert text.lstrip().startswith('<section id="policy-table"')
    assert len(table_rows(text)) == 4


def test_the_list_is_refused_to_a_user_without_permission(nobody_client, nobody):
    response = nobody_client.get("/iam/policies")
    assert response.status_code == 403
    assert "iam:ListPolicies" in response.content.decode()
    event = last_event("ListPolicies")
    assert (event.principal_arn, event.error_code) == (nobody.arn, "AccessDenied")


@pytest.mark.django_db
@pytest.mark.parametrize("method, url", [
    ("get", "/iam/policies"),
    ("get", "/iam/policies/create"),
    ("post", "/iam/policies/create"),
    ("post", "/iam/policies/validate"),
    ("get", "/iam/policies/details/app-keys"),
    ("post", "/iam/policies/details/app-keys/edit"),
    ("get", "/iam/policies/details/app-keys/versions"),
    ("post", "/iam/policies/details/app-keys/versions/default"),
    ("post", "/iam/policies/details/app-keys/versions/delete"),
    ("get", "/iam/policies/details/app-keys/entities"),
    ("post", "/iam/policies/details/app-keys/entities/attach"),
    ("post", "/iam/policies/details/app-keys/entities/detach"),
    ("post", "/iam/policies/details/app-keys/delete"),
    ("get", "/iam/policies/aws/KMSReadOnly"),
    ("post", "/iam/policies/aws/KMSReadOnly/entities/attach"),
])
def test_policy_pages_send_anonymous_visitors_to_sign_in(client, policy, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert customer_policies().count() == 1


# --- Create policy ------------------------------------------------------------------------------

def test_create_policy_starts_from_a_template_and_creates_the_policy(signed_in, admin):
    page = signed_in.get("/iam/policies/create").content.decode()
    assert "Statement1" in page and "Policy editor" in names(page, "label")
    response = signed_in.post("/iam/policies/create", {
        "name": "app-keys", "description": "Keys of the app", "policy": document()},
        follow=True)
    assert response.redirect_chain[-1][0] == "/iam/policies/details/app-keys"
    assert flashes(response) == ["Policy app-keys created."]
    created = customer_policies().get()
    assert (created.name, created.arn, created.description) == (
        "app-keys", POLICY_ARN, "Keys of the app")
    event = last_event("CreatePolicy")
    assert (event.principal_arn, event.source, event.error_code) == (admin.arn, "console", "")


def test_a_malformed_policy_is_explained_and_creates_nothing(signed_in):
    response = signed_in.post("/iam/policies/create", {
        "name": "broken", "policy": '{"Version": "2012-10-17", "Statement": []}'})
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in response.content.decode()
    assert not customer_policies().exists()


def test_validate_explains_without_creating(signed_in):
    response = signed_in.post("/iam/policies/create", {
        "name": "", "policy": document(), "validate": "1"})
    assert "The policy document is valid." in response.content.decode()
    too_big = document(["kms:" + "A" * 7000])
    response = signed_in.post("/iam/policies/create", {
        "name": "", "policy": too_big, "validate": "1"})
    assert "LimitExceededException" in response.content.decode()
    assert not customer_policies().exists()


def test_the_editor_validates_as_you_type(signed_in):
    response = signed_in.post("/iam/policies/validate", {
        "kind": "identity", "policy": document(), "validation_id": "policy-document-validation"},
        HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="policy-document-validation"')
    assert "The policy document is valid." in html
    broken = signed_in.post("/iam/policies/validate", {
        "kind": "identity", "policy": "{", "validation_id": '"><script>'}).content.decode()
    assert "MalformedPolicyDocumentException" in broken and "<script>" not in broken


def test_a_taken_name_is_refused_on_the_form(signed_in, policy):
    response = signed_in.post("/iam/policies/create", {"name": "APP-KEYS",
                                                       "policy": document()})
    assert response.status_code == 400
    assert "A policy called APP-KEYS already exists." in response.content.decode()


def test_create_policy_is_refused_to_a_reader(reader_client):
    response = reader_client.post("/iam/policies/create", {"name": "p", "policy": document()})
    assert response.status_code == 403
    assert "iam:CreatePolicy" in response.content.decode()
    assert last_event("CreatePolicy").error_code == "AccessDenied"
    assert not customer_policies().exists()


def test_create_policy_enforces_csrf(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/policies/create", {"name": "p", "policy": document()})
    assert response.status_code == 403
    assert not customer_policies().exists()


# --- the detail page ----------------------------------------------------------------------------

def test_permissions_show_the_default_versions_document(signed_in, policy):
    response = signed_in.get("/iam/policies/details/app-keys")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["app-keys"]
    assert POLICY_ARN in html and "Customer managed" in html and "kms:DescribeKey" in html
    assert names(html, "a", **{"class": "tabs__tab"}) == [
        "Permissions", "Entities attached", "Policy versions"]
    assert last_event("GetPolicy").request_parameters == {"policyArn": POLICY_ARN}
    assert last_event("GetPolicyVersion").request_parameters == {
        "policyArn": POLICY_ARN, "versionId": "v1"}


def test_a_built_in_policy_is_shown_read_only(signed_in):
    html = signed_in.get("/iam/policies/aws/KMSReadOnly").content.decode()
    assert "AWS managed" in html and "kms:GetKeyPolicy" in html
    assert names(html, "a", **{"class": "tabs__tab"}) == ["Permissions", "Entities attached"]
    assert "Edit" not in names(html, "a") and "Delete" not in names(html, "a")
    assert signed_in.get("/iam/policies/aws/NoSuchPolicy").status_code == 404


def test_a_missing_policy_is_a_404_page(signed_in):
    response = signed_in.get("/iam/policies/details/ghost")
    assert response.status_code == 404
    assert "was not found" in response.content.decode()


def test_a_policy_is_not_shown_to_a_user_without_permission(nobody_client, policy):
    response = nobody_client.get("/iam/policies/details/app-keys")
    assert response.status_code == 403
    assert "Keys of the app" not in response.content.decode()
    assert last_event("GetPolicy").error_code == "AccessDenied"


def test_a_description_is_rendered_inert(signed_in, admin):
    services.managed_policy_create(caller=caller_for(admin), name="xss", document=document(),
                                   description=SCRIPT)
    for url in ("/iam/policies", "/iam/policies/details/xss"):
        html = signed_in.get(url).content.decode()
        assert SCRIPT not in html and "&lt;script&gt;" in html


# --- Edit: a new default version ----------------------------------------------------------------

def test_edit_creates_a_new_default_version(signed_in, admin, policy):
    editor = signed_in.get("/iam/policies/details/app-keys/edit").content.decode()
    assert "kms:DescribeKey" in editor
    response = signed_in.post("/iam/policies/details/app-keys/edit",
                              {"policy": document("kms:Encrypt")}, follow=True)
    assert response.redirect_chain[-1][0] == "/iam/policies/details/app-keys"
    assert flashes(response) == ["Policy app-keys updated."]
    policy.refresh_from_db()
    assert policy.default_version_id == "v2"
    assert "kms:Encrypt" in response.content.decode()
    event = last_event("CreatePolicyVersion")
    assert event.request_parameters["setAsDefault"] is True and event.error_code == ""


def test_the_sixth_version_is_refused_with_iams_message_and_what_to_do(signed_in, admin,
                                                                       policy):
    for number in range(2, 6):
        services.managed_policy_create_version(caller=caller_for(admin), policy_arn=POLICY_ARN,
                                               document=document(f"kms:Op{number}"))
    response = signed_in.post("/iam/policies/details/app-keys/edit",
                              {"policy": document("kms:Encrypt")})
    html = response.content.decode()
    assert response.status_code == 400
    assert "A managed policy can have up to 5 versions." in html
    assert "Delete a version that is not the default on the Policy versions tab" in html
    assert elements(html, "a", href="/iam/policies/details/app-keys/versions")
    assert policy.versions.count() == 5


def test_edit_is_refused_to_a_reader(reader_client, policy):
    response = reader_client.post("/iam/policies/details/app-keys/edit",
                                  {"policy": document("kms:*")})
    assert response.status_code == 403
    assert last_event("CreatePolicyVersion").error_code == "AccessDenied"
    assert policy.versions.count() == 1


# --- Policy versions ----------------------------------------------------------------------------

def test_versions_are_listed_shown_set_as_default_and_deleted(signed_in, admin, policy):
    services.managed_policy_create_version(caller=caller_for(admin), policy_arn=POLICY_ARN,
                                           document=document("kms:Encrypt"))
    html = signed_in.get("/iam/policies/details/app-keys/versions").content.decode()
    assert [row[0] for row in table_rows(html)] == ["v2", "v1 (Default)"]
    assert names(html, "button")[-2:] == ["Set v2 as default", "Delete v2"]
    shown = signed_in.get("/iam/policies/details/app-keys/versions",
                          {"version": "v2"}).content.decode()
    assert "Version v2" in names(shown, "h2") and "kms:Encrypt" in shown
    response = signed_in.post("/iam/policies/details/app-keys/versions/default",
                              {"version_id": "v2"}, follow=True)
    assert flashes(response) == ["v2 is now the default version of app-keys."]
    policy.refresh_from_db()
    assert policy.default_version_id == "v2"
    assert last_event("SetDefaultPolicyVersion").error_code == ""
    response = signed_in.post("/iam/policies/details/app-keys/versions/delete",
                              {"version_id": "v1"}, follow=True)
    assert flashes(response) == ["Version v1 of app-keys deleted."]
    assert list(policy.versions.values_list("version_id", flat=True)) == ["v2"]
    assert last_event("DeletePolicyVersion").request_parameters == {
        "policyArn": POLICY_ARN, "versionId": "v1"}


def test_deleting_the_default_version_is_a_flash_not_a_500(signed_in, policy):
    response = signed_in.post("/iam/policies/details/app-keys/versions/delete",
                              {"version_id": "v1"}, follow=True)
    assert response.status_code == 200
    assert flashes(response) == [
        "DeleteConflict: Cannot delete the default version of a policy."]


def test_version_changes_are_refused_to_a_reader(reader_client, admin, policy):
    services.managed_policy_create_version(caller=caller_for(admin), policy_arn=POLICY_ARN,
                                           document=document("kms:Encrypt"))
    for action in ("default", "delete"):
        response = reader_client.post(f"/iam/policies/details/app-keys/versions/{action}",
                                      {"version_id": "v2"})
        assert response.status_code == 403
    assert last_event("SetDefaultPolicyVersion").error_code == "AccessDenied"
    assert last_event("DeletePolicyVersion").error_code == "AccessDenied"
    assert policy.versions.count() == 2


# --- Entities attached --------------------------------------------------------------------------

def test_attach_to_a_user_and_a_role_then_detach(signed_in, admin, account, policy, app_role):
    alice = make_user(account, "alice")
    page = signed_in.get("/iam/policies/details/app-keys/entities").content.decode()
    offered = [e["attrs"]["value"] for e in elements(page, "input", name="entity")]
    assert offered == ["user:admin", "user:alice", "role:app"]
    response = signed_in.post("/iam/policies/details/app-keys/entities/attach",
                              {"entity": ["user:alice", "role:app"]}, follow=True)
    assert flashes(response) == ["Policy app-keys attached."]
    assert [row[:2] for row in table_rows(response.content.decode())] == [
        ["alice", "IAM user"], ["app", "IAM role"]]
    assert last_event("AttachUserPolicy").request_parameters == {
        "userName": "alice", "policyArn": POLICY_ARN}
    assert last_event("AttachRolePolicy").request_parameters == {
        "roleName": "app", "policyArn": POLICY_ARN}
    response = signed_in.post("/iam/policies/details/app-keys/entities/detach",
                              {"entity": "user:alice"}, follow=True)
    assert flashes(response) == ["Policy app-keys detached from alice."]
    assert not alice.attached_policies.exists()
    assert last_event("DetachUserPolicy").error_code == ""


def test_a_built_in_policy_is_attached_from_its_page(signed_in, app_role):
    response = signed_in.post("/iam/policies/aws/KMSReadOnly/entities/attach",
                              {"entity": "role:app"}, follow=True)
    assert response.redirect_chain[-1][0] == "/iam/policies/aws/KMSReadOnly/entities"
    assert list(app_role.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]
    signed_in.post("/iam/policies/aws/KMSReadOnly/entities/detach", {"entity": "role:app"})
    assert not app_role.attached_policies.exists()
    assert last_event("DetachRolePolicy").error_code == ""


def test_attaching_nothing_or_a_missing_entity_is_a_flash(signed_in, policy):
    response = signed_in.post("/iam/policies/details/app-keys/entities/attach", {},
                              follow=True)
    assert flashes(response) == ["Select one or more users or roles to attach the policy to."]
    response = signed_in.post("/iam/policies/details/app-keys/entities/attach",
                              {"entity": "user:ghost"}, follow=True)
    assert flashes(response) == ["NoSuchEntity: The user with name ghost cannot be found."]


def test_attaching_is_refused_to_a_reader(reader_client, policy, app_role):
    response = reader_client.post("/iam/policies/details/app-keys/entities/attach",
                                  {"entity": "role:app"})
    assert response.status_code == 403
    assert last_event("AttachRolePolicy").error_code == "AccessDenied"
    assert not app_role.attached_policies.exists()


# --- Delete -------------------------------------------------------------------------------------

def test_delete_detaches_deletes_versions_then_the_policy(signed_in, admin, policy, app_role):
    services.policy_attach_role(caller=caller_for(admin), role=app_role, policy_arn=POLICY_ARN)
    services.managed_policy_create_version(caller=caller_for(admin), policy_arn=POLICY_ARN,
                                           document=document("kms:Encrypt"))
    page = signed_in.get("/iam/policies/details/app-keys/delete").content.decode()
    assert "app (IAM role)" in page
    mistyped = signed_in.post("/iam/policies/details/app-keys/delete", {"confirmation": "x"})
    assert mistyped.status_code == 400 and customer_policies().exists()
    response = signed_in.post("/iam/policies/details/app-keys/delete",
                              {"confirmation": "app-keys"}, follow=True)
    assert response.redirect_chain[-1][0] == "/iam/policies"
    assert flashes(response) == ["Policy app-keys deleted."]
    assert not customer_policies().exists()
    for name in ("DetachRolePolicy", "DeletePolicyVersion", "DeletePolicy"):
        event = last_event(name)
        assert (event.principal_arn, event.source, event.error_code) == (
            admin.arn, "console", "")


def test_delete_is_refused_to_a_reader(reader_client, policy):
    response = reader_client.post("/iam/policies/details/app-keys/delete",
                                  {"confirmation": "app-keys"})
    assert response.status_code == 403
    assert last_event("DeletePolicy").error_code == "AccessDenied"
    assert customer_policies().exists()


def test_policy_pages_enforce_csrf(admin, policy):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    for url, data in [("/iam/policies/details/app-keys/edit", {"policy": document("kms:*")}),
                      ("/iam/policies/details/app-keys/delete", {"confirmation": "app-keys"}),
                      ("/iam/policies/details/app-keys/entities/attach",
                       {"entity": "user:admin"})]:
        assert client.post(url, data).status_code == 403
    assert policy.versions.count() == 1 and customer_policies().exists()


# --- the services behind the pages (grants.managed_policies) ------------------------------------

def test_another_accounts_policy_is_refused_even_to_its_administrator(outsider, policy):
    with pytest.raises(AccessDeniedError):
        managed_policies.policy_get(caller=caller_for(outsider), policy_arn=POLICY_ARN)
    assert last_event("GetPolicy").error_code == "AccessDenied"


def test_a_missing_version_or_a_malformed_arn_is_an_iam_error(admin, policy):
    with pytest.raises(NoSuchEntityError):
        managed_policies.policy_version_get(caller=caller_for(admin), policy_arn=POLICY_ARN,
                                            version_id="v9")
    with pytest.raises(NoSuchEntityError):
        managed_policies.policy_version_get(caller=caller_for(admin), policy_arn=READ_ONLY,
                                            version_id="v2")
    with pytest.raises(ValidationError):
        managed_policies.policy_get(caller=caller_for(admin), policy_arn="not-an-arn")
