"""The console's IAM Roles pages: the list (trusted entities, last activity, filter), Create role
(trusted entity "AWS account" or a custom trust policy, policies, name, maximum session
duration), a role's detail page (Summary with Edit and the switch-role link; Permissions with
attach/detach and inline policies; Trust relationships with its editor) and Delete role, which
removes the role's policies first.

Each page is shown allowed (the administrator; every change asserts its IAM audit event),
denied (a signed-in user without permission: 403 with the explanation and a failed event) and
anonymous (sent to sign in); forms enforce CSRF and user text is rendered inert.
"""

import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from grants import roles, services, sts
from grants.builtin_policies import builtin_policy_arn
from grants.models import Role
from grants.principals import Caller
from kmsconsole.errors import AccessDeniedError, NoSuchEntityError, ValidationError
from tests.conftest import ACCOUNT_ID, OTHER_ACCOUNT_ID, REGION, caller_for, make_user
from tests.web.console_helpers import elements, names, table_rows

SCRIPT = "<script>alert('x')</script>"
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
READ_ONLY = builtin_policy_arn("KMSReadOnly")
ADMIN_ACCESS = builtin_policy_arn("AdministratorAccess")


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def trust(principal=ROOT, **extra) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": principal},
                     "Action": "sts:AssumeRole", **extra})


def allow(action="kms:DescribeKey") -> str:
    return document({"Effect": "Allow", "Action": action, "Resource": "*"})


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).latest("id")


def events(name: str) -> int:
    return AuditEvent.objects.filter(event_name=name).count()


def flashes(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(e["text"].split()) for e in elements(html, "div")
            if "flash" in e["attrs"].get("class", "").split()]


def scheduler() -> Caller:
    return Caller.scheduler(account_id=ACCOUNT_ID, region=REGION)


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
                                    document=allow(["iam:Get*", "iam:List*"]))
    client.force_login(reader)
    return client


@pytest.fixture
def role(admin):
    return services.role_create(caller=caller_for(admin), name="app", trust_policy=trust(),
                                description="The payments app", max_session_duration=7200)


def role_row(html: str, name: str) -> list[str]:
    return next(row for row in table_rows(html) if row[0] == name)


# --- the list -----------------------------------------------------------------------------------

def test_the_roles_list_shows_trusted_entities_last_activity_and_creation_time(
        signed_in, admin, role, other_account):
    services.role_create(caller=caller_for(admin), name="ci",
                         trust_policy=trust([ROOT, f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"]))
    sts.role_assume(caller=caller_for(admin), role_arn=role.arn, session_name="build")
    response = signed_in.get("/iam/roles")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Roles (2)"]
    assert [row[0] for row in table_rows(html)] == ["app", "ci"]
    app = role_row(html, "app")
    assert app[1] == f"Account: {ACCOUNT_ID}" and app[2].endswith("ago")
    assert app[3].endswith("UTC")
    ci = role_row(html, "ci")
    assert ci[1] == f"Account: {ACCOUNT_ID}Account: {OTHER_ACCOUNT_ID}" and ci[2] == "-"
    assert elements(html, "a", href="/iam/roles/details/app")
    assert "Create role" in names(html, "a")
    event = last_event("ListRoles")
    assert (event.event_source, event.source, event.error_code) == (
        "iam.amazonaws.com", "console", "")


def test_the_roles_list_filters_by_name_and_answers_htmx_with_the_table(signed_in, admin, role):
    services.role_create(caller=caller_for(admin), name="reporting", trust_policy=trust())
    html = signed_in.get("/iam/roles", {"name": "APP"}).content.decode()
    assert [row[0] for row in table_rows(html)] == ["app"]
    none = signed_in.get("/iam/roles", {"name": "zzz"}).content.decode()
    assert "No roles match the filter." in none
    fragment = signed_in.get("/iam/roles", {"name": "rep"}, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert text.lstrip().startswith('<section id="role-table"')
    assert [row[0] for row in table_rows(text)] == ["reporting"]


def test_the_roles_list_is_refused_to_a_user_without_permission(nobody_client, nobody, role):
    response = nobody_client.get("/iam/roles")
    html = response.content.decode()
    assert response.status_code == 403
    assert "AccessDeniedException" in html and "iam:ListRoles" in html
    assert "<tbody>" not in html  # no table of roles at all
    event = last_event("ListRoles")
    assert (event.principal_arn, event.error_code) == (nobody.arn, "AccessDenied")


@pytest.mark.django_db
@pytest.mark.parametrize("method, url", [
    ("get", "/iam/roles"),
    ("get", "/iam/roles/create"),
    ("post", "/iam/roles/create"),
    ("get", "/iam/roles/details/app"),
    ("get", "/iam/roles/details/app/trust"),
    ("post", "/iam/roles/details/app/trust/edit"),
    ("post", "/iam/roles/details/app/edit"),
    ("post", "/iam/roles/details/app/attach"),
    ("post", "/iam/roles/details/app/detach"),
    ("post", "/iam/roles/details/app/inline/create"),
    ("post", "/iam/roles/details/app/inline/p/edit"),
    ("post", "/iam/roles/details/app/inline/p/delete"),
    ("post", "/iam/roles/details/app/delete"),
])
def test_roles_pages_send_anonymous_visitors_to_sign_in(client, role, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert Role.objects.filter(name="app").exists()


# --- Create role --------------------------------------------------------------------------------

def create_data(**changes) -> dict:
    data = {"trusted_entity_type": "aws_account", "account_choice": "this", "account_id": "",
            "trust_policy": "", "name": "deployer", "description": "Deploys things",
            "max_session_duration": "7200", "create": "1"}
    data.update(changes)
    return data


def test_create_role_page_offers_the_trusted_entity_types_and_every_policy(signed_in):
    html = signed_in.get("/iam/roles/create").content.decode()
    radios = [e["attrs"]["value"] for e in elements(html, "input", type="radio",
                                                       name="trusted_entity_type")]
    assert radios == ["aws_account", "custom"]
    assert f"This account ({ACCOUNT_ID})" in html
    policies = [e["attrs"]["value"] for e in elements(html, "input", name="policies")]
    assert policies == [ADMIN_ACCESS, builtin_policy_arn("IAMUserChangePassword"),
                        builtin_policy_arn("KMSKeyAdministrator"), READ_ONLY]
    durations = [e["text"] for e in elements(html, "option")
                 if "hour" in e["text"]]
    assert durations[0] == "1 hour" and durations[-1] == "12 hours" and len(durations) == 12
    labelled = {e["attrs"]["for"] for e in elements(html, "label") if "for" in e["attrs"]}
    fields = elements(html, "textarea") + elements(html, "select") + [
        e for e in elements(html, "input") if e["attrs"].get("type") == "text"]
    assert fields and all(e["attrs"]["id"] in labelled for e in fields)


def test_create_role_for_this_account_attaches_the_chosen_policies(signed_in, admin):
    response = signed_in.post("/iam/roles/create", create_data(policies=[READ_ONLY]),
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/roles/details/deployer"
    assert flashes(response) == ["Role deployer created."]
    role = Role.objects.get(name="deployer")
    assert json.loads(role.trust_policy)["Statement"][0]["Principal"] == {"AWS": ROOT}
    assert (role.max_session_duration, role.description) == (7200, "Deploys things")
    assert list(role.attached_policies.values_list("arn", flat=True)) == [READ_ONLY]
    created = last_event("CreateRole")
    assert (created.source, created.principal_arn, created.error_code) == (
        "console", admin.arn, "")
    assert created.request_parameters["maxSessionDuration"] == 7200
    assert last_event("AttachRolePolicy").request_parameters == {
        "roleName": "deployer", "policyArn": READ_ONLY}


def test_create_role_for_another_account_trusts_that_account(signed_in, other_account):
    signed_in.post("/iam/roles/create", create_data(account_choice="another",
                                                    account_id=OTHER_ACCOUNT_ID))
    role = Role.objects.get(name="deployer")
    assert json.loads(role.trust_policy)["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"}


def test_another_account_needs_a_twelve_digit_id(signed_in):
    response = signed_in.post("/iam/roles/create", create_data(account_choice="another"))
    assert response.status_code == 400
    assert "Enter the 12-digit ID of the other account." in response.content.decode()
    bad = signed_in.post("/iam/roles/create", create_data(account_choice="another",
                                                          account_id="12345"))
    assert "Enter a 12-digit AWS account ID." in bad.content.decode()
    assert not Role.objects.filter(name="deployer").exists()


def test_create_role_with_a_custom_trust_policy(signed_in, admin):
    custom = trust(admin.arn)
    signed_in.post("/iam/roles/create", create_data(trusted_entity_type="custom",
                                                    trust_policy=custom))
    assert Role.objects.get(name="deployer").trust_policy == custom


def test_a_malformed_custom_trust_policy_is_explained_and_creates_nothing(signed_in):
    response = signed_in.post("/iam/roles/create", create_data(
        trusted_entity_type="custom", trust_policy='{"Version": "2012-10-17"}'))
    html = response.content.decode()
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in html and "Statement" in html
    assert not Role.objects.filter(name="deployer").exists()
    assert last_event("CreateRole").error_code == "MalformedPolicyDocument"


def test_validate_checks_the_trust_policy_without_creating(signed_in):
    response = signed_in.post("/iam/roles/create", create_data(
        trusted_entity_type="custom", trust_policy=trust(), validate="1"))
    assert "The policy document is valid." in response.content.decode()
    broken = signed_in.post("/iam/roles/create", create_data(
        trusted_entity_type="custom", trust_policy="{not json", validate="1"))
    assert "MalformedPolicyDocumentException" in broken.content.decode()
    assert not Role.objects.exists()


def test_the_trust_policy_editor_validates_as_you_type(signed_in):
    response = signed_in.post("/iam/policies/validate", {
        "kind": "trust", "field": "trust_policy", "trust_policy": "{not json",
        "validation_id": "trust-policy-validation"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="trust-policy-validation"')
    assert "MalformedPolicyDocumentException" in html


def test_a_role_name_must_follow_iam_rules(signed_in):
    response = signed_in.post("/iam/roles/create", create_data(name="no spaces allowed"))
    assert response.status_code == 400
    assert "Use 1-64 letters, digits and + = , . @ _ -" in response.content.decode()
    assert not Role.objects.exists()


def test_a_taken_role_name_is_refused_on_the_form(signed_in, role):
    response = signed_in.post("/iam/roles/create", create_data(name="APP"))
    assert response.status_code == 400
    assert "Role with name APP already exists." in response.content.decode()


def test_create_role_is_refused_to_a_user_who_may_only_read(reader_client):
    response = reader_client.post("/iam/roles/create", create_data())
    assert response.status_code == 403
    assert "iam:CreateRole" in response.content.decode()
    assert last_event("CreateRole").error_code == "AccessDenied"
    assert not Role.objects.exists()


def test_the_create_role_page_is_refused_without_permission(nobody_client):
    response = nobody_client.get("/iam/roles/create")
    assert response.status_code == 403
    assert last_event("ListPolicies").error_code == "AccessDenied"


def test_create_role_enforces_csrf(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post("/iam/roles/create", create_data())
    assert response.status_code == 403
    assert not Role.objects.exists()


# --- the detail page ----------------------------------------------------------------------------

def test_the_summary_shows_arn_duration_and_the_switch_role_link(signed_in, role):
    response = signed_in.get("/iam/roles/details/app")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["app"]
    assert role.arn in html and "2 hours" in html and "The payments app" in html
    link = f"http://testserver/iam/switch-role?roleName=app&amp;account={ACCOUNT_ID}"
    assert link in html
    assert names(html, "a", **{"class": "tabs__tab"}) == ["Permissions", "Trust relationships",
                                                         "Audit"]
    assert names(html, "a", aria_current="page") == ["Permissions"]
    assert last_event("GetRole").request_parameters == {"roleName": "app"}


def test_a_missing_role_is_a_404_page(signed_in):
    response = signed_in.get("/iam/roles/details/ghost")
    assert response.status_code == 404
    assert "The role with name ghost cannot be found." in response.content.decode()


def test_a_role_is_not_shown_to_a_user_without_permission(nobody_client, nobody, role):
    response = nobody_client.get("/iam/roles/details/app")
    assert response.status_code == 403
    assert "The payments app" not in response.content.decode()
    assert last_event("GetRole").error_code == "AccessDenied"


def test_a_denied_user_cannot_tell_a_missing_role_from_a_hidden_one(nobody_client):
    response = nobody_client.get("/iam/roles/details/ghost")
    assert response.status_code == 403


def test_edit_summary_updates_description_and_maximum_session_duration(signed_in, admin, role):
    page = signed_in.get("/iam/roles/details/app/edit").content.decode()
    duration = page.split('id="role-max-session"', 1)[1].split("</select>", 1)[0]
    assert [e["attrs"]["value"] for e in elements(duration, "option")
            if "selected" in e["attrs"]] == ["7200"]
    response = signed_in.post("/iam/roles/details/app/edit", {
        "description": "Now longer", "max_session_duration": "43200"}, follow=True)
    assert flashes(response) == ["Role app updated."]
    role.refresh_from_db()
    assert (role.max_session_duration, role.description) == (43200, "Now longer")
    event = last_event("UpdateRole")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")
    assert event.request_parameters == {"roleName": "app", "maxSessionDuration": 43200,
                                        "description": "Now longer"}


def test_a_maximum_session_duration_outside_one_to_twelve_hours_is_refused(signed_in, role):
    response = signed_in.post("/iam/roles/details/app/edit", {
        "description": "", "max_session_duration": "100"})
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    role.refresh_from_db()
    assert role.max_session_duration == 7200


def test_edit_summary_is_refused_to_a_reader(reader_client, role):
    response = reader_client.post("/iam/roles/details/app/edit", {
        "description": "", "max_session_duration": "3600"})
    assert response.status_code == 403
    assert "iam:UpdateRole" in response.content.decode()
    assert last_event("UpdateRole").error_code == "AccessDenied"


def test_a_description_is_rendered_inert(signed_in, admin):
    services.role_create(caller=caller_for(admin), name="xss", trust_policy=trust(
        Condition={"StringEquals": {"aws:UserAgent": SCRIPT}}), description=SCRIPT)
    for url in ("/iam/roles/details/xss", "/iam/roles/details/xss/trust",
                "/iam/roles/details/xss/edit"):
        html = signed_in.get(url).content.decode()
        assert SCRIPT not in html and "&lt;script&gt;" in html


# --- Permissions tab ----------------------------------------------------------------------------

def test_the_permissions_tab_lists_managed_and_inline_policies(signed_in, admin, role):
    services.policy_attach_role(caller=caller_for(admin), role=role, policy_arn=READ_ONLY)
    services.role_put_inline_policy(caller=caller_for(admin), role=role, policy_name="extra",
                                    document=allow())
    html = signed_in.get("/iam/roles/details/app").content.decode()
    assert "Permissions policies (2)" in names(html, "h2")
    assert [row[:2] for row in table_rows(html)] == [
        ["KMSReadOnly", "AWS managed"], ["extra", "Customer inline"]]
    assert names(html, "summary") == ["Add permissions"]
    assert {"Attach policies", "Create inline policy"} <= set(names(html, "a"))
    assert "Remove KMSReadOnly" in names(html, "button")
    assert last_event("ListAttachedRolePolicies").error_code == ""
    assert last_event("ListRolePolicies").error_code == ""


def test_attach_policies_lists_what_is_not_attached_and_attaches(signed_in, admin, role):
    services.policy_attach_role(caller=caller_for(admin), role=role, policy_arn=READ_ONLY)
    page = signed_in.get("/iam/roles/details/app/attach").content.decode()
    offered = [e["attrs"]["value"] for e in elements(page, "input", name="policies")]
    assert offered == [ADMIN_ACCESS, builtin_policy_arn("IAMUserChangePassword"),
                       builtin_policy_arn("KMSKeyAdministrator")]
    response = signed_in.post("/iam/roles/details/app/attach", {"policies": [ADMIN_ACCESS]},
                              follow=True)
    assert flashes(response) == ["Policy was successfully attached to role."]
    assert set(role.attached_policies.values_list("arn", flat=True)) == {READ_ONLY,
                                                                          ADMIN_ACCESS}
    assert last_event("AttachRolePolicy").request_parameters["policyArn"] == ADMIN_ACCESS


def test_attach_without_a_choice_says_so(signed_in, role):
    response = signed_in.post("/iam/roles/details/app/attach", {}, follow=True)
    assert flashes(response) == ["Select one or more policies to attach."]


def test_remove_detaches_a_managed_policy(signed_in, admin, role):
    services.policy_attach_role(caller=caller_for(admin), role=role, policy_arn=READ_ONLY)
    response = signed_in.post("/iam/roles/details/app/detach", {"policy_arn": READ_ONLY},
                              follow=True)
    assert flashes(response) == ["Policy KMSReadOnly removed."]
    assert not role.attached_policies.exists()
    event = last_event("DetachRolePolicy")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")


def test_detaching_what_is_not_attached_is_a_flash_not_a_500(signed_in, role):
    response = signed_in.post("/iam/roles/details/app/detach", {"policy_arn": READ_ONLY},
                              follow=True)
    assert response.status_code == 200
    assert flashes(response) == [f"NoSuchEntity: Policy {READ_ONLY} was not attached."]


def test_attach_and_detach_are_refused_to_a_reader(reader_client, admin, role):
    assert reader_client.post("/iam/roles/details/app/attach",
                              {"policies": [READ_ONLY]}).status_code == 403
    assert last_event("AttachRolePolicy").error_code == "AccessDenied"
    services.policy_attach_role(caller=caller_for(admin), role=role, policy_arn=READ_ONLY)
    assert reader_client.post("/iam/roles/details/app/detach",
                              {"policy_arn": READ_ONLY}).status_code == 403
    assert last_event("DetachRolePolicy").error_code == "AccessDenied"
    assert role.attached_policies.count() == 1


def test_create_edit_and_delete_an_inline_policy(signed_in, admin, role):
    page = signed_in.get("/iam/roles/details/app/inline/create").content.decode()
    assert "Statement1" in page and "Policy name" in names(page, "label")
    assert "inline policies together can have up to 10,240 characters" in page
    assert 'action="/iam/roles/details/app/inline/create"' in page
    response = signed_in.post("/iam/roles/details/app/inline/create", {
        "policy_name": "use-keys", "policy": allow("kms:Encrypt")}, follow=True)
    assert flashes(response) == ["Policy use-keys created."]
    assert role.inline_policies.get().document == allow("kms:Encrypt")
    assert last_event("PutRolePolicy").request_parameters["policyName"] == "use-keys"
    editor = signed_in.get("/iam/roles/details/app/inline/use-keys/edit").content.decode()
    assert "kms:Encrypt" in editor and last_event("GetRolePolicy").error_code == ""
    response = signed_in.post("/iam/roles/details/app/inline/use-keys/edit", {
        "policy_name": "renamed-is-ignored", "policy": allow("kms:Decrypt")}, follow=True)
    assert flashes(response) == ["Policy use-keys updated."]
    assert list(role.inline_policies.values_list("name", "document")) == [
        ("use-keys", allow("kms:Decrypt"))]
    response = signed_in.post("/iam/roles/details/app/inline/use-keys/delete", follow=True)
    assert flashes(response) == ["Policy use-keys removed."]
    assert not role.inline_policies.exists()
    event = last_event("DeleteRolePolicy")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")


def test_creating_an_inline_policy_never_replaces_one_of_the_same_name(signed_in, admin, role):
    services.role_put_inline_policy(caller=caller_for(admin), role=role, policy_name="keep",
                                    document=allow())
    response = signed_in.post("/iam/roles/details/app/inline/create", {
        "policy_name": "keep", "policy": allow("kms:*")})
    assert response.status_code == 400
    assert "The role already has a policy named keep." in response.content.decode()
    assert role.inline_policies.get().document == allow()


def test_a_malformed_inline_policy_is_explained_on_the_editor(signed_in, role):
    response = signed_in.post("/iam/roles/details/app/inline/create", {
        "policy_name": "broken", "policy": document({"Effect": "Allow", "Action": "kms:*"})})
    assert response.status_code == 400
    assert "MalformedPolicyDocumentException" in response.content.decode()
    assert not role.inline_policies.exists()


def test_inline_policies_are_refused_to_a_reader(reader_client, role):
    response = reader_client.post("/iam/roles/details/app/inline/create", {
        "policy_name": "p", "policy": allow()})
    assert response.status_code == 403
    assert last_event("PutRolePolicy").error_code == "AccessDenied"


# --- Trust relationships tab --------------------------------------------------------------------

def test_the_trust_tab_shows_the_document_and_edits_it(signed_in, admin, role):
    html = signed_in.get("/iam/roles/details/app/trust").content.decode()
    assert names(html, "a", aria_current="page") == ["Trust relationships"]
    assert "sts:AssumeRole" in html and "Edit trust policy" in names(html, "a")
    editor = signed_in.get("/iam/roles/details/app/trust/edit").content.decode()
    assert ROOT in editor
    new = trust(admin.arn)
    response = signed_in.post("/iam/roles/details/app/trust/edit", {"policy": new},
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/roles/details/app/trust"
    assert flashes(response) == ["Trust policy updated."]
    role.refresh_from_db()
    assert role.trust_policy == new
    event = last_event("UpdateAssumeRolePolicy")
    assert (event.principal_arn, event.error_code) == (admin.arn, "")


def test_a_trust_policy_naming_a_missing_user_is_refused_on_the_editor(signed_in, role):
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/ghost"
    response = signed_in.post("/iam/roles/details/app/trust/edit", {"policy": trust(ghost)})
    assert response.status_code == 400
    assert "Invalid principal in policy" in response.content.decode()
    role.refresh_from_db()
    assert role.trust_policy == trust()


def test_the_trust_editor_validates_without_saving(signed_in, role):
    response = signed_in.post("/iam/roles/details/app/trust/edit", {
        "policy": "[]", "validate": "1"})
    assert "MalformedPolicyDocumentException" in response.content.decode()
    assert events("UpdateAssumeRolePolicy") == 0


def test_editing_the_trust_policy_is_refused_to_a_reader(reader_client, role):
    response = reader_client.post("/iam/roles/details/app/trust/edit", {"policy": trust()})
    assert response.status_code == 403
    assert last_event("UpdateAssumeRolePolicy").error_code == "AccessDenied"


# --- Delete role --------------------------------------------------------------------------------

def test_delete_asks_to_type_the_name_then_removes_policies_and_the_role(signed_in, admin,
                                                                         role):
    services.policy_attach_role(caller=caller_for(admin), role=role, policy_arn=READ_ONLY)
    services.role_put_inline_policy(caller=caller_for(admin), role=role, policy_name="extra",
                                    document=allow())
    page = signed_in.get("/iam/roles/details/app/delete").content.decode()
    assert "KMSReadOnly (detached)" in page and "extra (inline, deleted)" in page
    mistyped = signed_in.post("/iam/roles/details/app/delete", {"confirmation": "ap"})
    assert mistyped.status_code == 400 and Role.objects.filter(name="app").exists()
    response = signed_in.post("/iam/roles/details/app/delete", {"confirmation": "app"},
                              follow=True)
    assert response.redirect_chain[-1][0] == "/iam/roles"
    assert flashes(response) == ["Role app deleted."]
    assert not Role.objects.filter(name="app").exists()
    for name in ("DetachRolePolicy", "DeleteRolePolicy", "DeleteRole"):
        event = last_event(name)
        assert (event.principal_arn, event.source, event.error_code) == (
            admin.arn, "console", "")


def test_delete_is_refused_to_a_reader_and_keeps_the_role(reader_client, role):
    response = reader_client.post("/iam/roles/details/app/delete", {"confirmation": "app"})
    assert response.status_code == 403
    assert last_event("DeleteRole").error_code == "AccessDenied"
    assert Role.objects.filter(name="app").exists()


def test_role_pages_enforce_csrf(admin, role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    for url, data in [("/iam/roles/details/app/edit", {"max_session_duration": "3600"}),
                      ("/iam/roles/details/app/delete", {"confirmation": "app"}),
                      ("/iam/roles/details/app/trust/edit", {"policy": trust()})]:
        assert client.post(url, data).status_code == 403
    role.refresh_from_db()
    assert role.max_session_duration == 7200


# --- the services behind the pages (grants.roles) -----------------------------------------------

@pytest.mark.parametrize("seconds, rule", [
    (3599, "greater than or equal to 3600"), (43201, "less than or equal to 43200")])
def test_update_role_refuses_a_duration_outside_iams_range(admin, role, seconds, rule):
    with pytest.raises(ValidationError) as refused:
        roles.role_update(caller=caller_for(admin), role=role, max_session_duration=seconds)
    assert refused.value.message == (
        f"1 validation error detected: Value '{seconds}' at 'maxSessionDuration' failed to "
        f"satisfy constraint: Member must have value {rule}")
    assert last_event("UpdateRole").error_code == "ValidationError"
    role.refresh_from_db()
    assert role.max_session_duration == 7200


def test_another_accounts_administrator_can_neither_read_nor_update_the_role(outsider, role):
    with pytest.raises(AccessDeniedError):
        roles.role_update(caller=caller_for(outsider), role=role, max_session_duration=3600)
    with pytest.raises(AccessDeniedError):
        roles.role_attached_policies(caller=caller_for(outsider), role=role)
    # The outsider's GetRole looks in the outsider's own account: no such role there.
    with pytest.raises(NoSuchEntityError):
        roles.role_get_detail(caller=caller_for(outsider), name="app")


def test_trusted_entities_are_worded_as_the_iam_console_words_them():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:user/bob",
                                                  OTHER_ACCOUNT_ID]},
         "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}]})
    assert roles.trusted_entities(policy) == (
        "AWS Service: ec2", f"Account: {ACCOUNT_ID}", f"Account: {OTHER_ACCOUNT_ID}", "Anyone")
    assert roles.trusted_entities("{not json") == ()
