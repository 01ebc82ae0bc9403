"""The key pages: customer managed keys (filter, sort, paginate, htmx fragment, query count),
AWS managed keys, a key's detail page, aliases and custom key stores; each allowed, denied
(a user with no policy gets a 403 page that explains the decision) and audited."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from keys import services
from keys.access import resolve_key
from tests.conftest import caller_for, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

COLUMNS = ["Aliases", "Key ID", "Status", "Key type", "Key spec", "Key usage",
           "Creation date", "Origin"]


@pytest.fixture
def nobody_client(client, account):
    """Signed in as a user with no policy at all: every KMS request is refused."""
    client.force_login(make_user(account, "nobody"))
    return client


@pytest.fixture
def keys(admin):
    """Four keys of different kinds, created in this order."""
    return {
        "payments": create_key(admin, alias="alias/payments",
                               extra_aliases=["alias/payments-2", "alias/payments-3"],
                               tags=[("team", "payments")]),
        "signing": create_key(admin, alias="alias/signing", key_spec="ECC_NIST_P256",
                              key_usage="SIGN_VERIFY", tags=[("team", "identity")]),
        "mac": create_key(admin, alias="alias/mac", key_spec="HMAC_256",
                          key_usage="GENERATE_VERIFY_MAC"),
        "imported": create_key(admin, origin="EXTERNAL", description="bring your own"),
    }


def key_ids(response) -> list[str]:
    # An empty table has one row with a single cell: its empty state.
    return [row[1] for row in table_rows(response.content.decode()) if len(row) > 1]


def test_customer_managed_keys_lists_the_accounts_keys_with_aws_captions(signed_in, keys):
    response = signed_in.get("/kms/keys")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["Customer managed keys (4)"]
    assert names(html, "th") == COLUMNS
    rows = {row[1]: row for row in table_rows(html)}
    payments = rows[str(keys["payments"].id)]
    assert payments[0] == "alias/payments +2 more"
    assert payments[2:5] == ["Enabled", "Symmetric", "SYMMETRIC_DEFAULT"]
    assert payments[5] == "Encrypt and decrypt"
    assert payments[7] == "AWS KMS"
    assert rows[str(keys["signing"].id)][3:6] == ["Asymmetric", "ECC_NIST_P256",
                                                  "Sign and verify"]
    assert rows[str(keys["mac"].id)][3:6] == ["Symmetric", "HMAC_256",
                                              "Generate and verify MAC"]
    imported = rows[str(keys["imported"].id)]
    assert (imported[0], imported[2], imported[7]) == ("-", "Pending import", "External")
    assert elements(html, "a", href=f"/kms/keys/{keys['payments'].id}")


def test_listing_keys_is_audited_as_list_keys_and_list_aliases(signed_in, admin, keys):
    AuditEvent.objects.all().delete()
    signed_in.get("/kms/keys")
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.event_name for e in events] == ["ListKeys", "ListAliases"]
    assert {e.source for e in events} == {"console"}
    assert {e.principal_arn for e in events} == {admin.arn}


def test_another_accounts_keys_are_not_listed(client, keys, outsider):
    create_key(outsider, alias="alias/theirs")
    client.force_login(outsider)
    html = client.get("/kms/keys").content.decode()
    assert names(html, "h1") == ["Customer managed keys (1)"]
    assert table_rows(html)[0][0] == "alias/theirs"


@pytest.mark.parametrize(("query", "expected"), [
    ("alias=PAYMENTS-2", ["payments"]),
    ("alias=alias/", ["payments", "signing", "mac"]),
    ("key_type=ASYMMETRIC", ["signing"]),
    ("key_type=SYMMETRIC", ["payments", "mac", "imported"]),
    ("key_spec=HMAC_256", ["mac"]),
    ("status=PendingImport", ["imported"]),
    ("tag=team=identity", ["signing"]),
    ("tag=team", ["payments", "signing"]),
    ("tag=team=nobody", []),
    ("alias=alias/&key_type=SYMMETRIC", ["payments", "mac"]),
    ("status=NotAState&key_spec=bogus", ["payments", "signing", "mac", "imported"]),
])
def test_customer_managed_keys_filter_by_get_parameters(signed_in, keys, query, expected):
    response = signed_in.get(f"/kms/keys?{query}")
    assert response.status_code == 200
    assert key_ids(response) == [str(keys[name].id) for name in expected]


def test_filter_by_part_of_the_key_id(signed_in, keys):
    key_id = str(keys["mac"].id)
    assert key_ids(signed_in.get(f"/kms/keys?key_id={key_id[:8].upper()}")) == [key_id]


def test_an_empty_result_says_no_match(signed_in, keys):
    html = signed_in.get("/kms/keys?alias=nothing-like-this").content.decode()
    assert names(html, "h1") == ["Customer managed keys (0)"]
    assert "No keys match the filters." in html


def test_sorting_by_alias_descending_puts_keys_without_alias_last(signed_in, keys):
    response = signed_in.get("/kms/keys?sort=alias&order=desc")
    assert key_ids(response) == [str(keys[n].id)
                                 for n in ["signing", "payments", "mac", "imported"]]
    html = response.content.decode()
    assert elements(html, "th", aria_sort="descending")[0]["text"].strip() == "Aliases"
    ascending = signed_in.get("/kms/keys?sort=alias&order=asc")
    assert key_ids(ascending) == [str(keys[n].id)
                                  for n in ["mac", "payments", "signing", "imported"]]


@pytest.mark.parametrize("sort", ["key_id", "status", "key_type", "key_spec", "key_usage",
                                  "created", "origin"])
def test_every_sortable_column_sorts_both_ways(signed_in, keys, sort):
    ascending = key_ids(signed_in.get(f"/kms/keys?sort={sort}"))
    descending = key_ids(signed_in.get(f"/kms/keys?sort={sort}&order=desc"))
    assert sorted(ascending) == sorted(str(k.id) for k in keys.values())
    assert sorted(descending) == sorted(ascending)
    if sort in ("key_id", "created"):
        assert descending == ascending[::-1]


def test_pagination_walks_all_keys_once_with_the_page_size_chosen(signed_in, admin):
    made = {str(create_key(admin).id) for _ in range(23)}
    seen = []
    for page in (1, 2, 3):
        response = signed_in.get(f"/kms/keys?page_size=10&sort=key_id&page={page}")
        seen += key_ids(response)
    assert len(seen) == 23 and set(seen) == made
    html = signed_in.get("/kms/keys?page_size=10&page=2").content.decode()
    assert "11-20 of 23" in html
    assert names(html, "a", rel="prev") == ["Previous page"]
    assert names(html, "a", rel="next") == ["Next page"]
    # Links keep the page size; a page past the end shows the last page.
    assert "page_size=10" in elements(html, "a", rel="next")[0]["attrs"]["href"]
    assert "21-23 of 23" in signed_in.get("/kms/keys?page_size=10&page=99").content.decode()
    assert "1-23 of 23" in signed_in.get("/kms/keys?page_size=x&page=y").content.decode()


def _count_queries(client, django_assert_max_num_queries) -> int:
    client.get("/kms/keys")  # warm the per-process identity policy cache
    with django_assert_max_num_queries(1000) as captured:
        response = client.get("/kms/keys?page_size=100&sort=alias")
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_key_list_costs_the_same_queries_for_3_and_30_keys(
        signed_in, admin, django_assert_num_queries, django_assert_max_num_queries):
    for index in range(3):
        create_key(admin, alias=f"alias/k{index}", extra_aliases=[f"alias/k{index}-b"],
                   tags=[("n", str(index))])
    with_3 = _count_queries(signed_in, django_assert_max_num_queries)
    for index in range(3, 30):
        create_key(admin, alias=f"alias/k{index}", extra_aliases=[f"alias/k{index}-b"],
                   tags=[("n", str(index))])
    with django_assert_num_queries(with_3):
        response = signed_in.get("/kms/keys?page_size=100&sort=alias")
    assert len(table_rows(response.content.decode())) == 30
    # Session, user with its account, the user's table preferences, two audit events (each in
    # a savepoint, appended to the hash chain: advance the head, INSERT, store the head's hash;
    # 5 statements), count, the page, its aliases.
    assert with_3 == 16


def test_htmx_request_gets_only_the_table_fragment(signed_in, keys):
    response = signed_in.get("/kms/keys?key_type=ASYMMETRIC", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="key-table"')
    assert "<html" not in html and "side-navigation" not in html
    assert not elements(html, "form", role="search")  # the filter form stays as it is
    assert key_ids(response) == [str(keys["signing"].id)]
    # The filter form's hidden sort fields are updated out of band.
    assert elements(html, "span", id="table-sort-state", hx_swap_oob="true")


def test_htmx_history_restore_gets_the_whole_page(signed_in, keys):
    response = signed_in.get("/kms/keys", HTTP_HX_REQUEST="true",
                             HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_a_user_without_permission_gets_an_explained_403(nobody_client, account):
    response = nobody_client.get("/kms/keys")
    html = response.content.decode()
    assert response.status_code == 403
    assert names(html, "h1") == ["Access denied"]
    alert = " ".join(e["text"] for e in elements(html, "div", role="alert"))
    assert "AccessDeniedException" in alert
    assert "kms:ListKeys" in alert and "nobody" in alert
    event = AuditEvent.objects.get(event_name="ListKeys")
    assert event.error_code == "AccessDeniedException"


def test_aws_managed_keys_lists_only_aws_managed_keys_read_only(signed_in, admin, keys):
    managed = resolve_key(caller_for(admin), "alias/aws/s3")
    response = signed_in.get("/kms/defaultKeys")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["AWS managed keys (1)"]
    assert names(html, "th") == ["Aliases", "Key ID", "Status"]
    assert table_rows(html) == [["alias/aws/s3", str(managed.id), "Enabled"]]
    filter_labels = [e["text"] for e in elements(html, "label")
                     if e["attrs"].get("for", "").startswith("filter-")]
    assert filter_labels == ["Alias", "Key ID"]
    assert not elements(html, "select", name="key_type")
    assert key_ids(signed_in.get("/kms/defaultKeys?alias=ebs")) == []
    # Filters it does not offer are ignored, not applied.
    assert key_ids(signed_in.get("/kms/defaultKeys?status=Disabled")) == [str(managed.id)]


def test_aws_managed_keys_denied_without_permission(nobody_client):
    assert nobody_client.get("/kms/defaultKeys").status_code == 403


def test_key_detail_shows_general_and_cryptographic_configuration(signed_in, keys):
    key = keys["signing"]
    response = signed_in.get(f"/kms/keys/{key.id}/crypto")  # the tab of that name
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "h1") == ["alias/signing"]
    assert names(html, "h2")[-2:] == ["General configuration", "Cryptographic configuration"]
    terms = names(html, "dt")
    values = [" ".join(e["text"].split()) for e in elements(html, "dd")]
    pairs = dict(zip(terms, values, strict=True))
    assert pairs["Alias"] == "alias/signing"
    assert pairs["Status"] == "Enabled"
    assert pairs["ARN"] == key.arn
    assert pairs["Key type"] == "Asymmetric"
    assert pairs["Origin"] == "AWS KMS"
    assert pairs["Key spec"] == "ECC_NIST_P256"
    assert pairs["Key usage"] == "Sign and verify"
    assert pairs["Signing algorithms"] == "ECDSA_SHA_256"
    assert "Creation date" in pairs and "Description" in pairs
    assert names(html, "span", aria_current="page") == [str(key.id)]  # last breadcrumb


def test_key_detail_lists_every_alias_for_the_more_link(signed_in, keys):
    html = signed_in.get(f"/kms/keys/{keys['payments'].id}/aliases").content.decode()
    assert "Aliases (3)" in names(html, "h2")
    assert elements(html, "section", id="aliases")
    assert [row[0] for row in table_rows(html.split('id="aliases"', 1)[1])] == [
        "alias/payments", "alias/payments-2", "alias/payments-3"]


def test_key_detail_of_an_unknown_key_is_a_404_page(signed_in, account):
    response = signed_in.get("/kms/keys/0b6a7e4f-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert "NotFoundException" in response.content.decode()


def test_key_detail_of_another_accounts_key_is_not_found(client, keys, outsider):
    client.force_login(outsider)
    assert client.get(f"/kms/keys/{keys['payments'].id}").status_code == 404


def test_key_detail_denied_without_permission(client, admin, account):
    key = create_key(admin)
    client.force_login(make_user(account, "nobody"))
    response = client.get(f"/kms/keys/{key.id}")
    assert response.status_code == 403
    assert "kms:DescribeKey" in response.content.decode()


def test_aliases_page_lists_name_arn_and_target(signed_in, keys):
    response = signed_in.get("/kms/aliases")
    html = response.content.decode()
    assert response.status_code == 200
    assert names(html, "th") == ["Alias name", "Alias ARN", "Target key ID"]
    rows = table_rows(html)
    assert rows[0] == ["alias/mac", "arn:aws:kms:us-east-1:111122223333:alias/mac",
                       str(keys["mac"].id)]
    assert len(rows) == 5


def test_aliases_page_pages_with_a_marker(signed_in, admin):
    for index in range(12):
        create_key(admin, alias=f"alias/a{index:02d}")
    first = signed_in.get("/kms/aliases?page_size=10").content.decode()
    assert len(table_rows(first)) == 10
    next_href = elements(first, "a", rel="next")[0]["attrs"]["href"]
    second = signed_in.get(f"/kms/aliases{next_href}").content.decode()
    assert [row[0] for row in table_rows(second)] == ["alias/a10", "alias/a11"]
    bad = signed_in.get("/kms/aliases?marker=forged")
    assert bad.status_code == 400
    assert "InvalidMarkerException" in bad.content.decode()


def test_aliases_page_denied_without_permission(nobody_client):
    assert nobody_client.get("/kms/aliases").status_code == 403


@pytest.mark.parametrize(("url", "title"), [
    ("/kms/custom-key-stores", "Custom key stores (0)"),
    ("/kms/custom-key-stores/cloudhsm", "AWS CloudHSM key stores (0)"),
    ("/kms/custom-key-stores/external", "External key stores (0)"),
])
def test_custom_key_stores_say_honestly_there_are_none(signed_in, url, title):
    html = signed_in.get(url).content.decode()
    assert names(html, "h1") == [title]
    assert "This server has no custom key stores." in " ".join(html.split())
    assert AuditEvent.objects.filter(event_name="DescribeCustomKeyStores").exists()


def test_custom_key_stores_denied_without_permission(nobody_client):
    assert nobody_client.get("/kms/custom-key-stores").status_code == 403


def test_disabled_and_pending_deletion_keys_use_aws_wording(signed_in, admin):
    caller = caller_for(admin)
    disabled = create_key(admin)
    services.key_disable(caller=caller, key_id=str(disabled.id))
    doomed = create_key(admin)
    services.key_schedule_deletion(caller=caller, key_id=str(doomed.id))
    rows = {row[1]: row[2] for row in table_rows(signed_in.get("/kms/keys").content.decode())}
    assert rows == {str(disabled.id): "Disabled", str(doomed.id): "Pending deletion"}


def test_an_unexpected_failure_is_a_plain_500_page_without_internals(admin, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("keys.listing.selectors.key_page", broken)
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    response = client.get("/kms/keys")
    html = response.content.decode()
    assert response.status_code == 500
    assert names(html, "h1") == ["Internal error"]
    assert "secret internal detail" not in html and "Traceback" not in html


@pytest.mark.django_db
def test_an_unknown_console_address_is_a_404_page(signed_in):
    response = signed_in.get("/kms/no-such-page")
    assert response.status_code == 404
    assert names(response.content.decode(), "h1") == ["Not found"]


def test_an_aws_managed_keys_detail_page_sits_under_aws_managed_keys(signed_in, admin):
    managed = resolve_key(caller_for(admin), "alias/aws/ebs")
    html = signed_in.get(f"/kms/keys/{managed.id}").content.decode()
    crumbs = elements(html, "nav", aria_label="Breadcrumbs")[0]
    assert " ".join(crumbs["text"].split()) == f"KMS AWS managed keys {managed.id}"
    assert names(html, "h1") == ["alias/aws/ebs"]
