"""kms_seed (seed files) and kms_reset (resetting an account between test runs).

Both are the operational interface users' pipelines rely on (design.md, "Operational interface"):
a seed file applies all or nothing, twice changes nothing, and every creation is audited; a reset
removes an account's keys and audit trail but keeps its principals and their credentials.
"""

import io
import json
import textwrap
from pathlib import Path

import pytest
import yaml
from django.apps import apps
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from grants import services as grant_services
from grants import sts
from grants.builtin_policies import builtin_policy_arn
from grants.models import AccessKey, Account, InlinePolicy, ManagedPolicy, Role, User
from grants.principals import Caller, Principal
from grants.selectors import identity_policies_for
from keys import operations, services
from keys.models import Alias, Key, KeyMaterial, Tag
from keys.policies import api_default_policy
from kmsconsole.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    LimitExceededError,
    ValidationError,
)
from tests.conftest import caller_for

from .conftest import raises_kms

pytestmark = pytest.mark.django_db

EXAMPLE = Path(settings.BASE_DIR) / "examples" / "seed.yaml"
DEMO = "123456789012"
OTHER = "210987654321"
ADMIN_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
APP_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
ADMIN_PASSWORD = "change-me-now"


def run_seed(path_or_text, tmp_path=None) -> str:
    """Run kms_seed on a file (Path) or on YAML text (written to a file); its stdout."""
    if not isinstance(path_or_text, Path):
        path = tmp_path / "seed.yaml"
        path.write_text(textwrap.dedent(path_or_text))
        path_or_text = path
    out = io.StringIO()
    call_command("kms_seed", str(path_or_text), stdout=out)
    return out.getvalue()


def seed_error(text: str, tmp_path) -> str:
    with pytest.raises(CommandError) as caught:
        run_seed(text, tmp_path)
    return str(caught.value)


def table_counts() -> dict[str, int]:
    """Rows of every table of the project (audit events included)."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def snapshot() -> dict:
    """What a second run could change without adding rows: hashes, secrets, targets, values."""
    return {
        "counts": table_counts(),
        "users": sorted(User.objects.values_list("arn", "password")),
        "access_keys": sorted((k.access_key_id, bytes(k.secret_wrapped), k.user_id, k.status)
                              for k in AccessKey.objects.all()),
        "accounts": sorted(Account.objects.values_list("id", "alias")),
        "keys": sorted(Key.objects.values_list("id", "description", "key_state",
                                               "current_version", "policy")),
        "roles": sorted(Role.objects.values_list("arn", "trust_policy", "description",
                                                 "max_session_duration", "policy_version")),
        # key=str: these rows mix None (no attachment, no owner of that kind) and values.
        "user_policies": sorted(User.objects.values_list("arn", "attached_policies__arn",
                                                         "policy_version"), key=str),
        "role_policies": sorted(Role.objects.values_list("arn", "attached_policies__arn"),
                                key=str),
        "inline": sorted(InlinePolicy.objects.values_list("user_id", "role_id", "name",
                                                          "document", "updated_at"), key=str),
        "managed": sorted(ManagedPolicy.objects.filter(account__isnull=False).values_list(
            "arn", "default_version_id", "versions__version_id", "versions__document")),
        "aliases": sorted(Alias.objects.values_list("name", "target_key_id", "updated_at")),
        "tags": sorted(Tag.objects.values_list("key_id", "tag_key", "tag_value")),
        "materials": sorted(KeyMaterial.objects.values_list("key_id", "version", "material_id")),
        "events": list(AuditEvent.objects.values_list("id", flat=True)),
    }


def key_of(alias: str, account_id: str = DEMO, region: str = "us-east-1") -> Key:
    return Alias.objects.get(account_id=account_id, region=region, name=alias).target_key


def minimal(body: str = "", *, account: str = DEMO) -> str:
    return f'accounts:\n  - id: "{account}"\n' + textwrap.indent(textwrap.dedent(body), "    ")


# --- the example file ----------------------------------------------------------------------

def test_the_example_file_declares_the_demo_account_users_credentials_and_keys():
    out = run_seed(EXAMPLE)
    account = Account.objects.get(pk=DEMO)
    assert account.alias == "demo"
    assert set(account.users.values_list("name", flat=True)) == {"admin", "app"}
    assert AccessKey.objects.get(access_key_id="AKIAEXAMPLEADMIN0001").user.name == "admin"
    assert AccessKey.objects.get(access_key_id="AKIAEXAMPLEAPP000001").user.name == "app"
    payments = key_of("alias/payments")
    assert (payments.key_spec, payments.key_usage) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert payments.description == "payments data"
    assert dict(payments.tags.values_list("tag_key", "tag_value")) == {
        "team": "payments", "env": "test"}
    signing = key_of("alias/release-signing")
    assert (signing.key_spec, signing.key_usage) == ("RSA_2048", "SIGN_VERIFY")
    hmac_key = Key.objects.get(account_id=DEMO, key_spec="HMAC_256")
    assert hmac_key.key_usage == "GENERATE_VERIFY_MAC" and not hmac_key.aliases.exists()
    assert all(key.materials.count() == 1 for key in Key.objects.filter(account_id=DEMO))
    assert "created account 123456789012 (alias demo)" in out
    assert "created access key AKIAEXAMPLEADMIN0001 for user admin" in out


def test_applying_the_example_twice_changes_nothing_the_second_time():
    run_seed(EXAMPLE)
    before = snapshot()
    out = run_seed(EXAMPLE)
    assert snapshot() == before  # no rows, no re-hashed password, no audit event
    assert out.strip().endswith("nothing to change.")


def test_a_seeded_user_signs_in_with_the_declared_password():
    run_seed(EXAMPLE)
    user = authenticate(None, account="demo", username="admin", password=ADMIN_PASSWORD)
    assert user is not None and user.name == "admin" and user.account_id == DEMO
    assert authenticate(None, account=DEMO, username="admin", password=ADMIN_PASSWORD) == user
    assert authenticate(None, account="demo", username="admin", password="wrong-password") \
        is None
    # A user declared without a password cannot sign in to the console.
    assert not User.objects.get(account_id=DEMO, name="app").has_usable_password()


def test_a_seeded_access_key_keeps_its_fixed_secret_wrapped_never_in_the_clear():
    run_seed(EXAMPLE)
    admin_key = AccessKey.objects.get(access_key_id="AKIAEXAMPLEADMIN0001")
    assert admin_key.secret() == ADMIN_SECRET
    assert ADMIN_SECRET.encode() not in bytes(admin_key.secret_wrapped)
    assert AccessKey.objects.get(access_key_id="AKIAEXAMPLEAPP000001").secret() == APP_SECRET


def test_every_seeded_creation_is_audited_as_an_operator_event_without_secrets():
    out = run_seed(EXAMPLE)
    events = AuditEvent.objects.filter(recipient_account_id=DEMO)
    names = sorted(events.values_list("event_name", flat=True))
    assert names == sorted(["CreateAccount", "CreatePolicy", "CreateUser", "CreateUser",
                            "CreateAccessKey", "CreateAccessKey", "AttachUserPolicy",
                            "AttachUserPolicy", "PutUserPolicy", "CreateRole",
                            "AttachRolePolicy", "CreateKey", "CreateKey", "CreateKey",
                            "CreateAlias", "CreateAlias"])
    assert set(events.values_list("source", flat=True)) == {"scheduler"}
    assert set(events.values_list("error_code", flat=True)) == {""}
    trail = json.dumps([event.as_record() for event in events])
    for secret in (ADMIN_SECRET, APP_SECRET, ADMIN_PASSWORD):
        assert secret not in trail
        assert secret not in out


# --- changes ----------------------------------------------------------------------------------

def test_a_changed_password_is_applied_once_and_audited(tmp_path):
    run_seed(EXAMPLE)
    changed = EXAMPLE.read_text().replace(ADMIN_PASSWORD, "a-new-password-42")
    out = run_seed(changed, tmp_path)
    assert out.splitlines()[0] == \
        "changed the console password of user admin in account 123456789012"
    assert authenticate(None, account="demo", username="admin", password="a-new-password-42")
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.event_name, event.event_source) == ("UpdateLoginProfile", "iam.amazonaws.com")
    before = snapshot()
    run_seed(changed, tmp_path)
    assert snapshot() == before


def test_new_tags_and_a_new_description_are_applied_to_the_existing_key(tmp_path):
    run_seed(EXAMPLE)
    payments = key_of("alias/payments")
    changed = EXAMPLE.read_text().replace('"payments data"', '"card payments"').replace(
        "env: test", "env: staging")
    out = run_seed(changed, tmp_path)
    assert key_of("alias/payments") == payments
    payments.refresh_from_db()
    assert payments.description == "card payments"
    assert dict(payments.tags.values_list("tag_key", "tag_value"))["env"] == "staging"
    assert f"set tags env on key {payments.id}" in out
    assert Key.objects.filter(account_id=DEMO).count() == 3


def test_a_key_without_alias_is_recognised_by_description_spec_and_usage(tmp_path):
    text = minimal("""\
        keys:
          - description: "webhook MACs"
            spec: HMAC_256
            usage: GENERATE_VERIFY_MAC
          - description: "webhook MACs"
            spec: HMAC_384
            usage: GENERATE_VERIFY_MAC
    """)
    run_seed(text, tmp_path)
    run_seed(text, tmp_path)
    assert Key.objects.filter(account_id=DEMO).count() == 2


def test_several_matching_keys_without_alias_are_an_error_not_a_guess(tmp_path):
    text = minimal("""\
        keys:
          - description: "scratch"
    """)
    run_seed(text, tmp_path)
    caller = Caller.scheduler(account_id=DEMO, region="us-east-1")
    services.key_create(caller=caller, description="scratch")
    message = seed_error(text, tmp_path)
    assert "accounts[0].keys[0]: several keys without alias" in message
    assert Key.objects.filter(account_id=DEMO).count() == 2


def test_a_key_entry_may_name_its_region(tmp_path):
    run_seed(minimal("""\
        keys:
          - alias: alias/eu
            region: eu-west-1
    """), tmp_path)
    assert key_of("alias/eu", region="eu-west-1").region == "eu-west-1"
    event = AuditEvent.objects.get(event_name="CreateKey")
    assert event.aws_region == "eu-west-1"


# --- refusals: nothing is applied ---------------------------------------------------------

def test_an_unknown_key_is_an_error_naming_its_path_and_nothing_is_applied(tmp_path):
    before = table_counts()
    message = seed_error(minimal("""\
        alias: demo
        users:
          - name: admin
            password: "change-me-now"
          - name: app
            pasword: "change-me-too"
        keys:
          - alias: alias/payments
    """), tmp_path)
    assert "accounts[0].users[1].pasword: unknown key" in message
    assert "nothing was applied" in message
    assert table_counts() == before


def test_rotation_days_enables_automatic_rotation_once(tmp_path):
    body = minimal("""\
        keys:
          - alias: alias/rotating
            rotation_days: 180
    """)
    out = run_seed(body, tmp_path)
    key = key_of("alias/rotating")
    assert (key.rotation_enabled, key.rotation_period_days) == (True, 180)
    assert f"enabled automatic rotation every 180 days for key {key.id}" in out
    enabled = AuditEvent.objects.filter(event_name="EnableKeyRotation", key_id=str(key.id))
    assert enabled.count() == 1
    next_rotation = key.next_rotation_date
    assert run_seed(body, tmp_path).endswith("nothing to change.\n")  # applied again
    key.refresh_from_db()
    assert key.next_rotation_date == next_rotation and enabled.count() == 1


def test_rotation_days_changes_the_period_of_an_existing_key(tmp_path):
    run_seed(minimal("""\
        keys:
          - alias: alias/rotating
    """), tmp_path)
    assert not key_of("alias/rotating").rotation_enabled
    out = run_seed(minimal("""\
        keys:
          - alias: alias/rotating
            rotation_days: 400
    """), tmp_path)
    key = key_of("alias/rotating")
    assert (key.rotation_enabled, key.rotation_period_days) == (True, 400)
    assert "enabled automatic rotation every 400 days" in out


@pytest.mark.parametrize(("lines", "problem"), [
    (["rotation_days: 89"], "expected a number of days from 90 to 2560"),
    (['rotation_days: "365"'], "expected a number of days from 90 to 2560"),
    (["spec: HMAC_256", "usage: GENERATE_VERIFY_MAC", "rotation_days: 365"],
     "automatic rotation is for symmetric encryption keys (SYMMETRIC_DEFAULT), not HMAC_256"),
])
def test_a_rotation_days_that_cannot_apply_is_refused_with_its_path(tmp_path, lines, problem):
    before = table_counts()
    fields = "".join(f"    {line}\n" for line in lines)
    message = seed_error(minimal("keys:\n  - alias: alias/x\n" + fields), tmp_path)
    assert f"accounts[0].keys[0].rotation_days: {problem}" in message
    assert table_counts() == before


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    message = seed_error("""\
        accounts:
          - id: 123456789012
            users:
              - name: "not a valid name"
                password: short
                access_keys:
                  - id: akia-lower
                    secret: "short"
            keys:
              - spec: RSA_2048
              - alias: payments
                tags: {n: 1}
    """, tmp_path)
    for expected in (
        "accounts[0].id: expected a string, got int (quote it)",
        "accounts[0].users[0].name: use 1-64 letters",
        "accounts[0].users[0].password: This password is too short.",
        "accounts[0].users[0].access_keys[0].id: Use 16-128 upper-case letters",
        "accounts[0].users[0].access_keys[0].secret: A secret access key is 16-128",
        "accounts[0].keys[0].usage: required for spec RSA_2048",
        'accounts[0].keys[1].alias: Alias must start with the prefix "alias/"',
        "accounts[0].keys[1].tags.n: tag keys and values are strings",
    ):
        assert expected in message
    assert "short" not in message.replace("too short", "")  # secrets are never echoed


def test_a_broken_yaml_file_is_refused_without_quoting_its_lines(tmp_path):
    message = seed_error('accounts:\n  - id: "123456789012"\n    secret: "abc\n', tmp_path)
    assert "not valid YAML" in message and "line " in message
    assert "abc" not in message


def test_a_duplicate_mapping_key_is_an_error(tmp_path):
    message = seed_error(minimal('alias: demo\nalias: other\n'), tmp_path)
    assert "found duplicate key 'alias'" in message


def test_json_is_accepted_too_even_indented_with_tabs(tmp_path):
    document = {"accounts": [{"id": DEMO, "keys": [{"alias": "alias/json"}]}]}
    run_seed(json.dumps(document, indent="\t"), tmp_path)
    assert key_of("alias/json").key_spec == "SYMMETRIC_DEFAULT"


def test_an_access_key_id_of_another_user_is_refused(tmp_path):
    run_seed(EXAMPLE)
    before = snapshot()
    message = seed_error(minimal("""\
        users:
          - name: intruder
            access_keys:
              - id: AKIAEXAMPLEADMIN0001
                secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    """), tmp_path)
    assert ("accounts[0].users[0].access_keys[0].id: access key AKIAEXAMPLEADMIN0001 belongs to "
            "user admin of account 123456789012") in message
    assert snapshot() == before


def test_a_changed_secret_for_an_existing_access_key_is_refused(tmp_path):
    run_seed(EXAMPLE)
    before = snapshot()
    changed = EXAMPLE.read_text().replace(ADMIN_SECRET, "x" * 40)
    message = seed_error(changed, tmp_path)
    assert "access key AKIAEXAMPLEADMIN0001 exists with a different secret" in message
    assert "x" * 40 not in message
    assert snapshot() == before


def test_an_alias_pointing_at_a_key_of_another_spec_is_refused(tmp_path):
    run_seed(EXAMPLE)
    before = snapshot()
    changed = EXAMPLE.read_text().replace("spec: RSA_2048", "spec: ECC_NIST_P256")
    message = seed_error(changed, tmp_path)
    assert "accounts[0].keys[1].alias: alias/release-signing in us-east-1 points at key" in message
    assert "with spec RSA_2048 and usage SIGN_VERIFY, not ECC_NIST_P256" in message
    assert snapshot() == before


def test_an_account_alias_held_by_another_account_is_refused(tmp_path):
    run_seed(EXAMPLE)
    message = seed_error(minimal("alias: demo\n", account=OTHER), tmp_path)
    assert "accounts[0].alias: demo is already the alias of account 123456789012" in message
    assert not Account.objects.filter(pk=OTHER).exists()


def test_a_file_that_fails_half_way_through_applying_leaves_nothing_behind(tmp_path, monkeypatch):
    def refuse(**kwargs):
        raise LimitExceededError("refused for the test")

    monkeypatch.setattr(services, "alias_create", refuse)
    before = table_counts()
    with pytest.raises(CommandError, match="refused for the test"):
        run_seed(EXAMPLE)
    assert table_counts() == before


# --- identity policies, roles and key policies -----------------------------------------------

def user(name: str, account_id: str = DEMO) -> User:
    return User.objects.get(account_id=account_id, name=name)


def session_caller(issued) -> Caller:
    return Caller(principal=Principal.for_session(issued.session), region="us-east-1",
                  source="api", source_ip="192.0.2.10", user_agent="pytest")


def test_the_seeded_admin_may_administer_the_account():
    run_seed(EXAMPLE)
    caller = caller_for(user("admin"))
    key = services.key_create(caller=caller, description="made by the seeded admin")
    services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    grant_services.user_create(caller=caller, name="newcomer")
    blob = operations.encrypt(caller=caller, key_id="alias/payments", plaintext=b"hello").blob
    assert operations.decrypt(caller=caller, ciphertext_blob=blob).plaintext == b"hello"
    assert list(user("admin").attached_policies.values_list("arn", flat=True)) == [
        builtin_policy_arn("AdministratorAccess")]


def test_the_seeded_app_user_uses_the_keys_but_cannot_schedule_their_deletion():
    run_seed(EXAMPLE)
    caller = caller_for(user("app"))
    blob = operations.encrypt(caller=caller, key_id="alias/payments", plaintext=b"hello").blob
    assert operations.decrypt(caller=caller, ciphertext_blob=blob).plaintext == b"hello"
    operations.generate_data_key(caller=caller, key_id="alias/payments", key_spec="AES_256")
    operations.sign(caller=caller, key_id="alias/release-signing", message=b"build 42",
                    signing_algorithm="RSASSA_PSS_SHA_256")
    services.key_list(caller=caller)  # its inline policy
    payments = key_of("alias/payments")
    with raises_kms(AccessDeniedError):
        services.key_schedule_deletion(caller=caller, key_id=str(payments.id))
    event = AuditEvent.objects.filter(event_name="ScheduleKeyDeletion").latest("id")
    assert event.error_code == "AccessDeniedException"
    payments.refresh_from_db()
    assert payments.key_state == "Enabled"


def test_a_user_declared_without_policies_gets_none_and_may_do_nothing(tmp_path):
    run_seed(minimal("""\
        users:
          - name: bare
    """), tmp_path)
    bare = user("bare")
    assert identity_policies_for(Principal.for_user(bare)) == []
    with raises_kms(AccessDeniedError):
        services.key_list(caller=caller_for(bare))


def test_the_seeded_role_is_assumed_by_the_user_it_trusts_with_the_roles_policies():
    run_seed(EXAMPLE)
    role = Role.objects.get(account_id=DEMO, name="deployer")
    assert (role.max_session_duration, role.description) == (
        7200, "manages keys during deployments")
    issued = sts.role_assume(caller=caller_for(user("admin")), role_arn=role.arn,
                             session_name="deploy-42", duration_seconds=7200)
    session = session_caller(issued)
    payments = str(key_of("alias/payments").id)
    # KMSKeyAdministrator: manage keys ...
    services.key_disable(caller=session, key_id=payments)
    services.key_enable(caller=session, key_id=payments)
    # ... but not use them,
    with raises_kms(AccessDeniedError):
        operations.encrypt(caller=session, key_id="alias/payments", plaintext=b"x")
    # except where a key policy allows it: release-signing's lets the deployer sign.
    operations.sign(caller=session, key_id="alias/release-signing", message=b"build 42",
                    signing_algorithm="RSASSA_PSS_SHA_256")
    # The trust policy names the admin only.
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=caller_for(user("app")), role_arn=role.arn, session_name="app")


def test_a_changed_trust_policy_is_applied_on_the_next_seed(tmp_path):
    run_seed(EXAMPLE)
    role = Role.objects.get(account_id=DEMO, name="deployer")
    changed = EXAMPLE.read_text().replace("arn:aws:iam::123456789012:user/admin",
                                          "arn:aws:iam::123456789012:user/app")
    out = run_seed(changed, tmp_path)
    assert out.splitlines()[0] == \
        "changed the trust policy of role deployer in account 123456789012"
    assert AuditEvent.objects.latest("id").event_name == "UpdateAssumeRolePolicy"
    sts.role_assume(caller=caller_for(user("app")), role_arn=role.arn, session_name="app")
    with raises_kms(AccessDeniedError):
        sts.role_assume(caller=caller_for(user("admin")), role_arn=role.arn, session_name="admin")
    assert run_seed(changed, tmp_path).strip().endswith("nothing to change.")


def test_a_changed_inline_policy_is_applied_on_the_next_seed(tmp_path):
    run_seed(EXAMPLE)
    changed = EXAMPLE.read_text().replace("Action: [kms:ListKeys, kms:ListAliases]",
                                          "Action: [kms:ListAliases]")
    out = run_seed(changed, tmp_path)
    assert out.splitlines()[0] == \
        "changed inline policy list-keys of user app in account 123456789012"
    event = AuditEvent.objects.latest("id")
    assert (event.event_name, event.source, event.error_code) == (
        "PutUserPolicy", "scheduler", "")
    document = json.loads(InlinePolicy.objects.get(user=user("app"), name="list-keys").document)
    assert document["Statement"][0]["Action"] == ["kms:ListAliases"]
    with raises_kms(AccessDeniedError):
        services.key_list(caller=caller_for(user("app")))
    before = snapshot()
    run_seed(changed, tmp_path)
    assert snapshot() == before


def test_the_same_document_written_otherwise_is_no_change(tmp_path):
    statement = {"Effect": "Allow", "Action": ["kms:ListKeys"], "Resource": "*"}
    run_seed(minimal("""\
        users:
          - name: reader
            inline_policies:
              read: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: [kms:ListKeys],
                                                         Resource: "*"}]}
    """), tmp_path)
    before = snapshot()
    as_text = json.dumps({"Statement": [dict(reversed(statement.items()))],
                          "Version": "2012-10-17"})
    out = run_seed(minimal(f"""\
        users:
          - name: reader
            inline_policies:
              read: '{as_text}'
    """), tmp_path)
    assert out.strip().endswith("nothing to change.")
    assert snapshot() == before


def test_a_changed_managed_policy_gets_a_new_default_version_keeping_at_most_five(tmp_path):
    def declaring(action: str) -> str:
        return minimal(f"""\
            policies:
              - name: reading
                document: {{Version: "2012-10-17", Statement: [{{Effect: Allow,
                                                               Action: "{action}",
                                                               Resource: "*"}}]}}
            users:
              - name: reader
                policies: [reading]
        """)

    actions = ["kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyPolicy",
               "kms:GetPublicKey", "kms:ListKeyPolicies"]
    for action in actions:
        out = run_seed(declaring(action), tmp_path)
    assert "deleted version v1 of policy reading in account 123456789012" in out
    assert "changed policy reading in account 123456789012: its default version is now v6" \
        in out
    policy = ManagedPolicy.objects.get(account_id=DEMO, name="reading")
    assert list(policy.versions.values_list("version_id", "is_default")) == [
        ("v2", False), ("v3", False), ("v4", False), ("v5", False), ("v6", True)]
    assert json.loads(policy.versions.get(is_default=True).document)["Statement"][0][
        "Action"] == "kms:ListKeyPolicies"
    assert list(user("reader").attached_policies.all()) == [policy]
    assert run_seed(declaring(actions[-1]), tmp_path).strip().endswith("nothing to change.")


def test_a_policy_attached_outside_the_file_stays_attached(tmp_path):
    run_seed(EXAMPLE)
    app = user("app")
    grant_services.policy_attach_user(caller=Caller.scheduler(account_id=DEMO,
                                                              region="us-east-1"),
                                      user=app, policy_arn=builtin_policy_arn("KMSReadOnly"))
    assert run_seed(EXAMPLE).strip().endswith("nothing to change.")
    assert set(app.attached_policies.values_list("name", flat=True)) == {
        "kms-use", "KMSReadOnly"}


def test_a_key_with_a_seeded_policy_gets_exactly_that_policy():
    run_seed(EXAMPLE)
    declared = yaml.safe_load(EXAMPLE.read_text())["accounts"][0]["keys"][1]["policy"]
    signing = key_of("alias/release-signing")
    stored = services.key_get_policy(caller=caller_for(user("admin")), key_id=str(signing.id))
    assert json.loads(stored) == declared
    # A key declared without a policy gets the default one.
    assert key_of("alias/payments").policy == api_default_policy(DEMO)


def test_a_key_policy_given_as_json_text_is_stored_as_written_and_changes_are_applied(
        tmp_path):
    def declaring(sid: str) -> tuple[str, str]:
        text = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*", "Resource": "*"}]})
        return text, minimal(f"""\
            keys:
              - alias: alias/own-policy
                policy: '{text}'
        """)

    text, file = declaring("Root")
    run_seed(file, tmp_path)
    key = key_of("alias/own-policy")
    assert key.policy == text
    event = AuditEvent.objects.get(event_name="CreateKey")
    assert event.error_code == ""
    text, file = declaring("Account")
    out = run_seed(file, tmp_path)
    assert out.splitlines()[0] == (f"changed the key policy of key {key.id} (alias/own-policy) "
                                   "in account 123456789012, us-east-1")
    key.refresh_from_db()
    assert key.policy == text
    assert AuditEvent.objects.latest("id").event_name == "PutKeyPolicy"


def test_malformed_policies_are_reported_with_their_paths_and_nothing_is_applied(tmp_path):
    run_seed(EXAMPLE)
    before = snapshot()
    message = seed_error(minimal("""\
        policies:
          - name: no-resource
            document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*"}]}
        users:
          - name: newcomer
            policies: [AdministratorAccess, missing]
            inline_policies:
              dated: {Version: 2012-10-17, Statement: [{Effect: Allow, Action: "kms:*",
                                                         Resource: "*"}]}
        roles:
          - name: broken-json
            trust_policy: '{"Version": "2012-10-17", "Statement": ['
          - name: stranger
            trust_policy: {Version: "2012-10-17", Statement: [{
              Effect: Allow, Action: sts:AssumeRole,
              Principal: {AWS: "arn:aws:iam::123456789012:user/ghost"}}]}
        keys:
          - alias: alias/no-principal
            policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*",
                                                         Resource: "*"}]}
    """), tmp_path)
    assert "nothing was applied" in message
    for expected in (
        "accounts[0].policies[0].document: Statement[0]",
        "accounts[0].users[0].policies[1]: missing is neither a built-in policy",
        "accounts[0].users[0].inline_policies.dated.Version: expected a string, number, "
        "true/false, list or mapping, got date (quote it)",
        "accounts[0].roles[0].trust_policy: Policy document: invalid JSON",
        "accounts[0].keys[0].policy: Statement[0]",
    ):
        assert expected in message
    assert snapshot() == before
    # Once the file is well-formed, the principals its policies name are checked too.
    message = seed_error(minimal("""\
        roles:
          - name: stranger
            trust_policy: {Version: "2012-10-17", Statement: [{
              Effect: Allow, Action: sts:AssumeRole,
              Principal: {AWS: "arn:aws:iam::123456789012:user/ghost"}}]}
    """), tmp_path)
    assert ("accounts[0].roles[0].trust_policy: arn:aws:iam::123456789012:user/ghost does not "
            "exist and is not declared before this entry") in message
    assert snapshot() == before


def test_a_policy_may_name_a_principal_the_file_declares_before_it(tmp_path):
    run_seed(minimal("""\
        users:
          - name: ops
        roles:
          - name: first
            trust_policy: {Version: "2012-10-17", Statement: [{Effect: Allow,
              Action: sts:AssumeRole, Principal: {AWS: "arn:aws:iam::123456789012:user/ops"}}]}
          - name: second
            trust_policy: {Version: "2012-10-17", Statement: [{Effect: Allow,
              Action: sts:AssumeRole, Principal: {AWS: "arn:aws:iam::123456789012:role/first"}}]}
        keys:
          - alias: alias/ops
            policy: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*",
              Resource: "*", Principal: {AWS: ["123456789012",
                                              "arn:aws:iam::123456789012:role/second"]}}]}
    """), tmp_path)
    assert Role.objects.filter(account_id=DEMO).count() == 2
    assert "role/second" in key_of("alias/ops").policy


def test_a_customer_policy_cannot_take_a_built_in_name_nor_a_user_an_unknown_one(tmp_path):
    message = seed_error(minimal("""\
        policies:
          - name: AdministratorAccess
            document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*",
                                                         Resource: "*"}]}
    """), tmp_path)
    assert ("accounts[0].policies[0].name: AdministratorAccess is a built-in policy; give "
            "yours another name") in message
    assert not Account.objects.filter(pk=DEMO).exists()


# --- kms_reset --------------------------------------------------------------------------------

def run_reset(account_id: str) -> str:
    out = io.StringIO()
    call_command("kms_reset", "--account", account_id, "--yes", stdout=out)
    return out.getvalue()


def seed_two_accounts(tmp_path):
    run_seed(EXAMPLE)
    run_seed(minimal("""\
        users:
          - name: ci
            access_keys:
              - id: AKIAEXAMPLEOTHER0001
                secret: "oTHErEXAMPLEsecretKEY0123456789abcdefgh"
        keys:
          - alias: alias/other
            tags: {team: other}
    """, account=OTHER), tmp_path)
    # A key of the demo account in a second region, found only by a reset of every region.
    services.key_create(caller=Caller.scheduler(account_id=DEMO, region="eu-west-1"),
                        description="elsewhere", tags=[("where", "eu")])


def test_reset_removes_the_accounts_keys_in_every_region_with_their_trail(tmp_path):
    seed_two_accounts(tmp_path)
    other_before = {
        "keys": list(Key.objects.filter(account_id=OTHER).values_list("id", flat=True)),
        "events": list(AuditEvent.objects.filter(recipient_account_id=OTHER)
                       .values_list("id", flat=True)),
    }
    out = run_reset(DEMO)
    assert out.strip() == (
        "Reset account 123456789012: deleted 4 key(s), 2 alias(es), 4 tag(s), 4 key material "
        "version(s) and 17 audit event(s); kept 2 user(s) and 2 access key(s).")
    assert not Key.objects.filter(account_id=DEMO).exists()
    assert not Alias.objects.filter(account_id=DEMO).exists()
    assert not Tag.objects.filter(key__account_id=DEMO).exists()
    assert not KeyMaterial.objects.filter(key__account_id=DEMO).exists()
    # The other account is untouched.
    assert list(Key.objects.filter(account_id=OTHER).values_list("id", flat=True)) == \
        other_before["keys"]
    assert key_of("alias/other", account_id=OTHER).tags.get().tag_value == "other"
    assert list(AuditEvent.objects.filter(recipient_account_id=OTHER)
                .values_list("id", flat=True)) == other_before["events"]


def test_reset_keeps_the_account_its_users_and_their_credentials():
    run_seed(EXAMPLE)
    run_reset(DEMO)
    assert Account.objects.get(pk=DEMO).alias == "demo"
    assert authenticate(None, account="demo", username="admin", password=ADMIN_PASSWORD)
    assert AccessKey.objects.get(access_key_id="AKIAEXAMPLEADMIN0001").secret() == ADMIN_SECRET
    assert AccessKey.objects.get(access_key_id="AKIAEXAMPLEAPP000001").secret() == APP_SECRET


def test_reset_leaves_one_reset_account_event_as_the_start_of_the_trail():
    run_seed(EXAMPLE)
    run_reset(DEMO)
    event = AuditEvent.objects.get(recipient_account_id=DEMO)
    assert (event.event_name, event.event_source, event.error_code) == (
        "ResetAccount", "kms.amazonaws.com", "")
    assert event.source == "scheduler" and event.event_type == "AwsServiceEvent"
    assert event.user_identity == {"accountId": DEMO, "invokedBy": "AWS Internal"}
    details = event.service_event_details["resetAccount"]
    assert {name: value for name, value in details.items() if name != "redactionDigest"} == {
        "keysDeleted": 3, "aliasesDeleted": 2, "tagsDeleted": 3, "keyMaterialsDeleted": 3,
        "auditEventsDeleted": 16, "eventsRedacted": 16}
    assert len(details["redactionDigest"]) == 64


def test_after_a_reset_the_seed_recreates_the_keys_and_nothing_else():
    run_seed(EXAMPLE)
    users = sorted(User.objects.values_list("id", "password"))
    run_reset(DEMO)
    out = run_seed(EXAMPLE)
    assert [line.split()[1] for line in out.splitlines()[:-1]] == [
        "key", "alias", "key", "alias", "key"]
    assert sorted(User.objects.values_list("id", "password")) == users


def test_reset_of_an_unknown_account_fails_and_changes_nothing():
    run_seed(EXAMPLE)
    before = table_counts()
    with pytest.raises(CommandError, match="Account 999999999999 does not exist."):
        run_reset("999999999999")
    assert table_counts() == before


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reset_as_documented_runs_without_a_question_in_a_pipeline(monkeypatch):
    run_seed(EXAMPLE)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal, as in CI
    out = io.StringIO()
    call_command("kms_reset", "--account", DEMO, stdout=out)
    assert out.getvalue().startswith("Reset account 123456789012: deleted 3 key(s)")
    assert not Key.objects.filter(account_id=DEMO).exists()


def test_reset_at_a_terminal_asks_for_the_account_id_and_a_wrong_answer_deletes_nothing(
        monkeypatch):
    run_seed(EXAMPLE)
    monkeypatch.setattr("sys.stdin", _Terminal("210987654321\n"))
    before = table_counts()
    with pytest.raises(CommandError, match="Not confirmed; nothing was deleted."):
        call_command("kms_reset", "--account", DEMO, stdout=io.StringIO())
    assert table_counts() == before
    monkeypatch.setattr("sys.stdin", _Terminal(f"{DEMO}\n"))
    call_command("kms_reset", "--account", DEMO, stdout=io.StringIO())
    assert not Key.objects.filter(account_id=DEMO).exists()


# --- the IAM services the seed uses -----------------------------------------------------------

def test_access_key_create_generates_an_id_and_a_secret_it_returns_once(admin, caller):
    access_key, secret = grant_services.access_key_create(caller=caller, user=admin)
    assert access_key.access_key_id.startswith("AKIA") and len(access_key.access_key_id) == 20
    assert len(secret) == 40 and access_key.secret() == secret
    event = AuditEvent.objects.get(event_name="CreateAccessKey")
    assert event.event_source == "iam.amazonaws.com" and event.error_code == ""
    assert event.response_elements["accessKey"]["accessKeyId"] == access_key.access_key_id
    assert secret not in json.dumps(event.as_record())


def test_access_key_create_refuses_a_third_key_a_taken_id_and_another_accounts_user(
        admin, caller, outsider_caller):
    grant_services.access_key_create(caller=caller, user=admin,
                                     access_key_id="AKIAFIXEDFIXED000001", secret="s" * 40)
    with raises_kms(AlreadyExistsError, "Access key AKIAFIXEDFIXED000001 already exists."):
        grant_services.access_key_create(caller=caller, user=admin,
                                         access_key_id="AKIAFIXEDFIXED000001", secret="t" * 40)
    with raises_kms(AccessDeniedError):
        grant_services.access_key_create(caller=outsider_caller, user=admin)
    grant_services.access_key_create(caller=caller, user=admin)
    with raises_kms(LimitExceededError, "Cannot exceed quota for AccessKeysPerUser: 2"):
        grant_services.access_key_create(caller=caller, user=admin)
    assert admin.access_keys.count() == 2
    failed = AuditEvent.objects.filter(event_name="CreateAccessKey").exclude(error_code="")
    # IAM's codes, as CloudTrail records IAM calls (kmsconsole.errors.recorded_error_code).
    assert sorted(failed.values_list("error_code", flat=True)) == [
        "AccessDenied", "EntityAlreadyExists", "LimitExceeded"]


def test_user_set_password_refuses_a_weak_password_and_audits_the_change(admin, caller):
    with raises_kms(ValidationError, contains=("too short",)):
        grant_services.user_set_password(caller=caller, user=admin, password="short")
    grant_services.user_set_password(caller=caller, user=admin, password="a-better-password-7")
    assert authenticate(None, account=admin.account_id, username="admin",
                        password="a-better-password-7") == admin
    assert list(AuditEvent.objects.filter(event_name="UpdateLoginProfile")
                .values_list("error_code", flat=True).order_by("id")) == ["ValidationError", ""]
