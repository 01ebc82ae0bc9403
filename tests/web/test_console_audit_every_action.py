"""Every console page and action records exactly the audit events of the AWS calls behind it
(issue 6), whoever clicks.

The case table below holds every URL of the console: kmsconsole/urls.py, keys/urls.py and the
IAM pages of grants/urls.py (users, roles, policies, MFA, account settings, the simulator,
switch role). Not here: POST /, the API (tests/api/test_audit_every_operation.py); the pages
under /cloudtrail/ and the key's and user's Audit tabs, which read the trail itself and are
tested by their own modules. Each case runs four times:
- as the account's administrator: exactly the events listed, in order, each with its eventName,
  eventSource, the signed-in user's userIdentity, the resources it names and no error (or the
  error listed, like IAM's NoSuchEntity for an account without a password policy); and the
  change is made;
- as a user with no policy: the events up to the first refusal, which carries
  AccessDeniedException and the explanation; the refusal is shown; nothing changed;
- as a user who may read KMS and IAM but change nothing (KMSReadOnly, iam:Get*, iam:List*):
  the reads succeed and the refusal recorded is the action's own (TagResource, PutKeyPolicy,
  UpdateRole...), not the page's first read;
- anonymous: sent to sign-in, no event, nothing changed.
Pages and actions that are no AWS API call (the wizard's steps, table preferences, the region
selector, sign-out, switch back, the editors' validation) record no event for anyone. Sign-in
(ConsoleLogin, with and without MFA) and a switched role's identity are tested at the end.

`test_every_console_url_has_a_case` enumerates the URL resolver, so a new page or action
without a case here fails.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEvent
from grants import kms_grants, mfa, users
from grants import services as iam_services
from grants.builtin_policies import builtin_policy_arn
from grants.models import (
    AccessKey,
    Account,
    Grant,
    ManagedPolicy,
    MFADevice,
    PasswordPolicy,
    Role,
    SessionCredential,
    User,
)
from grants.policy.defaults import console_default_policy
from grants.principals import Caller
from grants.signin import HIDDEN_USER_NAME
from grants.switch_role import SESSION_KEY as SWITCHED_ROLE
from keys import imports, rotation, services
from keys.models import Alias, Key, KeyTablePreferences, Tag
from kmsconsole.console import REGION_SESSION_KEY
from tests.byok import make_material, wrap_offline
from tests.conftest import ACCOUNT_ID, REGION, caller_for, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
KMS = "kms.amazonaws.com"
IAM = "iam.amazonaws.com"
STS = "sts.amazonaws.com"
SIGNIN = "signin.amazonaws.com"
ACTION_PREFIX = {KMS: "kms", IAM: "iam", STS: "sts"}
# Not console pages of this module: POST / is the AWS API (its own test module; GET / has its
# case below); the /cloudtrail/ pages (event history, alerts, integrity) and a key's, a user's
# and a role's Audit tab (the event history, scoped) read the trail itself: their own modules
# (tests/web/test_console_event_history.py, test_console_principal_audit.py).
NOT_HERE = {"root", "keys:key_audit", "iam:user_audit", "iam:role_audit"}
NOT_HERE_PREFIXES = ("cloudtrail/",)
# Requests with their own tests at the end of this module (the actor is not signed in yet).
TESTED_BELOW = {("signin", "POST"): "test_a_sign_in_is_recorded_once_as_console_login"}


# --- expected events --------------------------------------------------------------------------

@dataclass(frozen=True)
class Ev:
    """An expected event: its name, the context names of the resources (keys, roles) it
    names, whether it is the refusal (AccessDeniedException; IAM's and STS's AccessDenied), and
    its service."""

    name: str
    keys: tuple[str, ...] = ()
    denied: bool = False
    source: str = KMS
    error: str = ""  # an expected error other than the refusal (IAM's NoSuchEntity, say)

    @property
    def read_only(self) -> bool:
        """As CloudTrail marks it (AssumeRole counts as a read there)."""
        return (self.name.startswith(("Describe", "List", "Get", "Simulate"))
                or self.name == "AssumeRole")

    @property
    def error_code(self) -> str:
        """KMS records a refusal as AccessDeniedException, IAM and STS as AccessDenied (the
        Query protocol's code, as CloudTrail records them)."""
        if not self.denied:
            return self.error
        return "AccessDeniedException" if self.source == KMS else "AccessDenied"


def iam_event(name: str, *, denied: bool = False, error: str = "") -> Ev:
    return Ev(name, denied=denied, source=IAM, error=error)


def reads(key: str = "key") -> list[Ev]:
    """What every tab of a key's page reads first: the key and its aliases."""
    return [Ev("DescribeKey", (key,)), Ev("ListAliases", (key,))]


def refused(event: Ev) -> list[Ev]:
    return [Ev(event.name, event.keys, denied=True, source=event.source)]


def both_refused(name: str) -> list[Ev]:
    """The selected keys' action refused for each of the two keys: one event per key."""
    return refused(Ev(name, ("key",))) + refused(Ev(name, ("second",)))


PAGE_REFUSED = refused(Ev("DescribeKey", ("key",)))  # a user with no policy sees no key page
ROLE_READ, ROLE_REFUSED = [iam_event("GetRole")], [iam_event("GetRole", denied=True)]
POLICY_READ, POLICY_REFUSED = [iam_event("GetPolicy")], [iam_event("GetPolicy", denied=True)]
USER_READ, USER_REFUSED = [iam_event("GetUser")], [iam_event("GetUser", denied=True)]


# --- what the cases need, made through the services as the administrator -------------------

def _key(admin) -> dict:
    return {"key": services.key_create(caller=caller_for(admin), description="audited")}


def _tagged_key(admin) -> dict:
    ctx = _key(admin)
    services.key_tag(caller=caller_for(admin), key_id=str(ctx["key"].id),
                     tags=[("team", "payments")])
    return ctx


def _aliased_key(admin) -> dict:
    ctx = _key(admin)
    services.alias_create(caller=caller_for(admin), alias_name="alias/audited",
                          target_key_id=str(ctx["key"].id))
    return ctx


def _disabled_key(admin) -> dict:
    ctx = _key(admin)
    services.key_disable(caller=caller_for(admin), key_id=str(ctx["key"].id))
    return ctx


def _pending_deletion_key(admin) -> dict:
    ctx = _key(admin)
    services.key_schedule_deletion(caller=caller_for(admin), key_id=str(ctx["key"].id),
                                   pending_window_days=7)
    return ctx


def _two_keys(admin, prepare: Callable[[Caller, str], object] | None = None) -> dict:
    caller = caller_for(admin)
    ctx = {name: services.key_create(caller=caller) for name in ("key", "second")}
    for key in ctx.values():
        if prepare is not None:
            prepare(caller, str(key.id))
    return ctx


def _two_disabled_keys(admin) -> dict:
    return _two_keys(admin, lambda caller, key_id: services.key_disable(caller=caller,
                                                                        key_id=key_id))


def _two_pending_deletion_keys(admin) -> dict:
    return _two_keys(admin, lambda caller, key_id: services.key_schedule_deletion(
        caller=caller, key_id=key_id, pending_window_days=7))


def _signing_key(admin) -> dict:
    return {"key": services.key_create(caller=caller_for(admin), key_spec="ECC_NIST_P256",
                                       key_usage="SIGN_VERIFY")}


def _granted_key(admin) -> dict:
    ctx = _key(admin)
    grant, _token = kms_grants.grant_create(caller=caller_for(admin), key_id=str(ctx["key"].id),
                                            grantee_principal=admin.arn,
                                            operations=["Encrypt", "Decrypt"])
    return {**ctx, "grant_id": grant.grant_id}


def _external_key(admin) -> dict:
    """A key of origin EXTERNAL waiting for its material, with import parameters issued and
    material wrapped offline under them (tests/byok.py)."""
    caller = caller_for(admin)
    key = services.key_create(caller=caller, origin="EXTERNAL")
    issued = imports.import_parameters_get(caller=caller, key_id=str(key.id),
                                           wrapping_algorithm="RSAES_OAEP_SHA_256",
                                           wrapping_key_spec="RSA_2048")
    return {"key": key, "token": issued.import_token,
            "encrypted": wrap_offline(issued.public_key, "RSAES_OAEP_SHA_256",
                                      make_material("SYMMETRIC_DEFAULT"))}


def _imported_key(admin) -> dict:
    ctx = _external_key(admin)
    imports.import_key_material(caller=caller_for(admin), key_id=str(ctx["key"].id),
                                import_token=ctx["token"],
                                encrypted_key_material=ctx["encrypted"],
                                expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE")
    return ctx


def _material_upload(ctx) -> dict:
    return {"encrypted_key_material": SimpleUploadedFile("material.bin", ctx["encrypted"]),
            "import_token": SimpleUploadedFile("token.bin", ctx["token"]),
            "expiration": "does_not_expire"}


def _console_policy_key(admin) -> dict:
    """A key whose policy is the console's default one, so the default view is offered."""
    policy = console_default_policy(ACCOUNT_ID, admins=[], users=[], other_accounts=[],
                                    key_type="SYMMETRIC_ENCRYPT")
    key = services.key_create(caller=caller_for(admin), policy=policy)
    return {"key": key, "alice": make_user(admin.account, "alice")}


def policy_document(*actions: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


def trust_document(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


ACCOUNT_TRUST = trust_document(f"arn:aws:iam::{ACCOUNT_ID}:root")
KMS_READ_ONLY = builtin_policy_arn("KMSReadOnly")


def _role(admin) -> dict:
    """app-role (trusting the account, so identity policies decide who may assume it), with
    KMSReadOnly attached and the inline policy inline-one; and alice, a user to attach to."""
    caller = caller_for(admin)
    role = iam_services.role_create(caller=caller, name="app-role", trust_policy=ACCOUNT_TRUST)
    iam_services.policy_attach_role(caller=caller, role=role, policy_arn=KMS_READ_ONLY)
    iam_services.role_put_inline_policy(caller=caller, role=role, policy_name="inline-one",
                                        document=policy_document("kms:DescribeKey"))
    return {"role": role, "alice": make_user(admin.account, "alice"),
            "role_before": snapshot_role(role)}


def _managed_policy(admin) -> dict:
    """team-policy with two versions (v2 the default), attached to app-role."""
    ctx = _role(admin)
    caller = caller_for(admin)
    policy = iam_services.managed_policy_create(caller=caller, name="team-policy",
                                                document=policy_document("kms:ListKeys"))
    iam_services.managed_policy_create_version(caller=caller, policy_arn=policy.arn,
                                               document=policy_document("kms:ListAliases"),
                                               set_as_default=True)
    iam_services.policy_attach_role(caller=caller, role=ctx["role"], policy_arn=policy.arn)
    policy.refresh_from_db()
    return {**ctx, "policy": policy, "policy_before": snapshot_policy(policy)}


USER_PASSWORD = "Correct-Horse-9-battery"
NO_PASSWORD_POLICY = iam_event("GetAccountPasswordPolicy", error="NoSuchEntity")


def _iam_user(admin) -> dict:
    """bob: a console password, KMSReadOnly attached, the inline policy inline-one and an
    active access key."""
    caller = caller_for(admin)
    bob = iam_services.user_create(caller=caller, name="bob", password=USER_PASSWORD)
    iam_services.policy_attach_user(caller=caller, user=bob, policy_arn=KMS_READ_ONLY)
    iam_services.user_put_inline_policy(caller=caller, user=bob, policy_name="inline-one",
                                        document=policy_document("kms:DescribeKey"))
    access_key, _secret = iam_services.access_key_create(caller=caller, user=bob)
    return {"bob": bob, "access_key_id": access_key.access_key_id,
            "bob_before": snapshot_user(bob)}


def _iam_user_inactive_key(admin) -> dict:
    ctx = _iam_user(admin)
    users.access_key_update_status(caller=caller_for(admin), user=ctx["bob"],
                                   access_key_id=ctx["access_key_id"],
                                   status=AccessKey.INACTIVE)
    return {**ctx, "bob_before": snapshot_user(ctx["bob"])}


def _mfa_created(admin) -> dict:
    """bob with a virtual MFA device created, not enabled yet."""
    ctx = _iam_user(admin)
    _device, secret = mfa.mfa_device_create(caller=caller_for(admin), user=ctx["bob"],
                                            device_name="bob-phone")
    return {**ctx, "mfa_secret": secret, "bob_before": snapshot_user(ctx["bob"])}


def _mfa_enabled(admin) -> dict:
    ctx = _mfa_created(admin)
    mfa.mfa_device_enable(caller=caller_for(admin), user=ctx["bob"], **_two_codes(ctx))
    return {**ctx, "bob_before": snapshot_user(ctx["bob"])}


def _two_codes(ctx) -> dict:
    step = mfa.current_step()
    return {"authentication_code_1": mfa.totp_code(ctx["mfa_secret"], step - 1),
            "authentication_code_2": mfa.totp_code(ctx["mfa_secret"], step)}


def _nothing(admin) -> dict:
    return {}


# --- the cases --------------------------------------------------------------------------------

def _detail(name: str) -> Callable[[dict], str]:
    return lambda ctx: reverse(f"keys:{name}", args=[ctx["key"].id])


def _fixed(path: str) -> Callable[[dict], str]:
    return lambda ctx: path


def _state(*names: str, is_: str) -> Callable[[dict], None]:
    def check(ctx):
        assert [Key.objects.get(pk=ctx[name].pk).key_state for name in names] == \
            [is_] * len(names)
    return check


def _role_page(name: str, *extra: str) -> Callable[[dict], str]:
    return lambda ctx: reverse(f"iam:{name}", args=[ctx["role"].name, *extra])


def _policy_page(name: str, policy: str = "team-policy") -> Callable[[dict], str]:
    return lambda ctx: reverse(f"iam:{name}", args=[policy])


def _role_exists(name: str, exists: bool = True) -> Callable[[dict], None]:
    def check(ctx):
        assert Role.objects.filter(name=name).exists() is exists
    return check


def _role_changed(ctx) -> None:
    role = Role.objects.get(pk=ctx["role"].pk)
    assert snapshot_role(role) != ctx["role_before"]


def snapshot_role(role: Role) -> tuple:
    return (role.trust_policy, role.description, role.max_session_duration,
            sorted(role.attached_policies.values_list("arn", flat=True)),
            sorted(role.inline_policies.values_list("name", "document")))


def _policy_changed(ctx) -> None:
    policy = ManagedPolicy.objects.filter(pk=ctx["policy"].pk).first()
    assert policy is None or snapshot_policy(policy) != ctx["policy_before"]


def snapshot_policy(policy: ManagedPolicy) -> tuple:
    return (policy.default_version_id, sorted(policy.versions.values_list("version_id",
                                                                          flat=True)),
            sorted(policy.users.values_list("name", flat=True)),
            sorted(policy.roles.values_list("name", flat=True)))


def _alice_has(policy_arn: str | None) -> Callable[[dict], None]:
    def check(ctx):
        arns = set(ctx["alice"].attached_policies.values_list("arn", flat=True))
        assert (policy_arn or ctx["policy"].arn) in arns
    return check


def _switched(ctx) -> None:
    assert ctx["client"].session[SWITCHED_ROLE]["role_name"] == "app-role"


def _user_page(name: str, *extra: str) -> Callable[[dict], str]:
    return lambda ctx: reverse(f"iam:{name}", args=["bob", *extra])


def _key_page(name: str) -> Callable[[dict], str]:
    return lambda ctx: reverse(f"iam:{name}", args=["bob", ctx["access_key_id"]])


def snapshot_user(user: User) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (user.password, sorted(user.attached_policies.values_list("arn", flat=True)),
            sorted(user.inline_policies.values_list("name", "document")),
            sorted(user.access_keys.values_list("access_key_id", "status")),
            sorted(MFADevice.objects.filter(user=user).values_list("serial_number",
                                                                   "enabled")))


def _user_changed(ctx) -> None:
    bob = User.objects.filter(pk=ctx["bob"].pk).first()
    assert bob is None or snapshot_user(bob) != ctx["bob_before"]


def _own_password_changed(ctx) -> None:
    """The signed-in user's password is the new one, and the session survived the change."""
    client = ctx["client"]
    user = User.objects.get(pk=client.session["_auth_user_id"])
    assert user.check_password(USER_PASSWORD)
    assert client.get("/kms/keys").status_code == 200


def _account_alias_is(alias: str | None) -> Callable[[dict], None]:
    def check(ctx):
        assert Account.objects.get(pk=ACCOUNT_ID).alias == alias
    return check


@dataclass(frozen=True)
class Case:
    """One console request and the events it must record for each kind of user.

    `denied` and `reader` are the events of a user with no policy and of one with KMSReadOnly;
    None means the request is no AWS call: it records nothing for anyone and anyone signed in
    may make it (then `changed` holds for every user)."""

    url_name: str
    path: Callable[[dict], str]
    allowed: list[Ev]
    denied: list[Ev] | None
    reader: list[Ev] | None = None          # default: `allowed` for reads, else the refusal
    method: str = "GET"
    setup: Callable[[User], dict] = _nothing
    data: Callable[[dict], dict] = lambda ctx: {}
    changed: Callable[[dict], None] | None = None   # the change the administrator made
    prepare: Callable[[Client, dict], dict] | None = None  # steps before it (data it adds)
    headers: dict = field(default_factory=dict)
    refused_status: int = 403               # the selected keys' actions flash and redirect
    ok_statuses: tuple[int, ...] = (200, 302)  # 400: a form the page itself sends back
    note: str = ""                          # tells apart the cases of one URL

    @property
    def id(self) -> str:
        return f"{self.method} {self.url_name} {self.note}".strip()


def _wizard_walk(client: Client, ctx: dict) -> dict:
    """Steps 1 to 4 of the Create key wizard (no AWS call among them); Finish's data."""
    response = client.get(reverse("keys:create_key"))
    run = parse_qs(urlparse(response["Location"]).query)["run"][0]
    for step, data in ((1, {"key_type": "SYMMETRIC", "key_usage": "ENCRYPT_DECRYPT"}),
                       (2, {"alias": "from-the-wizard", "description": "wizard",
                            "tag_key": [""], "tag_value": [""]}),
                       (3, {"allow_admins_to_delete": "on"}), (4, {})):
        response = client.post(reverse("keys:create_key"),
                               {"run": run, "step": step, "action": "next", **data})
        assert response.status_code == 302, response.content.decode()[:500]
    policy = console_default_policy(ACCOUNT_ID, admins=[], users=[], other_accounts=[],
                                    key_type="SYMMETRIC_ENCRYPT")
    return {"run": run, "step": 5, "action": "finish", "policy": policy}


def _wizard_created(ctx) -> None:
    alias = Alias.objects.get(name="alias/from-the-wizard")
    ctx["created"] = alias.target_key


def _wizard_step_data(client: Client, ctx: dict) -> dict:
    response = client.get(reverse("keys:create_key"))
    run = parse_qs(urlparse(response["Location"]).query)["run"][0]
    return {"run": run, "step": 1, "action": "next", "key_type": "SYMMETRIC",
            "key_usage": "ENCRYPT_DECRYPT"}


def _tags_are(expected: dict) -> Callable[[dict], None]:
    def check(ctx):
        assert dict(ctx["key"].tags.values_list("tag_key", "tag_value")) == expected
    return check


def _policy_names(name: str) -> Callable[[dict], None]:
    def check(ctx):
        assert ctx[name].arn in Key.objects.get(pk=ctx["key"].pk).policy
    return check


def _policy_is(text: str) -> Callable[[dict], None]:
    def check(ctx):
        assert Key.objects.get(pk=ctx["key"].pk).policy == text
    return check


def _description_is(text: str) -> Callable[[dict], None]:
    def check(ctx):
        assert Key.objects.get(pk=ctx["key"].pk).description == text
    return check


def _alias_exists(name: str, exists: bool) -> Callable[[dict], None]:
    def check(ctx):
        assert Alias.objects.filter(name=name).exists() is exists
    return check


def _grants_of_key(count: int) -> Callable[[dict], None]:
    def check(ctx):
        assert Grant.objects.filter(key=ctx["key"]).count() == count
    return check


def _preferences_saved(ctx) -> None:
    assert KeyTablePreferences.objects.filter(page_size=10).count() == 1


def _signed_out(ctx) -> None:
    assert "_auth_user_id" not in ctx["client"].session


def _region_is(region: str) -> Callable[[dict], None]:
    def check(ctx):
        assert ctx["client"].session[REGION_SESSION_KEY] == region
    return check


def _rotating_key(admin) -> dict:
    """A key with automatic rotation on (every 365 days)."""
    ctx = _key(admin)
    rotation.key_rotation_enable(caller=caller_for(admin), key_id=str(ctx["key"].id))
    return ctx


def _rotation_is(enabled: bool, period: int | None = None) -> Callable[[dict], None]:
    def check(ctx):
        key = Key.objects.get(pk=ctx["key"].pk)
        assert key.rotation_enabled is enabled
        if period is not None:
            assert key.rotation_period_days == period
    return check


def _rotated(ctx) -> None:
    assert Key.objects.get(pk=ctx["key"].pk).current_version == 2


EDITED_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "Enable IAM User Permissions", "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "kms:*",
    "Resource": "*"}]}, indent=2)
TAGS_EDIT = {"original_0": "team", "tag_key_0": "team", "tag_value_0": "payments",
             "remove_0": "on", "original_1": "", "tag_key_1": "env", "tag_value_1": "prod"}

CASES = [
    # --- read pages ---
    Case("keys:customer_managed_keys", _fixed("/kms/keys"),
         [Ev("ListKeys"), Ev("ListAliases")], refused(Ev("ListKeys")), setup=_key),
    Case("keys:aws_managed_keys", _fixed("/kms/defaultKeys"),
         [Ev("ListKeys"), Ev("ListAliases")], refused(Ev("ListKeys"))),
    Case("keys:aliases", _fixed("/kms/aliases"), [Ev("ListAliases")],
         refused(Ev("ListAliases")), setup=_aliased_key),
    Case("keys:custom_key_stores", _fixed("/kms/custom-key-stores"),
         [Ev("DescribeCustomKeyStores")], refused(Ev("DescribeCustomKeyStores"))),
    Case("keys:cloudhsm_key_stores", _fixed("/kms/custom-key-stores/cloudhsm"),
         [Ev("DescribeCustomKeyStores")], refused(Ev("DescribeCustomKeyStores"))),
    Case("keys:external_key_stores", _fixed("/kms/custom-key-stores/external"),
         [Ev("DescribeCustomKeyStores")], refused(Ev("DescribeCustomKeyStores"))),
    Case("keys:key_detail", _detail("key_detail"),
         reads() + [Ev("GetKeyPolicy", ("key",))], PAGE_REFUSED, setup=_key),
    Case("keys:key_policy", lambda ctx: _detail("key_policy")(ctx) + "?view=policy",
         reads() + [Ev("GetKeyPolicy", ("key",))], PAGE_REFUSED, setup=_key),
    Case("keys:key_crypto", _detail("key_crypto"), reads(), PAGE_REFUSED, setup=_key),
    Case("keys:key_tags", _detail("key_tags"), reads() + [Ev("ListResourceTags", ("key",))],
         PAGE_REFUSED, setup=_tagged_key),
    Case("keys:key_aliases", _detail("key_aliases"), reads(), PAGE_REFUSED,
         setup=_aliased_key),
    Case("keys:key_public_key", _detail("key_public_key"),
         reads() + [Ev("GetPublicKey", ("key",))], PAGE_REFUSED, setup=_signing_key),
    Case("keys:key_public_key_download", _detail("key_public_key_download"),
         reads() + [Ev("GetPublicKey", ("key",))], PAGE_REFUSED, setup=_signing_key),
    Case("keys:key_grants", _detail("key_grants"), reads() + [Ev("ListGrants", ("key",))],
         PAGE_REFUSED, setup=_granted_key),
    Case("keys:key_policy_edit", _detail("key_policy_edit"),
         reads() + [Ev("GetKeyPolicy", ("key",))], PAGE_REFUSED, setup=_key),
    Case("keys:key_tags_edit", _detail("key_tags_edit"),
         reads() + [Ev("ListResourceTags", ("key",))], PAGE_REFUSED, setup=_tagged_key),
    Case("keys:key_description_edit", _detail("key_description_edit"), reads(), PAGE_REFUSED,
         setup=_key),
    Case("keys:key_disable", _detail("key_disable"), [Ev("DescribeKey", ("key",))],
         PAGE_REFUSED, setup=_key, note="confirmation"),
    Case("keys:key_schedule_deletion", _detail("key_schedule_deletion"),
         [Ev("DescribeKey", ("key",))], PAGE_REFUSED, setup=_key, note="confirmation"),
    Case("keys:deletion_confirmation",
         _fixed("/kms/keys/deletion-confirmation?pending_window_days=9&key_count=2"), [],
         None, note="the dialog's sentence"),
    Case("keys:create_key", _fixed("/kms/keys/create"), [], None, note="start"),
    Case("healthz", _fixed("/healthz"), [], None),
    Case("metrics", _fixed("/metrics"), [], None, note="from loopback"),
    Case("readyz", _fixed("/readyz"), [], None),
    Case("signin", _fixed("/signin"), [], None, note="page"),
    Case("root", _fixed("/"), [], None, note="the console's front door"),

    # --- key actions: one key, from its page ---
    Case("keys:key_enable", _detail("key_enable"), [Ev("EnableKey", ("key",))],
         refused(Ev("EnableKey", ("key",))), method="POST", setup=_disabled_key,
         changed=_state("key", is_="Enabled")),
    Case("keys:key_disable", _detail("key_disable"), [Ev("DisableKey", ("key",))],
         refused(Ev("DisableKey", ("key",))), method="POST", setup=_key,
         changed=_state("key", is_="Disabled")),
    Case("keys:key_schedule_deletion", _detail("key_schedule_deletion"),
         [Ev("ScheduleKeyDeletion", ("key",))], refused(Ev("ScheduleKeyDeletion", ("key",))),
         method="POST", setup=_key,
         data=lambda ctx: {"pending_window_days": "7", "confirm": "on"},
         changed=_state("key", is_="PendingDeletion")),
    Case("keys:key_schedule_deletion", _detail("key_schedule_deletion"), [], None,
         method="POST", setup=_key, data=lambda ctx: {"pending_window_days": "7"},
         ok_statuses=(400,), note="not confirmed"),
    Case("keys:key_cancel_deletion", _detail("key_cancel_deletion"),
         [Ev("CancelKeyDeletion", ("key",))], refused(Ev("CancelKeyDeletion", ("key",))),
         method="POST", setup=_pending_deletion_key, changed=_state("key", is_="Disabled")),

    # --- key actions: keys selected in the table ---
    Case("keys:key_actions", _fixed("/kms/keys/actions"),
         [Ev("EnableKey", ("key",)), Ev("EnableKey", ("second",))],
         both_refused("EnableKey"), both_refused("EnableKey"),
         method="POST", setup=_two_disabled_keys,
         data=lambda ctx: {"action": "enable", "key": [ctx["key"].id, ctx["second"].id]},
         changed=_state("key", "second", is_="Enabled"), refused_status=302, note="enable"),
    Case("keys:key_actions", _fixed("/kms/keys/actions"),
         [Ev("DisableKey", ("key",)), Ev("DisableKey", ("second",))],
         both_refused("DisableKey"), both_refused("DisableKey"), method="POST",
         setup=_two_keys,
         data=lambda ctx: {"action": "disable", "confirmed": "yes",
                           "key": [ctx["key"].id, ctx["second"].id]},
         changed=_state("key", "second", is_="Disabled"), refused_status=302,
         note="disable"),
    Case("keys:key_actions", _fixed("/kms/keys/actions"), [], None, method="POST",
         setup=_two_keys,
         data=lambda ctx: {"action": "disable", "key": [ctx["key"].id, ctx["second"].id]},
         note="disable, not confirmed"),
    Case("keys:key_actions", _fixed("/kms/keys/actions"),
         [Ev("ScheduleKeyDeletion", ("key",)), Ev("ScheduleKeyDeletion", ("second",))],
         both_refused("ScheduleKeyDeletion"), both_refused("ScheduleKeyDeletion"),
         method="POST", setup=_two_keys,
         data=lambda ctx: {"action": "schedule_deletion", "confirmed": "yes",
                           "pending_window_days": "7", "confirm": "on",
                           "key": [ctx["key"].id, ctx["second"].id]},
         changed=_state("key", "second", is_="PendingDeletion"), refused_status=302,
         note="schedule deletion"),
    Case("keys:key_actions", _fixed("/kms/keys/actions"),
         [Ev("CancelKeyDeletion", ("key",)), Ev("CancelKeyDeletion", ("second",))],
         both_refused("CancelKeyDeletion"), both_refused("CancelKeyDeletion"),
         method="POST", setup=_two_pending_deletion_keys,
         data=lambda ctx: {"action": "cancel_deletion",
                           "key": [ctx["key"].id, ctx["second"].id]},
         changed=_state("key", "second", is_="Disabled"), refused_status=302,
         note="cancel deletion"),

    # --- the key's tabs ---
    # Key rotation (keys/rotation_views.py)
    Case("keys:key_rotation", _detail("key_rotation"),
         reads() + [Ev("GetKeyRotationStatus", ("key",)), Ev("ListKeyRotations", ("key",))],
         PAGE_REFUSED, setup=_key),
    Case("keys:key_rotation_edit", _detail("key_rotation_edit"),
         reads() + [Ev("GetKeyRotationStatus", ("key",))], PAGE_REFUSED, setup=_key,
         note="form"),
    Case("keys:key_rotation_edit", _detail("key_rotation_edit"),
         reads() + [Ev("EnableKeyRotation", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("EnableKeyRotation", ("key",))), method="POST", setup=_key,
         data=lambda ctx: {"automatic_rotation": "on", "rotation_period_days": "180"},
         changed=_rotation_is(True, 180), note="enable"),
    Case("keys:key_rotation_edit", _detail("key_rotation_edit"),
         reads() + [Ev("DisableKeyRotation", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("DisableKeyRotation", ("key",))), method="POST",
         setup=_rotating_key, changed=_rotation_is(False), note="disable"),
    Case("keys:key_rotation_edit", _detail("key_rotation_edit"), reads(), PAGE_REFUSED,
         reads(), method="POST", setup=_key,
         data=lambda ctx: {"automatic_rotation": "on", "rotation_period_days": "30"},
         ok_statuses=(400,), note="period out of range"),
    Case("keys:key_rotate_now", _detail("key_rotate_now"),
         reads() + [Ev("GetKeyRotationStatus", ("key",)), Ev("ListKeyRotations", ("key",))],
         PAGE_REFUSED, setup=_key, note="confirmation"),
    Case("keys:key_rotate_now", _detail("key_rotate_now"),
         reads() + [Ev("RotateKeyOnDemand", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("RotateKeyOnDemand", ("key",))), method="POST", setup=_key,
         changed=_rotated),
    Case("keys:key_policy_edit", _detail("key_policy_edit"),
         reads() + [Ev("PutKeyPolicy", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("PutKeyPolicy", ("key",))), method="POST", setup=_key,
         data=lambda ctx: {"policy": EDITED_POLICY},
         changed=_policy_is(EDITED_POLICY), note="save"),
    Case("keys:key_policy_edit", _detail("key_policy_edit"), reads(), PAGE_REFUSED, reads(),
         method="POST", setup=_key,
         data=lambda ctx: {"policy": EDITED_POLICY, "validate": "1"}, note="validate"),
    Case("keys:key_policy_validate", _detail("key_policy_validate"), reads(), PAGE_REFUSED,
         reads(), method="POST", setup=_key, data=lambda ctx: {"policy": EDITED_POLICY},
         note="without JavaScript"),
    Case("keys:key_policy_validate", _detail("key_policy_validate"), [], None,
         method="POST", setup=_key, data=lambda ctx: {"policy": EDITED_POLICY},
         headers={"HTTP_HX_REQUEST": "true"}, note="htmx"),
    Case("keys:key_policy_default", _detail("key_policy_default"),
         reads() + [Ev("GetKeyPolicy", ("key",)), Ev("PutKeyPolicy", ("key",))],
         PAGE_REFUSED,
         reads() + [Ev("GetKeyPolicy", ("key",))] + refused(Ev("PutKeyPolicy", ("key",))),
         method="POST", setup=_console_policy_key,
         data=lambda ctx: {"action": "add_user", "principal": ctx["alice"].arn},
         changed=_policy_names("alice")),
    Case("keys:key_description_edit", _detail("key_description_edit"),
         reads() + [Ev("UpdateKeyDescription", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("UpdateKeyDescription", ("key",))), method="POST", setup=_key,
         data=lambda ctx: {"description": "new words"}, changed=_description_is("new words")),
    Case("keys:key_tags_edit", _detail("key_tags_edit"),
         reads() + [Ev("TagResource", ("key",)), Ev("UntagResource", ("key",))],
         PAGE_REFUSED, reads() + refused(Ev("TagResource", ("key",))), method="POST",
         setup=_tagged_key, data=lambda ctx: TAGS_EDIT, changed=_tags_are({"env": "prod"})),
    # Alias permissions are checked before the key is looked up: a refusal names no key.
    Case("keys:key_alias_create", _detail("key_alias_create"),
         reads() + [Ev("CreateAlias", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("CreateAlias")), method="POST", setup=_key,
         data=lambda ctx: {"alias_name": "made-in-the-console"},
         changed=_alias_exists("alias/made-in-the-console", True)),
    Case("keys:key_alias_delete", _detail("key_alias_delete"),
         reads() + [Ev("DeleteAlias", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("DeleteAlias")), method="POST", setup=_aliased_key,
         data=lambda ctx: {"alias_name": "alias/audited"},
         changed=_alias_exists("alias/audited", False)),
    Case("keys:key_grant_create", _detail("key_grant_create"),
         reads() + [Ev("CreateGrant", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("CreateGrant", ("key",))), method="POST", setup=_key,
         data=lambda ctx: {"grantee_principal": f"arn:aws:iam::{ACCOUNT_ID}:root",
                           "operations": ["Encrypt", "Decrypt"], "name": "console"},
         changed=_grants_of_key(1)),
    Case("keys:key_grant_revoke", _detail("key_grant_revoke"),
         reads() + [Ev("RevokeGrant", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("RevokeGrant", ("key",))), method="POST", setup=_granted_key,
         data=lambda ctx: {"grant_id": ctx["grant_id"]}, changed=_grants_of_key(0)),

    # --- imported key material (keys/import_views.py) ---
    Case("keys:key_material", _detail("key_material"), reads(), PAGE_REFUSED,
         setup=_imported_key),
    Case("keys:key_material_import", _detail("key_material_import"), reads(), PAGE_REFUSED,
         setup=_external_key, note="page"),
    Case("keys:key_material_delete", _detail("key_material_delete"), reads(), PAGE_REFUSED,
         setup=_imported_key, note="confirmation"),
    Case("keys:key_material_parameters", _detail("key_material_parameters"),
         reads() + [Ev("GetParametersForImport", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("GetParametersForImport", ("key",))), method="POST",
         setup=_external_key,
         data=lambda ctx: {"wrapping_key_spec": "RSA_2048",
                           "wrapping_algorithm": "RSAES_OAEP_SHA_256"}),
    Case("keys:key_material_import", _detail("key_material_import"),
         reads() + [Ev("ImportKeyMaterial", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("ImportKeyMaterial", ("key",))), method="POST",
         setup=_external_key, data=_material_upload, changed=_state("key", is_="Enabled"),
         note="import"),
    Case("keys:key_material_delete", _detail("key_material_delete"),
         reads() + [Ev("DeleteImportedKeyMaterial", ("key",))], PAGE_REFUSED,
         reads() + refused(Ev("DeleteImportedKeyMaterial", ("key",))), method="POST",
         setup=_imported_key, data=lambda ctx: {"confirm": "on"},
         changed=_state("key", is_="PendingImport"), note="delete"),
    Case("keys:key_material_delete", _detail("key_material_delete"), reads(), PAGE_REFUSED,
         reads(), method="POST", setup=_imported_key, ok_statuses=(400,),
         note="not confirmed"),

    # --- the Create key wizard ---
    Case("keys:create_key", _fixed("/kms/keys/create"),
         [Ev("CreateKey", ("created",)), Ev("CreateAlias", ("created",))],
         refused(Ev("CreateKey")), refused(Ev("CreateKey")), method="POST",
         prepare=_wizard_walk,
         changed=_wizard_created, note="finish"),
    Case("keys:create_key", _fixed("/kms/keys/create"), [], None, method="POST",
         prepare=_wizard_step_data, note="next step"),

    # --- IAM: roles ---
    Case("iam:roles", _fixed("/iam/roles"), [iam_event("ListRoles")],
         [iam_event("ListRoles", denied=True)], setup=_role),
    Case("iam:role_create", _fixed("/iam/roles/create"), [iam_event("ListPolicies")],
         [iam_event("ListPolicies", denied=True)]),
    Case("iam:role_create", _fixed("/iam/roles/create"),
         [iam_event("ListPolicies"), iam_event("CreateRole"), iam_event("AttachRolePolicy")],
         [iam_event("ListPolicies", denied=True)], method="POST",
         data=lambda ctx: {"trusted_entity_type": "aws_account", "account_choice": "this",
                           "name": "new-role", "description": "",
                           "max_session_duration": "3600", "policies": [KMS_READ_ONLY]},
         changed=_role_exists("new-role")),
    Case("iam:role_detail", _role_page("role_detail"),
         ROLE_READ + [iam_event("ListAttachedRolePolicies"), iam_event("ListRolePolicies")],
         ROLE_REFUSED, setup=_role),
    Case("iam:role_trust", _role_page("role_trust"), ROLE_READ, ROLE_REFUSED, setup=_role),
    Case("iam:role_trust_edit", _role_page("role_trust_edit"), ROLE_READ, ROLE_REFUSED,
         setup=_role),
    Case("iam:role_trust_edit", _role_page("role_trust_edit"),
         ROLE_READ + [iam_event("UpdateAssumeRolePolicy")], ROLE_REFUSED, method="POST",
         setup=_role,
         data=lambda ctx: {"policy": trust_document(ctx["alice"].arn)},
         changed=_role_changed, note="save"),
    Case("iam:role_trust_edit", _role_page("role_trust_edit"), ROLE_READ, ROLE_REFUSED,
         method="POST", setup=_role,
         data=lambda ctx: {"policy": ACCOUNT_TRUST, "validate": "1"}, note="validate"),
    Case("iam:role_edit", _role_page("role_edit"), ROLE_READ, ROLE_REFUSED, setup=_role),
    Case("iam:role_edit", _role_page("role_edit"), ROLE_READ + [iam_event("UpdateRole")],
         ROLE_REFUSED, method="POST", setup=_role,
         data=lambda ctx: {"description": "changed", "max_session_duration": "7200"},
         changed=_role_changed),
    Case("iam:role_attach", _role_page("role_attach"),
         ROLE_READ + [iam_event("ListAttachedRolePolicies"), iam_event("ListPolicies")],
         ROLE_REFUSED, setup=_role),
    Case("iam:role_attach", _role_page("role_attach"),
         ROLE_READ + [iam_event("AttachRolePolicy")], ROLE_REFUSED, method="POST",
         setup=_role,
         data=lambda ctx: {"policies": [builtin_policy_arn("KMSKeyAdministrator")]},
         changed=_role_changed),
    Case("iam:role_detach", _role_page("role_detach"),
         ROLE_READ + [iam_event("DetachRolePolicy")], ROLE_REFUSED, method="POST",
         setup=_role, data=lambda ctx: {"policy_arn": KMS_READ_ONLY}, changed=_role_changed),
    Case("iam:role_inline_create", _role_page("role_inline_create"), ROLE_READ, ROLE_REFUSED,
         setup=_role),
    Case("iam:role_inline_create", _role_page("role_inline_create"),
         ROLE_READ + [iam_event("ListRolePolicies"), iam_event("PutRolePolicy")],
         ROLE_REFUSED, method="POST", setup=_role,
         data=lambda ctx: {"policy_name": "inline-two",
                           "policy": policy_document("kms:ListKeys")},
         changed=_role_changed),
    Case("iam:role_inline_edit", _role_page("role_inline_edit", "inline-one"),
         ROLE_READ + [iam_event("GetRolePolicy")], ROLE_REFUSED, setup=_role),
    Case("iam:role_inline_edit", _role_page("role_inline_edit", "inline-one"),
         ROLE_READ + [iam_event("PutRolePolicy")], ROLE_REFUSED, method="POST", setup=_role,
         data=lambda ctx: {"policy": policy_document("kms:ListAliases")},
         changed=_role_changed),
    Case("iam:role_inline_delete", _role_page("role_inline_delete", "inline-one"),
         ROLE_READ + [iam_event("DeleteRolePolicy")], ROLE_REFUSED, method="POST",
         setup=_role, changed=_role_changed),
    Case("iam:role_delete", _role_page("role_delete"),
         ROLE_READ + [iam_event("ListAttachedRolePolicies"), iam_event("ListRolePolicies")],
         ROLE_REFUSED, setup=_role),
    Case("iam:role_delete", _role_page("role_delete"),
         ROLE_READ + [iam_event("DetachRolePolicy"), iam_event("DeleteRolePolicy"),
                      iam_event("DeleteRole")], ROLE_REFUSED, method="POST", setup=_role,
         data=lambda ctx: {"confirmation": "app-role"},
         changed=_role_exists("app-role", False)),

    # --- IAM: managed policies ---
    Case("iam:policies", _fixed("/iam/policies"), [iam_event("ListPolicies")],
         [iam_event("ListPolicies", denied=True)]),
    Case("iam:policy_create", _fixed("/iam/policies/create"), [], None, note="editor"),
    Case("iam:policy_create", _fixed("/iam/policies/create"), [iam_event("CreatePolicy")],
         [iam_event("CreatePolicy", denied=True)], method="POST",
         data=lambda ctx: {"name": "new-policy", "description": "",
                           "policy": policy_document("kms:ListKeys")},
         changed=lambda ctx: ManagedPolicy.objects.get(name="new-policy")),
    Case("iam:policy_validate", _fixed("/iam/policies/validate"), [], None, method="POST",
         data=lambda ctx: {"policy": policy_document("kms:ListKeys")},
         headers={"HTTP_HX_REQUEST": "true"}),
    Case("iam:policy_detail", _policy_page("policy_detail"),
         POLICY_READ + [iam_event("GetPolicyVersion")], POLICY_REFUSED,
         setup=_managed_policy),
    Case("iam:policy_edit", _policy_page("policy_edit"),
         POLICY_READ + [iam_event("GetPolicyVersion")], POLICY_REFUSED,
         setup=_managed_policy),
    Case("iam:policy_edit", _policy_page("policy_edit"),
         POLICY_READ + [iam_event("CreatePolicyVersion")], POLICY_REFUSED, method="POST",
         setup=_managed_policy, data=lambda ctx: {"policy": policy_document("kms:Describe*")},
         changed=_policy_changed),
    Case("iam:policy_versions", _policy_page("policy_versions"),
         POLICY_READ + [iam_event("ListPolicyVersions")], POLICY_REFUSED,
         setup=_managed_policy),
    Case("iam:policy_version_default", _policy_page("policy_version_default"),
         POLICY_READ + [iam_event("SetDefaultPolicyVersion")], POLICY_REFUSED,
         method="POST", setup=_managed_policy, data=lambda ctx: {"version_id": "v1"},
         changed=_policy_changed),
    Case("iam:policy_version_delete", _policy_page("policy_version_delete"),
         POLICY_READ + [iam_event("DeletePolicyVersion")], POLICY_REFUSED, method="POST",
         setup=_managed_policy, data=lambda ctx: {"version_id": "v1"},
         changed=_policy_changed),
    Case("iam:policy_entities", _policy_page("policy_entities"),
         POLICY_READ + [iam_event("ListEntitiesForPolicy")], POLICY_REFUSED,
         setup=_managed_policy),
    Case("iam:policy_entities_attach", _policy_page("policy_entities_attach"),
         POLICY_READ + [iam_event("AttachUserPolicy")], POLICY_REFUSED, method="POST",
         setup=_managed_policy, data=lambda ctx: {"entity": "user:alice"},
         changed=_alice_has(None)),
    Case("iam:policy_entities_detach", _policy_page("policy_entities_detach"),
         POLICY_READ + [iam_event("DetachRolePolicy")], POLICY_REFUSED, method="POST",
         setup=_managed_policy, data=lambda ctx: {"entity": "role:app-role"},
         changed=_policy_changed),
    Case("iam:policy_delete", _policy_page("policy_delete"),
         POLICY_READ + [iam_event("ListEntitiesForPolicy")], POLICY_REFUSED,
         setup=_managed_policy),
    Case("iam:policy_delete", _policy_page("policy_delete"),
         POLICY_READ + [iam_event("ListEntitiesForPolicy"), iam_event("DetachRolePolicy"),
                        iam_event("ListPolicyVersions"), iam_event("DeletePolicyVersion"),
                        iam_event("DeletePolicy")],
         POLICY_REFUSED, method="POST", setup=_managed_policy,
         data=lambda ctx: {"confirmation": "team-policy"}, changed=_policy_changed),
    Case("iam:aws_policy_detail", _policy_page("aws_policy_detail", "KMSReadOnly"),
         POLICY_READ + [iam_event("GetPolicyVersion")], POLICY_REFUSED),
    Case("iam:aws_policy_entities", _policy_page("aws_policy_entities", "KMSReadOnly"),
         POLICY_READ + [iam_event("ListEntitiesForPolicy")], POLICY_REFUSED, setup=_role),
    Case("iam:aws_policy_entities_attach",
         _policy_page("aws_policy_entities_attach", "KMSReadOnly"),
         POLICY_READ + [iam_event("AttachUserPolicy")], POLICY_REFUSED, method="POST",
         setup=_role, data=lambda ctx: {"entity": "user:alice"},
         changed=_alice_has(KMS_READ_ONLY)),
    Case("iam:aws_policy_entities_detach",
         _policy_page("aws_policy_entities_detach", "KMSReadOnly"),
         POLICY_READ + [iam_event("DetachRolePolicy")], POLICY_REFUSED, method="POST",
         setup=_role, data=lambda ctx: {"entity": "role:app-role"}, changed=_role_changed),

    # --- IAM: switch role (AssumeRole, as the signed-in user) ---
    Case("iam:switch_role", _fixed("/iam/switch-role"), [], None, note="form"),
    Case("iam:switch_role", _fixed("/iam/switch-role"), [Ev("AssumeRole", ("role",),
                                                           source=STS)],
         [Ev("AssumeRole", denied=True, source=STS)],
         [Ev("AssumeRole", denied=True, source=STS)], method="POST", setup=_role,
         data=lambda ctx: {"account": ACCOUNT_ID, "role": "app-role", "display_name": ""},
         changed=_switched),
    Case("iam:switch_back", _fixed("/iam/switch-role/back"), [], None, method="POST",
         data=lambda ctx: {"next": "/kms/keys"}),

    # --- IAM: users ---
    Case("iam:users", _fixed("/iam/users"), [iam_event("ListUsers")],
         [iam_event("ListUsers", denied=True)], setup=_iam_user),
    Case("iam:user_create", _fixed("/iam/users/create"), [iam_event("ListPolicies")],
         [iam_event("ListPolicies", denied=True)]),
    Case("iam:user_create", _fixed("/iam/users/create"),
         [iam_event("ListPolicies"), iam_event("CreateUser"), iam_event("CreateLoginProfile"),
          iam_event("AttachUserPolicy"), iam_event("CreateAccessKey")],
         [iam_event("ListPolicies", denied=True)], method="POST",
         data=lambda ctx: {"name": "carol", "console_access": "on",
                           "password_type": "autogenerated", "create_access_key": "on",
                           "policies": [KMS_READ_ONLY]},
         changed=lambda ctx: User.objects.get(name="carol")),
    Case("iam:user_detail", _user_page("user_detail"),
         USER_READ + [iam_event("ListAttachedUserPolicies"), iam_event("ListUserPolicies")],
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_attach", _user_page("user_attach"),
         USER_READ + [iam_event("ListAttachedUserPolicies"), iam_event("ListPolicies")],
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_attach", _user_page("user_attach"),
         USER_READ + [iam_event("AttachUserPolicy")], USER_REFUSED, method="POST",
         setup=_iam_user,
         data=lambda ctx: {"policies": [builtin_policy_arn("KMSKeyAdministrator")]},
         changed=_user_changed),
    Case("iam:user_detach", _user_page("user_detach"),
         USER_READ + [iam_event("DetachUserPolicy")], USER_REFUSED, method="POST",
         setup=_iam_user, data=lambda ctx: {"policy_arn": KMS_READ_ONLY},
         changed=_user_changed),
    Case("iam:user_inline_create", _user_page("user_inline_create"), USER_READ,
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_inline_create", _user_page("user_inline_create"),
         USER_READ + [iam_event("ListUserPolicies"), iam_event("PutUserPolicy")],
         USER_REFUSED, method="POST", setup=_iam_user,
         data=lambda ctx: {"policy_name": "inline-two",
                           "policy": policy_document("kms:ListKeys")},
         changed=_user_changed),
    Case("iam:user_inline_edit", _user_page("user_inline_edit", "inline-one"),
         USER_READ + [iam_event("GetUserPolicy")], USER_REFUSED, setup=_iam_user),
    Case("iam:user_inline_edit", _user_page("user_inline_edit", "inline-one"),
         USER_READ + [iam_event("PutUserPolicy")], USER_REFUSED, method="POST",
         setup=_iam_user, data=lambda ctx: {"policy": policy_document("kms:ListAliases")},
         changed=_user_changed),
    Case("iam:user_inline_delete", _user_page("user_inline_delete", "inline-one"),
         USER_READ + [iam_event("DeleteUserPolicy")], USER_REFUSED, method="POST",
         setup=_iam_user, changed=_user_changed),
    Case("iam:user_security_credentials", _user_page("user_security_credentials"),
         USER_READ + [iam_event("ListAccessKeys"), iam_event("ListMFADevices")],
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_console_access", _user_page("user_console_access"), USER_READ,
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_console_access", _user_page("user_console_access"),
         USER_READ + [iam_event("UpdateLoginProfile")], USER_REFUSED, method="POST",
         setup=_iam_user,
         data=lambda ctx: {"console_access": "enable", "password_type": "autogenerated"},
         changed=_user_changed, note="reset"),
    Case("iam:user_console_access", _user_page("user_console_access"),
         USER_READ + [iam_event("DeleteLoginProfile")], USER_REFUSED, method="POST",
         setup=_iam_user, data=lambda ctx: {"console_access": "disable"},
         changed=_user_changed, note="disable"),
    Case("iam:access_key_create", _user_page("access_key_create"), USER_READ, USER_REFUSED,
         setup=_iam_user),
    Case("iam:access_key_create", _user_page("access_key_create"),
         USER_READ + [iam_event("CreateAccessKey")], USER_REFUSED, method="POST",
         setup=_iam_user, changed=_user_changed),
    Case("iam:access_key_status", _key_page("access_key_status"),
         USER_READ + [iam_event("UpdateAccessKey")], USER_REFUSED, method="POST",
         setup=_iam_user, data=lambda ctx: {"status": "Inactive"}, changed=_user_changed),
    Case("iam:access_key_delete", _key_page("access_key_delete"),
         USER_READ + [iam_event("ListAccessKeys")], USER_REFUSED,
         setup=_iam_user_inactive_key),
    Case("iam:access_key_delete", _key_page("access_key_delete"),
         USER_READ + [iam_event("ListAccessKeys"), iam_event("DeleteAccessKey")],
         USER_REFUSED, method="POST", setup=_iam_user_inactive_key,
         data=lambda ctx: {"confirmation": ctx["access_key_id"]}, changed=_user_changed),
    Case("iam:user_access", _user_page("user_access"), USER_READ + [Ev("ListKeys")],
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_delete", _user_page("user_delete"),
         USER_READ + [iam_event("ListAccessKeys"), iam_event("ListMFADevices"),
                      iam_event("ListAttachedUserPolicies"), iam_event("ListUserPolicies")],
         USER_REFUSED, setup=_iam_user),
    Case("iam:user_delete", _user_page("user_delete"),
         USER_READ + [iam_event("DeleteAccessKey"), iam_event("DeleteLoginProfile"),
                      iam_event("DetachUserPolicy"), iam_event("DeleteUserPolicy"),
                      iam_event("DeleteUser")],
         USER_REFUSED, method="POST", setup=_iam_user,
         data=lambda ctx: {"confirmation": "bob"}, changed=_user_changed),

    # --- IAM: a user's MFA device (read first like every page of a user: GetUser) ---
    Case("iam:user_mfa", _user_page("user_mfa"), USER_READ + [iam_event("ListMFADevices")],
         USER_REFUSED, setup=_mfa_enabled),
    Case("iam:mfa_assign", _user_page("mfa_assign"), USER_READ, USER_REFUSED,
         setup=_iam_user, note="device name form"),
    Case("iam:mfa_assign", _user_page("mfa_assign"),
         USER_READ + [iam_event("CreateVirtualMFADevice")], USER_REFUSED, method="POST",
         setup=_iam_user, data=lambda ctx: {"device_name": "bob-phone"},
         changed=_user_changed),
    Case("iam:mfa_enable", _user_page("mfa_enable"), USER_READ + [iam_event("EnableMFADevice")],
         USER_REFUSED, method="POST", setup=_mfa_created,
         data=lambda ctx: {"code_1": _two_codes(ctx)["authentication_code_1"],
                           "code_2": _two_codes(ctx)["authentication_code_2"]},
         changed=_user_changed),
    Case("iam:mfa_remove", _user_page("mfa_remove"),
         USER_READ + [iam_event("ListMFADevices")], USER_REFUSED, setup=_mfa_enabled),
    Case("iam:mfa_remove", _user_page("mfa_remove"),
         USER_READ + [iam_event("ListMFADevices"), iam_event("DeactivateMFADevice"),
                      iam_event("DeleteVirtualMFADevice")],
         USER_REFUSED, method="POST", setup=_mfa_enabled, changed=_user_changed),

    # --- IAM: the signed-in user's own password (ChangePassword) ---
    Case("iam:change_password", _fixed("/iam/change-password"), [], None, note="form"),
    Case("iam:change_password", _fixed("/iam/change-password"),
         [iam_event("ChangePassword")], [iam_event("ChangePassword", denied=True)],
         method="POST",
         data=lambda ctx: {"old_password": PASSWORD, "new_password": USER_PASSWORD,
                           "confirm_password": USER_PASSWORD, "next": "/kms/keys"},
         changed=_own_password_changed),

    # --- IAM: account settings and the policy simulator ---
    Case("iam:account_settings", _fixed("/iam/account-settings"),
         [iam_event("ListAccountAliases"), NO_PASSWORD_POLICY],
         [iam_event("ListAccountAliases", denied=True)]),
    Case("iam:account_alias_save", _fixed("/iam/account-settings/alias"),
         [iam_event("CreateAccountAlias")], [iam_event("CreateAccountAlias", denied=True)],
         method="POST", data=lambda ctx: {"alias": "renamed-example"},
         changed=_account_alias_is("renamed-example")),
    Case("iam:account_alias_delete", _fixed("/iam/account-settings/alias/delete"),
         [iam_event("DeleteAccountAlias")], [iam_event("DeleteAccountAlias", denied=True)],
         method="POST", data=lambda ctx: {"alias": "example"},
         changed=_account_alias_is(None)),
    Case("iam:password_policy_edit", _fixed("/iam/account-settings/password-policy"),
         [NO_PASSWORD_POLICY], [iam_event("GetAccountPasswordPolicy", denied=True)]),
    Case("iam:password_policy_edit", _fixed("/iam/account-settings/password-policy"),
         [NO_PASSWORD_POLICY, iam_event("UpdateAccountPasswordPolicy")],
         [iam_event("GetAccountPasswordPolicy", denied=True)], method="POST",
         data=lambda ctx: {"policy_type": "custom", "minimum_password_length": "14",
                           "allow_users_to_change_password": "on"},
         changed=lambda ctx: PasswordPolicy.objects.get(account_id=ACCOUNT_ID)),
    Case("iam:policy_simulator", _fixed("/iam/policy-simulator"),
         [iam_event("ListUsers"), iam_event("ListRoles")],
         [iam_event("ListUsers", denied=True), iam_event("ListRoles", denied=True)]),
    Case("iam:policy_simulator",
         lambda ctx: f"/iam/policy-simulator?principal={ctx['role'].arn}&action=kms:Encrypt",
         [iam_event("ListUsers"), iam_event("ListRoles"),
          iam_event("SimulatePrincipalPolicy")],
         [iam_event("ListUsers", denied=True), iam_event("ListRoles", denied=True)],
         [iam_event("ListUsers"), iam_event("ListRoles"),
          iam_event("SimulatePrincipalPolicy", denied=True)], setup=_role,
         note="simulation"),

    # --- no AWS call behind them ---
    Case("keys:key_table_preferences", _fixed("/kms/keys/preferences"), [], None,
         method="POST",
         data=lambda ctx: {"table": "customer_managed_keys", "page_size": "10",
                           "columns": ["key_id", "status"], "next": "/kms/keys"},
         changed=_preferences_saved),
    Case("region_select", _fixed("/console/region"), [], None, method="POST",
         data=lambda ctx: {"region": "eu-west-1", "next": "/kms/keys"},
         changed=_region_is("eu-west-1")),
    Case("signout", _fixed("/signout"), [], None, method="POST", changed=_signed_out),
]
# Pages that anyone may open without signing in, and how they answer.
PUBLIC = {"healthz": 200, "readyz": 200, "metrics": 200, "signin": 200, "root": 302}


# --- running a case ---------------------------------------------------------------------------

def reader_user(account) -> User:
    """A user who may read KMS (KMSReadOnly) and IAM (Get*, List*) but change nothing."""
    user = make_user(account, "reader")
    operator = Caller.scheduler(account_id=account.id, region=REGION)
    iam_services.policy_attach_user(caller=operator, user=user,
                                    policy_arn=builtin_policy_arn("KMSReadOnly"))
    iam_services.user_put_inline_policy(caller=operator, user=user, policy_name="iam-read",
                                        document=policy_document("iam:Get*", "iam:List*"))
    return user


def reads_then_refused(allowed: list[Ev]) -> list[Ev]:
    """What a user who may read but not write records: the reads, then the first write
    refused (nothing after it runs)."""
    recorded = []
    for ev in allowed:
        if not ev.read_only:
            return recorded + refused(ev)
        recorded.append(ev)
    return recorded


def last_event_id() -> int:
    return AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


def snapshot() -> tuple:
    """Everything a console action could change (to show that a refused one changed nothing)."""
    return (
        list(Key.objects.order_by("id").values_list(
            "id", "key_state", "description", "policy", "deletion_date")),
        list(Alias.objects.order_by("name").values_list("name", "target_key_id")),
        list(Tag.objects.order_by("key_id", "tag_key").values_list(
            "key_id", "tag_key", "tag_value")),
        list(Grant.objects.order_by("grant_id").values_list("grant_id", "key_id")),
        [snapshot_role(role) for role in Role.objects.order_by("arn")],
        [snapshot_policy(policy) for policy in ManagedPolicy.objects.order_by("arn")],
        list(SessionCredential.objects.order_by("access_key_id").values_list("access_key_id")),
        [snapshot_user(user) for user in User.objects.order_by("pk")],
        list(Account.objects.order_by("id").values_list("id", "alias")),
        list(PasswordPolicy.objects.order_by("pk").values_list("pk", "minimum_password_length")),
    )


def console_identity(user: User) -> dict:
    """userIdentity of a signed-in console user (no access key: the session authenticates)."""
    return {"type": "IAMUser", "principalId": user.unique_id, "arn": user.arn,
            "accountId": ACCOUNT_ID, "userName": user.name}


def send(client: Client, case: Case, ctx: dict):
    """The case's request; the events it recorded (the steps `prepare` took before excluded)."""
    data = case.data(ctx)
    if case.prepare is not None:
        data = {**data, **case.prepare(client, ctx)}
    since = last_event_id()
    path = case.path(ctx)
    if case.method == "POST":
        response = client.post(path, data, **case.headers)
    else:
        response = client.get(path, **case.headers)
    assert response.status_code < 500, response.content.decode()[:2000]
    return response, list(AuditEvent.objects.filter(id__gt=since).order_by("id"))


def resource_of(thing) -> dict:
    """CloudTrail's resources entry of a key or a role."""
    kind = "AWS::KMS::Key" if isinstance(thing, Key) else "AWS::IAM::Role"
    return {"accountId": thing.account_id, "type": kind, "ARN": thing.arn}


def check_events(events: list[AuditEvent], expected: list[Ev], user: User, ctx: dict) -> None:
    assert [(e.event_name, e.error_code) for e in events] == [
        (ev.name, ev.error_code) for ev in expected]
    for event, ev in zip(events, expected, strict=True):
        assert event.event_source == ev.source
        assert event.source == "console"
        assert event.source_ip_address == "127.0.0.1"  # the test client's address
        assert event.user_identity == console_identity(user)
        assert event.principal_arn == user.arn
        assert event.read_only is ev.read_only
        assert event.resources == [resource_of(ctx[name]) for name in ev.keys]
        if ev.denied:
            assert event.error_message.startswith(
                f"User: {user.arn} is not authorized to perform: "
                f"{ACTION_PREFIX[ev.source]}:{ev.name}")
        else:
            assert bool(event.error_message) is bool(ev.error)


def check_refusal_shown(client: Client, response, case: Case) -> None:
    """The refused user is told why: the 403 page, or the flash of the table's actions."""
    assert response.status_code == case.refused_status
    if response.status_code == 302:
        response = client.get(response["Location"])
    assert "AccessDeniedException" in response.content.decode()


def case_context(case: Case, admin: User, client: Client) -> dict:
    return {**case.setup(admin), "client": client}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_administrator_records_exactly_the_events_of_the_aws_calls(client, admin, case):
    ctx = case_context(case, admin, client)
    client.force_login(admin)
    response, events = send(client, case, ctx)
    assert response.status_code in case.ok_statuses, response.content.decode()[:2000]
    if case.changed is not None:
        case.changed(ctx)
    check_events(events, case.allowed, admin, ctx)


def _refused_user(client, admin, case: Case, user: User):
    ctx = case_context(case, admin, client)
    client.force_login(user)
    before = snapshot()
    response, events = send(client, case, ctx)
    return ctx, before, response, events


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_user_with_no_policy_is_refused_once_and_nothing_changes(client, admin, account,
                                                                   case):
    nobody = make_user(account, "nobody")
    ctx, before, response, events = _refused_user(client, admin, case, nobody)
    if case.denied is None:  # no AWS call: nothing to refuse, nothing recorded
        assert events == [] and response.status_code in case.ok_statuses
        if case.changed is not None:
            case.changed(ctx)
        return
    check_events(events, case.denied, nobody, ctx)
    check_refusal_shown(client, response, case)
    assert snapshot() == before


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_read_only_user_is_refused_at_the_action_itself(client, admin, account, case):
    reader = reader_user(account)
    ctx, before, response, events = _refused_user(client, admin, case, reader)
    expected = case.reader if case.reader is not None else reads_then_refused(case.allowed)
    check_events(events, expected, reader, ctx)
    if any(ev.denied for ev in expected):
        check_refusal_shown(client, response, case)
        assert snapshot() == before
    else:
        assert response.status_code in case.ok_statuses


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_an_anonymous_visitor_records_nothing_and_changes_nothing(client, admin, case):
    ctx = case_context(case, admin, client)
    before = snapshot()
    data = case.data(ctx)
    since = last_event_id()
    path = case.path(ctx)
    if case.method == "POST":
        response = client.post(path, {**data, "run": "x" * 16, "step": 5, "action": "finish"}
                               if case.prepare else data, **case.headers)
    else:
        response = client.get(path, **case.headers)
    if case.url_name in PUBLIC:
        assert response.status_code == PUBLIC[case.url_name]
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/signin?next=")
    assert not AuditEvent.objects.filter(id__gt=since).exists()
    assert snapshot() == before


# --- the case table covers the console ----------------------------------------------------------

def console_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """(route, url name, pattern) of every URL of the console, nested includes flattened."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from console_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}", entry


def _allowed_methods(client: Client, route: str, key: Key) -> set[str]:
    """The methods a view accepts, from the Allow header of its 405 answer to OPTIONS (every
    console view declares them with require_GET / require_POST / require_http_methods)."""
    path = "/" + route.replace("<uuid:key_id>", str(key.id))
    response = client.options(path)
    assert response.status_code == 405, f"{path}: declare its methods (require_http_methods)"
    return {method.strip() for method in response["Allow"].split(",")}


def test_every_console_url_has_a_case(client, admin):
    key = services.key_create(caller=caller_for(admin))
    client.force_login(admin)
    cases = {(case.url_name, case.method) for case in CASES} | set(TESTED_BELOW)
    assert all(name in globals() for name in TESTED_BELOW.values())
    missing = []
    for route, name, _pattern in console_patterns():
        if name in NOT_HERE or route.startswith(NOT_HERE_PREFIXES):
            continue
        for method in _allowed_methods(client, route, key) & {"GET", "POST"}:
            if (name, method) not in cases:
                missing.append(f"{method} /{route} ({name})")
    assert missing == [], f"console URLs without an audit case: {missing}"
    names = {name for _route, name, _pattern in console_patterns()}
    assert {name for name, _method in cases} <= names, "a case names a URL that is gone"


# --- sign-in ----------------------------------------------------------------------------------

def sign_in(client, **fields):
    data = {"account": "example", "username": "admin", "password": PASSWORD, **fields}
    return client.post("/signin", data, HTTP_USER_AGENT="Mozilla/5.0 (audit test)")


def test_a_sign_in_is_recorded_once_as_console_login(client, admin):
    since = last_event_id()
    response = sign_in(client)
    assert response.status_code == 302 and "_auth_user_id" in client.session
    [event] = AuditEvent.objects.filter(id__gt=since)
    record = event.as_record()
    assert (record["eventName"], record["eventSource"], record["eventType"]) == (
        "ConsoleLogin", SIGNIN, "AwsConsoleSignIn")
    assert record["userIdentity"] == console_identity(admin)
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert record["readOnly"] is False and record["resources"] == []
    assert "errorCode" not in record and event.source == "console"


@pytest.mark.parametrize("fields, user_name", [
    ({"password": "not the password"}, "admin"),
    ({"username": "nobody-by-that-name"}, HIDDEN_USER_NAME),
])
def test_a_failed_sign_in_is_recorded_once_with_its_error(client, admin, fields, user_name):
    since = last_event_id()
    response = sign_in(client, **fields)
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    [event] = AuditEvent.objects.filter(id__gt=since)
    record = event.as_record()
    assert (record["eventName"], record["eventSource"]) == ("ConsoleLogin", SIGNIN)
    assert (record["errorCode"], record["errorMessage"]) == ("Failed authentication",
                                                             "Failed authentication")
    assert record["responseElements"] == {"ConsoleLogin": "Failure"}
    assert record["userIdentity"]["userName"] == user_name
    assert record["recipientAccountId"] == ACCOUNT_ID


def test_a_sign_in_form_with_errors_records_nothing(client, admin):
    since = last_event_id()
    response = client.post("/signin", {"account": "", "username": "", "password": ""})
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(id__gt=since).exists()


@pytest.fixture
def mfa_secret(admin):
    """An enabled MFA device of the administrator; its secret (two codes used to enable it)."""
    caller = caller_for(admin)
    _device, secret = mfa.mfa_device_create(caller=caller, user=admin, device_name="phone")
    step = mfa.current_step()
    mfa.mfa_device_enable(caller=caller, user=admin,
                          authentication_code_1=mfa.totp_code(secret, step - 1),
                          authentication_code_2=mfa.totp_code(secret, step))
    return secret


def fresh_code(secret: str) -> str:
    return mfa.totp_code(secret, mfa.current_step() + 1)  # after the codes enabling used


def wrong_code(secret: str) -> str:
    step = mfa.current_step()
    valid = {mfa.totp_code(secret, step + offset) for offset in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


@pytest.mark.parametrize("right_code", [True, False], ids=["right code", "wrong code"])
def test_a_sign_in_with_mfa_is_recorded_once_at_its_code_step(client, admin, mfa_secret,
                                                            right_code):
    since = last_event_id()
    response = sign_in(client)
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    # The right password alone is no sign-in yet: nothing is recorded until the code.
    assert not AuditEvent.objects.filter(id__gt=since).exists()
    code = fresh_code(mfa_secret) if right_code else wrong_code(mfa_secret)
    response = client.post("/signin", {"step": "mfa", "mfa_code": code})
    assert ("_auth_user_id" in client.session) is right_code
    [event] = AuditEvent.objects.filter(id__gt=since)
    record = event.as_record()
    assert (record["eventName"], record["eventSource"]) == ("ConsoleLogin", SIGNIN)
    assert record["userIdentity"] == console_identity(admin)
    assert record["additionalEventData"]["MFAUsed"] == "Yes"
    if right_code:
        assert record["responseElements"] == {"ConsoleLogin": "Success"}
        assert "errorCode" not in record
    else:
        assert record["responseElements"] == {"ConsoleLogin": "Failure"}
        assert record["errorCode"] == record["errorMessage"] == "Failed authentication"
    assert code not in json.dumps(record)


# --- a switched role ----------------------------------------------------------------------------

def test_console_actions_after_switch_role_are_recorded_as_the_role_session(client, admin):
    """AWS records a switched role's console actions with the AssumedRole identity and its
    session context; switching back records nothing, and the user's identity returns."""
    role = _role(admin)["role"]  # may read KMS keys (KMSReadOnly), nothing more
    key = services.key_create(caller=caller_for(admin))
    client.force_login(admin)
    client.post("/iam/switch-role", {"account": ACCOUNT_ID, "role": "app-role"})
    session = SessionCredential.objects.get(role=role)
    since = last_event_id()
    client.get(f"/kms/keys/{key.id}/crypto")
    client.post(f"/kms/keys/{key.id}/disable")
    events = list(AuditEvent.objects.filter(id__gt=since).order_by("id"))
    assert [(e.event_name, e.error_code) for e in events] == [
        ("DescribeKey", ""), ("ListAliases", ""), ("DisableKey", "AccessDeniedException")]
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/admin"
    for event in events:
        identity = event.user_identity
        assert (identity["type"], identity["arn"], identity["accessKeyId"]) == (
            "AssumedRole", session_arn, session.access_key_id)
        assert identity["principalId"] == f"{role.unique_id}:admin"
        assert identity["sessionContext"]["sessionIssuer"]["arn"] == role.arn
        assert event.principal_arn == session_arn and event.user_name == "app-role"
    assert events[-1].error_message.startswith(f"User: {session_arn} is not authorized")
    assert Key.objects.get(pk=key.pk).key_state == "Enabled"

    since = last_event_id()
    client.post("/iam/switch-role/back", {"next": "/kms/keys"})
    assert not AuditEvent.objects.filter(id__gt=since).exists()
    client.get(f"/kms/keys/{key.id}/crypto")
    assert {e.principal_arn for e in AuditEvent.objects.filter(id__gt=since)} == {admin.arn}
