"""Key lifecycle, identifiers, listing, aliases, tags and the account boundary (kms-spec.md 1.6,
2.1-2.3, 3.4, 3.5, 5.1)."""

import json
import uuid

import pytest

from keys import operations, services
from keys.models import DISABLED, ENABLED, Key, Tag
from kmsconsole.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    InvalidArnError,
    InvalidMarkerError,
    LimitExceededError,
    NotAuthorizedError,
    NotFoundError,
    TagError,
    ValidationError,
)
from tests.conftest import ACCOUNT_ID, caller_for

from .conftest import create_key, raises_kms

pytestmark = pytest.mark.django_db

REGION = "us-east-1"
# GetKeyPolicy of a key created by the API without a policy (botocore examples-1.json).
API_DEFAULT_POLICY = (
    '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
    '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n'
    '    "Principal" : {\n      "AWS" : "arn:aws:iam::111122223333:root"\n    },\n'
    '    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}'
)


def alias_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:{name}"


def tags_of(key) -> list[tuple[str, str]]:
    return list(Tag.objects.filter(key=key).order_by("tag_key")
                .values_list("tag_key", "tag_value"))


# --- CreateKey ------------------------------------------------------------------------------

def test_create_key_defaults_to_an_enabled_symmetric_customer_key(caller, account):
    key = services.key_create(caller=caller)
    assert key.key_spec == "SYMMETRIC_DEFAULT"
    assert key.key_usage == "ENCRYPT_DECRYPT"
    assert key.origin == "AWS_KMS"
    assert key.key_state == ENABLED and key.enabled
    assert key.key_manager == "CUSTOMER"
    assert key.description == ""
    assert key.region == REGION
    assert key.account_id == account.id
    assert key.arn == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key.id}"
    assert key.id.version == 4
    assert key.deletion_date is None
    assert key.current_version == 1
    assert [m.version for m in key.materials.all()] == [1]
    assert len(key.materials.get().material_id) == 64


def test_create_key_without_a_policy_gets_the_api_default_policy_with_the_account_root(caller):
    key = services.key_create(caller=caller)
    assert json.loads(key.policy) == {
        "Version": "2012-10-17", "Id": "key-default-1",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                       "Action": "kms:*", "Resource": "*"}],
    }
    assert key.policy == API_DEFAULT_POLICY


def test_create_key_keeps_a_given_policy_verbatim(caller):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "x", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
         "Action": "kms:*", "Resource": "*"}]})
    assert services.key_create(caller=caller, policy=policy).policy == policy


def test_create_key_stores_description_and_tags(caller):
    key = services.key_create(caller=caller, description="payments data",
                              tags=[("team", "payments"), ("env", "")])
    key.refresh_from_db()
    assert key.description == "payments data"
    assert tags_of(key) == [("env", ""), ("team", "payments")]


@pytest.mark.parametrize("key_spec, key_usage", [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"), ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("ECC_NIST_P384", "SIGN_VERIFY"), ("ECC_NIST_P521", "SIGN_VERIFY"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY"), ("HMAC_224", "GENERATE_VERIFY_MAC"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"), ("HMAC_384", "GENERATE_VERIFY_MAC"),
    ("HMAC_512", "GENERATE_VERIFY_MAC"),
])
def test_create_key_accepts_every_compatible_spec_and_usage(caller, key_spec, key_usage):
    key = services.key_create(caller=caller, key_spec=key_spec, key_usage=key_usage)
    assert (key.key_spec, key.key_usage, key.key_state) == (key_spec, key_usage, ENABLED)
    described = services.key_describe(caller=caller, key_id=str(key.id))
    assert (described.key_spec, described.key_usage) == (key_spec, key_usage)


@pytest.mark.parametrize("key_spec", ["RSA_2048", "RSA_4096", "ECC_NIST_P256",
                                      "ECC_SECG_P256K1", "HMAC_224", "HMAC_512"])
def test_create_key_requires_key_usage_for_everything_but_symmetric_keys(caller, key_spec):
    with raises_kms(ValidationError, contains=("KeyUsage",)):
        services.key_create(caller=caller, key_spec=key_spec)
    assert not Key.objects.exists()


@pytest.mark.parametrize("key_usage, key_spec", [
    ("SIGN_VERIFY", "SYMMETRIC_DEFAULT"), ("GENERATE_VERIFY_MAC", "SYMMETRIC_DEFAULT"),
    ("KEY_AGREEMENT", "RSA_2048"), ("GENERATE_VERIFY_MAC", "RSA_4096"),
    ("ENCRYPT_DECRYPT", "ECC_NIST_P256"), ("ENCRYPT_DECRYPT", "ECC_SECG_P256K1"),
    ("ENCRYPT_DECRYPT", "HMAC_256"), ("SIGN_VERIFY", "HMAC_512"),
])
def test_create_key_with_an_incompatible_usage_is_refused(caller, key_usage, key_spec):
    with raises_kms(ValidationError,
                    f"KeyUsage {key_usage} is not compatible with KeySpec {key_spec}"):
        services.key_create(caller=caller, key_spec=key_spec, key_usage=key_usage)
    assert not Key.objects.exists()


def test_create_key_with_an_unknown_key_usage_is_refused(caller):
    with raises_kms(ValidationError, contains=("'keyUsage'", "enum value set")):
        services.key_create(caller=caller, key_usage="ENCRYPT")


def test_create_key_description_over_8192_characters_is_refused(caller):
    with raises_kms(ValidationError, contains=("'description'",)):
        services.key_create(caller=caller, description="d" * 8193)
    services.key_create(caller=caller, description="d" * 8192)


def test_update_key_description_changes_it_and_empty_clears_it(caller, sym_key):
    services.key_update_description(caller=caller, key_id=sym_key.arn, description="new text")
    assert services.key_describe(caller=caller, key_id=str(sym_key.id)).description == "new text"
    services.key_update_description(caller=caller, key_id=str(sym_key.id), description="")
    sym_key.refresh_from_db()
    assert sym_key.description == ""


# --- key identifiers ------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["id", "id-uppercase", "arn", "alias", "alias_arn"])
def test_describe_finds_a_key_by_every_identifier_form(caller, sym_key, form):
    services.alias_create(caller=caller, alias_name="alias/by-form",
                          target_key_id=str(sym_key.id))
    key_id = {"id": str(sym_key.id), "id-uppercase": str(sym_key.id).upper(),
              "arn": sym_key.arn, "alias": "alias/by-form",
              "alias_arn": alias_arn("alias/by-form")}[form]
    assert services.key_describe(caller=caller, key_id=key_id).pk == sym_key.pk


MANAGEMENT_OPS = {
    "enable": lambda c, k: services.key_enable(caller=c, key_id=k),
    "disable": lambda c, k: services.key_disable(caller=c, key_id=k),
    "update_description": lambda c, k: services.key_update_description(caller=c, key_id=k,
                                                                       description="x"),
    "schedule_deletion": lambda c, k: services.key_schedule_deletion(caller=c, key_id=k),
    "cancel_deletion": lambda c, k: services.key_cancel_deletion(caller=c, key_id=k),
    "tag": lambda c, k: services.key_tag(caller=c, key_id=k, tags=[("a", "b")]),
    "untag": lambda c, k: services.key_untag(caller=c, key_id=k, tag_keys=["a"]),
    "list_tags": lambda c, k: services.key_list_tags(caller=c, key_id=k),
    "list_aliases": lambda c, k: services.alias_list(caller=c, key_id=k),
    "create_alias_target": lambda c, k: services.alias_create(caller=c, alias_name="alias/t2",
                                                              target_key_id=k),
}


@pytest.mark.parametrize("form", ["alias", "alias_arn"])
@pytest.mark.parametrize("operation", list(MANAGEMENT_OPS))
def test_management_operations_refuse_alias_forms(caller, sym_key, operation, form):
    services.alias_create(caller=caller, alias_name="alias/managed",
                          target_key_id=str(sym_key.id))
    key_id = "alias/managed" if form == "alias" else alias_arn("alias/managed")
    with raises_kms(NotFoundError):
        MANAGEMENT_OPS[operation](caller, key_id)
    sym_key.refresh_from_db()
    assert sym_key.key_state == ENABLED
    assert sym_key.description == ""
    assert tags_of(sym_key) == []


def test_an_unknown_key_id_is_not_found_naming_its_arn(caller):
    key_id = str(uuid.uuid4())
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    for given in (key_id, arn):
        with raises_kms(NotFoundError, f"Key '{arn}' does not exist"):
            services.key_describe(caller=caller, key_id=given)
        with raises_kms(NotFoundError, f"Key '{arn}' does not exist"):
            services.key_enable(caller=caller, key_id=given)
        with raises_kms(NotFoundError, f"Key '{arn}' does not exist"):
            operations.encrypt(caller=caller, key_id=given, plaintext=b"p")


@pytest.mark.parametrize("key_id", ["not-a-key", "1234", "1234abcd-12ab-34cd-56ef-1234567890abc",
                                    "1234abcd12ab34cd56ef1234567890abcd", "key/1234"])
def test_a_malformed_key_id_is_not_found_as_invalid(caller, key_id):
    with raises_kms(NotFoundError, f"Invalid keyId '{key_id}'"):
        services.key_describe(caller=caller, key_id=key_id)


def test_an_unknown_alias_is_not_found(caller):
    message = f"Alias {alias_arn('alias/nope')} is not found."
    for key_id in ("alias/nope", alias_arn("alias/nope")):
        with raises_kms(NotFoundError, message):
            services.key_describe(caller=caller, key_id=key_id)
        with raises_kms(NotFoundError, message):
            operations.encrypt(caller=caller, key_id=key_id, plaintext=b"p")


def test_an_arn_of_another_region_is_not_found(caller, sym_key):
    other_region_arn = sym_key.arn.replace(REGION, "eu-west-1")
    with raises_kms(NotFoundError, "Invalid arn eu-west-1"):
        services.key_describe(caller=caller, key_id=other_region_arn)
    with raises_kms(NotFoundError, "Invalid arn eu-west-1"):
        operations.encrypt(caller=caller, key_id=other_region_arn, plaintext=b"p")


def test_a_malformed_arn_is_invalid_arn(caller):
    with raises_kms(InvalidArnError):
        services.key_describe(caller=caller, key_id="arn:aws:kms:us-east-1:nonsense")


def test_a_key_created_in_us_east_1_is_invisible_from_eu_west_1(caller, admin, sym_key):
    services.alias_create(caller=caller, alias_name="alias/regional",
                          target_key_id=str(sym_key.id))
    eu = caller_for(admin, region="eu-west-1")
    eu_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{sym_key.id}"
    with raises_kms(NotFoundError, f"Key '{eu_arn}' does not exist"):
        services.key_describe(caller=eu, key_id=str(sym_key.id))
    with raises_kms(NotFoundError):
        services.key_describe(caller=eu, key_id=sym_key.arn)
    with raises_kms(NotFoundError):
        services.key_describe(caller=eu, key_id="alias/regional")
    with raises_kms(NotFoundError):
        operations.encrypt(caller=eu, key_id=str(sym_key.id), plaintext=b"p")
    with raises_kms(NotFoundError):
        services.key_disable(caller=eu, key_id=str(sym_key.id))
    keys, _ = services.key_list(caller=eu)
    assert keys == []
    aliases, _ = services.alias_list(caller=eu)
    assert aliases == []
    # Alias names are per region: the same name can exist in both.
    eu_key = create_key(eu)
    services.alias_create(caller=eu, alias_name="alias/regional", target_key_id=str(eu_key.id))
    assert services.key_describe(caller=eu, key_id="alias/regional").pk == eu_key.pk
    assert services.key_describe(caller=caller, key_id="alias/regional").pk == sym_key.pk
    sym_key.refresh_from_db()
    assert sym_key.key_state == ENABLED


# --- ListKeys -------------------------------------------------------------------------------

def _walk_keys(caller, limit: int) -> list[list]:
    pages, marker = [], None
    while True:
        keys, marker = services.key_list(caller=caller, limit=limit, marker=marker)
        pages.append(keys)
        if marker is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


def test_list_keys_pagination_walks_every_key_exactly_once(caller, admin, outsider_caller):
    created = {create_key(caller).pk for _ in range(25)}
    create_key(caller_for(admin, region="eu-west-1"))  # another region
    create_key(outsider_caller)                       # another account
    pages = _walk_keys(caller, 10)
    assert [len(page) for page in pages] == [10, 10, 5]
    listed = [key.pk for page in pages for key in page]
    assert len(listed) == len(set(listed)) == 25
    assert set(listed) == created


@pytest.mark.parametrize("count, limit, sizes", [(20, 10, [10, 10]), (0, 10, [0]),
                                                 (3, 1, [1, 1, 1]), (5, 1000, [5])])
def test_list_keys_last_page_has_no_marker(caller, count, limit, sizes):
    for _ in range(count):
        create_key(caller)
    assert [len(page) for page in _walk_keys(caller, limit)] == sizes


@pytest.mark.parametrize("limit", [0, 1001, -1])
def test_list_keys_limit_outside_1_to_1000_is_refused(caller, limit):
    with raises_kms(ValidationError, contains=("'limit'",)):
        services.key_list(caller=caller, limit=limit)


@pytest.mark.parametrize("marker", ["garbage", "alias/x"])
def test_list_keys_with_a_bad_marker_is_invalid_marker(caller, marker):
    with raises_kms(InvalidMarkerError):
        services.key_list(caller=caller, marker=marker)


# --- aliases --------------------------------------------------------------------------------

def test_alias_create_update_delete_and_list(caller, sym_key, other_sym_key):
    created = services.alias_create(caller=caller, alias_name="alias/app",
                                    target_key_id=sym_key.arn)
    assert created.arn == alias_arn("alias/app")
    assert services.key_describe(caller=caller, key_id="alias/app").pk == sym_key.pk
    services.alias_create(caller=caller, alias_name="alias/b-other",
                          target_key_id=str(other_sym_key.id))

    aliases, marker = services.alias_list(caller=caller)
    assert [(a.name, a.target_key_id) for a in aliases] == [
        ("alias/app", sym_key.pk), ("alias/b-other", other_sym_key.pk)]
    assert marker is None
    mine, _ = services.alias_list(caller=caller, key_id=str(sym_key.id))
    assert [a.name for a in mine] == ["alias/app"]

    services.alias_update(caller=caller, alias_name="alias/app",
                          target_key_id=str(other_sym_key.id))
    assert services.key_describe(caller=caller, key_id="alias/app").pk == other_sym_key.pk
    theirs, _ = services.alias_list(caller=caller, key_id=other_sym_key.arn)
    assert [a.name for a in theirs] == ["alias/app", "alias/b-other"]

    services.alias_delete(caller=caller, alias_name="alias/app")
    with raises_kms(NotFoundError, f"Alias {alias_arn('alias/app')} is not found."):
        services.key_describe(caller=caller, key_id="alias/app")
    aliases, _ = services.alias_list(caller=caller)
    assert [a.name for a in aliases] == ["alias/b-other"]
    # The keys themselves are untouched.
    assert Key.objects.count() == 2


def test_alias_list_pages(caller, sym_key):
    names = [f"alias/page-{i:02d}" for i in range(7)]
    for name in names:
        services.alias_create(caller=caller, alias_name=name, target_key_id=str(sym_key.id))
    seen, marker = [], None
    while True:
        page, marker = services.alias_list(caller=caller, limit=3, marker=marker)
        seen.extend(a.name for a in page)
        if marker is None:
            break
    assert seen == names


def test_duplicate_alias_is_already_exists_and_keeps_the_first_target(caller, sym_key,
                                                                      other_sym_key):
    services.alias_create(caller=caller, alias_name="alias/dup", target_key_id=str(sym_key.id))
    with raises_kms(AlreadyExistsError,
                    f"An alias with the name {alias_arn('alias/dup')} already exists"):
        services.alias_create(caller=caller, alias_name="alias/dup",
                              target_key_id=str(other_sym_key.id))
    assert services.key_describe(caller=caller, key_id="alias/dup").pk == sym_key.pk


@pytest.mark.parametrize("name", ["alias/aws/s3", "alias/aws/my-key", "alias/aws/"])
def test_aliases_under_alias_aws_are_not_authorized(caller, sym_key, name):
    with raises_kms(NotAuthorizedError):
        services.alias_create(caller=caller, alias_name=name, target_key_id=str(sym_key.id))


@pytest.mark.parametrize("name", ["alias/has space", "alias/semi;colon", "alias/ünïcode",
                                  "alias/star*", "alias/dot.name", "alias/new\nline",
                                  "alias/trailing-newline\n"])
def test_alias_names_outside_the_pattern_are_refused(caller, sym_key, name):
    with raises_kms(ValidationError, contains=("'aliasName'", "regular expression pattern")):
        services.alias_create(caller=caller, alias_name=name, target_key_id=str(sym_key.id))


def test_alias_name_length_limit_is_256(caller, sym_key):
    ok = "alias/" + "a" * 250
    services.alias_create(caller=caller, alias_name=ok, target_key_id=str(sym_key.id))
    with raises_kms(ValidationError, contains=("'aliasName'", "less than or equal to 256")):
        services.alias_create(caller=caller, alias_name=ok + "b",
                              target_key_id=str(sym_key.id))


@pytest.mark.parametrize("name", ["alias/a", "alias/A-b_c:d/e", "alias/0"])
def test_alias_names_inside_the_pattern_are_accepted(caller, sym_key, name):
    services.alias_create(caller=caller, alias_name=name, target_key_id=str(sym_key.id))
    assert services.key_describe(caller=caller, key_id=name).pk == sym_key.pk


def test_the_51st_alias_of_a_key_is_limit_exceeded(caller, sym_key):
    for i in range(50):
        services.alias_create(caller=caller, alias_name=f"alias/many-{i}",
                              target_key_id=str(sym_key.id))
    with raises_kms(LimitExceededError):
        services.alias_create(caller=caller, alias_name="alias/many-50",
                              target_key_id=str(sym_key.id))
    assert sym_key.aliases.count() == 50
    # The limit is per key: another key still takes aliases.
    other = create_key(caller)
    services.alias_create(caller=caller, alias_name="alias/many-50", target_key_id=str(other.id))


def test_update_alias_onto_a_key_with_50_aliases_is_limit_exceeded(caller, sym_key,
                                                                  other_sym_key):
    """The 50-aliases-per-key quota holds however an alias arrives (UpdateAlias lists
    LimitExceededException among its errors, kms-spec.md 2.2 and 3.4)."""
    for i in range(50):
        services.alias_create(caller=caller, alias_name=f"alias/full-{i}",
                              target_key_id=str(sym_key.id))
    services.alias_create(caller=caller, alias_name="alias/mover",
                          target_key_id=str(other_sym_key.id))
    with raises_kms(LimitExceededError):
        services.alias_update(caller=caller, alias_name="alias/mover",
                              target_key_id=str(sym_key.id))
    assert sym_key.aliases.count() == 50
    assert services.key_describe(caller=caller, key_id="alias/mover").pk == other_sym_key.pk


@pytest.mark.parametrize("old, new", [
    (("SYMMETRIC_DEFAULT", None), ("HMAC_256", None)),
    (("SYMMETRIC_DEFAULT", None), ("RSA_2048", "ENCRYPT_DECRYPT")),
    (("HMAC_256", None), ("ECC_NIST_P256", "SIGN_VERIFY")),
    (("RSA_2048", "ENCRYPT_DECRYPT"), ("RSA_2048", "SIGN_VERIFY")),
    (("ECC_NIST_P256", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", None)),
], ids=["symmetric-to-hmac", "symmetric-to-rsa", "hmac-to-ecc", "rsa-encrypt-to-rsa-sign",
        "ecc-to-symmetric"])
def test_update_alias_across_key_types_or_usages_is_refused(caller, old, new):
    old_key = create_key(caller, *old)
    new_key = create_key(caller, *new)
    services.alias_create(caller=caller, alias_name="alias/typed", target_key_id=str(old_key.id))
    with raises_kms(ValidationError):
        services.alias_update(caller=caller, alias_name="alias/typed",
                              target_key_id=str(new_key.id))
    assert services.key_describe(caller=caller, key_id="alias/typed").pk == old_key.pk


@pytest.mark.parametrize("old, new", [
    (("HMAC_256", None), ("HMAC_512", None)),
    (("ECC_NIST_P256", "SIGN_VERIFY"), ("ECC_NIST_P384", "SIGN_VERIFY")),
], ids=["hmac-to-hmac", "ecc-to-ecc"])
def test_update_alias_within_the_same_type_and_usage_is_allowed(caller, old, new):
    old_key = create_key(caller, *old)
    new_key = create_key(caller, *new)
    services.alias_create(caller=caller, alias_name="alias/typed", target_key_id=str(old_key.id))
    services.alias_update(caller=caller, alias_name="alias/typed", target_key_id=new_key.arn)
    assert services.key_describe(caller=caller, key_id="alias/typed").pk == new_key.pk


def test_update_or_delete_of_an_unknown_alias_is_not_found(caller, sym_key):
    message = f"Alias {alias_arn('alias/ghost')} is not found."
    with raises_kms(NotFoundError, message):
        services.alias_update(caller=caller, alias_name="alias/ghost",
                              target_key_id=str(sym_key.id))
    with raises_kms(NotFoundError, message):
        services.alias_delete(caller=caller, alias_name="alias/ghost")


def test_create_alias_for_an_unknown_key_is_not_found(caller):
    with raises_kms(NotFoundError):
        services.alias_create(caller=caller, alias_name="alias/orphan",
                              target_key_id=str(uuid.uuid4()))
    aliases, _ = services.alias_list(caller=caller)
    assert aliases == []


# --- tags -----------------------------------------------------------------------------------

def test_tags_are_added_overwritten_removed_and_listed(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id),
                     tags=[("team", "payments"), ("env", "prod")])
    services.key_tag(caller=caller, key_id=sym_key.arn, tags=[("env", "dev"), ("cost", "")])
    tags, marker = services.key_list_tags(caller=caller, key_id=str(sym_key.id))
    assert [(t.tag_key, t.tag_value) for t in tags] == [("cost", ""), ("env", "dev"),
                                                        ("team", "payments")]
    assert marker is None
    services.key_untag(caller=caller, key_id=str(sym_key.id), tag_keys=["env", "not-there"])
    assert tags_of(sym_key) == [("cost", ""), ("team", "payments")]


def test_tag_keys_are_case_sensitive(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("Team", "a"), ("team", "b")])
    assert tags_of(sym_key) == [("Team", "a"), ("team", "b")]


def test_list_tags_pages(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id),
                     tags=[(f"k{i:02d}", str(i)) for i in range(12)])
    seen, marker = [], None
    while True:
        page, marker = services.key_list_tags(caller=caller, key_id=str(sym_key.id), limit=5,
                                              marker=marker)
        seen.extend(t.tag_key for t in page)
        if marker is None:
            break
    assert seen == [f"k{i:02d}" for i in range(12)]


def test_51_tags_in_one_request_is_too_many_tags(caller, sym_key):
    with raises_kms(TagError, "Too many tags"):
        services.key_tag(caller=caller, key_id=str(sym_key.id),
                         tags=[(f"k{i}", "v") for i in range(51)])
    assert tags_of(sym_key) == []


def test_a_new_tag_on_a_key_with_50_is_too_many_but_overwriting_is_fine(caller, sym_key):
    fifty = [(f"k{i:02d}", "v") for i in range(50)]
    services.key_tag(caller=caller, key_id=str(sym_key.id), tags=fifty)
    with raises_kms(TagError, "Too many tags"):
        services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("one-more", "v")])
    services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("k00", "new")])
    assert len(tags_of(sym_key)) == 50
    assert dict(tags_of(sym_key))["k00"] == "new"


def test_create_key_with_51_tags_is_too_many_tags_and_creates_nothing(caller):
    with raises_kms(TagError, "Too many tags"):
        services.key_create(caller=caller, tags=[(f"k{i}", "v") for i in range(51)])
    assert not Key.objects.exists()


def test_duplicate_tag_keys_in_one_request_are_refused(caller, sym_key):
    with raises_kms(TagError, "Duplicate tag keys"):
        services.key_tag(caller=caller, key_id=str(sym_key.id),
                         tags=[("team", "a"), ("env", "x"), ("team", "b")])
    assert tags_of(sym_key) == []


@pytest.mark.parametrize("tag_key", ["aws:team", "AWS:team", "Aws:x", "aws:"])
def test_tags_beginning_with_aws_are_reserved(caller, sym_key, tag_key):
    with raises_kms(TagError, "Tags beginning with aws: are reserved"):
        services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[(tag_key, "v")])


def test_tag_key_may_contain_aws_elsewhere(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("my-aws:tag", "v")])
    assert tags_of(sym_key) == [("my-aws:tag", "v")]


def test_tag_key_and_value_length_limits(caller, sym_key):
    services.key_tag(caller=caller, key_id=str(sym_key.id),
                     tags=[("k" * 128, "v" * 256), ("empty-value", "")])
    with raises_kms(ValidationError, contains=("tagKey", "less than or equal to 128")):
        services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("k" * 129, "v")])
    with raises_kms(ValidationError, contains=("tagValue", "less than or equal to 256")):
        services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("k", "v" * 257)])
    with raises_kms(ValidationError, contains=("tagKey", "greater than or equal to 1")):
        services.key_tag(caller=caller, key_id=str(sym_key.id), tags=[("", "v")])
    with raises_kms(ValidationError, contains=("less than or equal to 128",)):
        services.key_untag(caller=caller, key_id=str(sym_key.id), tag_keys=["k" * 129])
    assert tags_of(sym_key) == [("empty-value", ""), ("k" * 128, "v" * 256)]


# --- the account boundary -------------------------------------------------------------------

OUTSIDER_ATTEMPTS = {
    "describe": ("kms:DescribeKey",
                 lambda c, key: services.key_describe(caller=c, key_id=key.arn)),
    "encrypt": ("kms:Encrypt",
                lambda c, key: operations.encrypt(caller=c, key_id=key.arn, plaintext=b"p")),
    "disable": ("kms:DisableKey", lambda c, key: services.key_disable(caller=c, key_id=key.arn)),
    "tag": ("kms:TagResource",
            lambda c, key: services.key_tag(caller=c, key_id=key.arn, tags=[("x", "y")])),
    "schedule_deletion": ("kms:ScheduleKeyDeletion",
                          lambda c, key: services.key_schedule_deletion(caller=c,
                                                                        key_id=key.arn)),
}


@pytest.mark.parametrize("attempt", list(OUTSIDER_ATTEMPTS))
def test_another_accounts_user_is_denied_the_key_by_arn(caller, outsider, outsider_caller,
                                                        sym_key, attempt):
    action, call = OUTSIDER_ATTEMPTS[attempt]
    with raises_kms(AccessDeniedError, contains=(outsider.arn, action, sym_key.arn)):
        call(outsider_caller, sym_key)
    sym_key.refresh_from_db()
    assert sym_key.key_state == ENABLED
    assert tags_of(sym_key) == []


def test_another_accounts_user_does_not_find_the_key_by_bare_id(outsider_caller, sym_key):
    with raises_kms(NotFoundError):
        services.key_describe(caller=outsider_caller, key_id=str(sym_key.id))
    with raises_kms(NotFoundError):
        services.key_disable(caller=outsider_caller, key_id=str(sym_key.id))
    sym_key.refresh_from_db()
    assert sym_key.key_state == ENABLED


def test_another_accounts_user_cannot_decrypt_the_accounts_ciphertext(caller, outsider_caller,
                                                                     sym_key):
    blob = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"mine").blob
    with raises_kms(AccessDeniedError):
        operations.decrypt(caller=outsider_caller, ciphertext_blob=blob)


def test_another_accounts_keys_are_not_listed(caller, outsider_caller, sym_key):
    theirs = create_key(outsider_caller)
    keys, _ = services.key_list(caller=caller)
    assert [k.pk for k in keys] == [sym_key.pk]
    keys, _ = services.key_list(caller=outsider_caller)
    assert [k.pk for k in keys] == [theirs.pk]


def test_disable_then_enable_round_trip_is_visible_in_describe(caller, sym_key):
    services.key_disable(caller=caller, key_id=str(sym_key.id))
    assert services.key_describe(caller=caller, key_id=sym_key.arn).key_state == DISABLED
    services.key_enable(caller=caller, key_id=sym_key.arn)
    assert services.key_describe(caller=caller, key_id=str(sym_key.id)).key_state == ENABLED


# --- GetKeyLastUsage ------------------------------------------------------------------------

def test_key_last_usage_reports_the_newest_successful_cryptographic_use(caller, sym_key):
    key, last = services.key_last_usage(caller=caller, key_id=str(sym_key.id))
    assert key.pk == sym_key.pk
    assert last is None
    blob = operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"p").blob
    _, last = services.key_last_usage(caller=caller, key_id=sym_key.arn)
    assert last.event_name == "Encrypt"
    operations.decrypt(caller=caller, ciphertext_blob=blob)
    # Failed and non-cryptographic calls do not count as use.
    with raises_kms(ValidationError):
        operations.encrypt(caller=caller, key_id=str(sym_key.id), plaintext=b"")
    services.key_describe(caller=caller, key_id=str(sym_key.id))
    _, last = services.key_last_usage(caller=caller, key_id=str(sym_key.id))
    assert last.event_name == "Decrypt"
    assert last.error_code == ""


def test_key_last_usage_refuses_alias_forms(caller, sym_key):
    services.alias_create(caller=caller, alias_name="alias/used", target_key_id=str(sym_key.id))
    with raises_kms(NotFoundError):
        services.key_last_usage(caller=caller, key_id="alias/used")


def test_a_marker_is_valid_only_for_the_listing_that_issued_it(caller):
    key = create_key(caller)
    for n in range(3):
        create_key(caller)
        services.alias_create(caller=caller, alias_name=f"alias/m{n}", target_key_id=str(key.id))
        services.key_tag(caller=caller, key_id=str(key.id), tags=[(f"t{n}", "v")])
    _, keys_marker = services.key_list(caller=caller, limit=1)
    _, aliases_marker = services.alias_list(caller=caller, limit=1)
    _, tags_marker = services.key_list_tags(caller=caller, key_id=str(key.id), limit=1)
    assert None not in (keys_marker, aliases_marker, tags_marker)
    with raises_kms(InvalidMarkerError):
        services.alias_list(caller=caller, marker=keys_marker)
    with raises_kms(InvalidMarkerError):
        services.key_list(caller=caller, marker=aliases_marker)
    with raises_kms(InvalidMarkerError):
        services.key_list_tags(caller=caller, key_id=str(key.id), marker=aliases_marker)
    with raises_kms(InvalidMarkerError):
        services.alias_list(caller=caller, marker="alias/m0")  # a plausible value, not issued
