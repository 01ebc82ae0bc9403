"""The console layout: top bar (service, region selector, who is signed in, Sign out), side
navigation per kms-spec 8.1, breadcrumbs, Flashbar; security headers; escaping of user text."""

import pytest

from tests.conftest import make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

SCRIPT = "<script>alert('x')</script>"
ATTRIBUTE_BREAKER = '"><img src=x onerror=alert(1)>'


def test_top_bar_names_the_service_region_user_and_account(signed_in, settings):
    html = signed_in.get("/kms/keys").content.decode()
    header = elements(html, "header", aria_label="Top navigation")[0]
    assert "Key Management Service" in header["text"]
    assert names(html, "a", **{"class": "top-navigation__identity"}) == [
        "Key Management Service"]
    selector = html.split('id="region-selector"', 1)[1].split("</select>", 1)[0]
    assert [e["attrs"]["value"] for e in elements(selector, "option")] == settings.KMS_REGIONS
    selected = [e["attrs"]["value"] for e in elements(html, "option")
                if "selected" in e["attrs"] and e["attrs"]["value"] in settings.KMS_REGIONS]
    assert selected == ["us-east-1"]
    assert "Region" in names(html, "label")
    assert "admin" in header["text"] and "111122223333" in header["text"]
    assert "example" in header["text"]
    assert "Sign out" in names(html, "button")


def test_side_navigation_has_the_kms_console_entries(signed_in):
    html = signed_in.get("/kms/keys").content.decode()
    assert elements(html, "nav", aria_label="Key Management Service")
    nav = html.split('aria-label="Key Management Service">', 1)[1].split("</nav>", 1)[0]
    assert names(nav, "h2") == ["Key Management Service"]
    assert names(nav, "a") == ["AWS managed keys", "Customer managed keys", "Custom key stores",
                     "AWS CloudHSM key stores", "External key stores", "Aliases",
                     "Event history", "Alerts", "Users", "Roles", "Policies",
                     "Account settings", "Policy simulator"]
    assert names(nav, "a", aria_current="page") == ["Customer managed keys"]


def test_breadcrumbs_lead_from_kms_to_the_page(signed_in, admin):
    key = create_key(admin)
    html = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    crumbs = elements(html, "nav", aria_label="Breadcrumbs")[0]
    assert " ".join(crumbs["text"].split()) == f"KMS Customer managed keys {key.id}"
    assert elements(html, "a", href="/kms/keys")


def test_choosing_a_region_is_kept_in_the_session_and_scopes_the_keys(signed_in, admin):
    create_key(admin, alias="alias/in-us-east-1")
    response = signed_in.post("/console/region", {"region": "eu-west-1",
                                                   "next": "/kms/keys"})
    assert response.status_code == 302 and response["Location"] == "/kms/keys"
    html = signed_in.get("/kms/keys").content.decode()
    assert names(html, "h1") == ["Customer managed keys (0)"]
    selected = [e["attrs"]["value"] for e in elements(html, "option") if "selected" in e["attrs"]
                and e["attrs"]["value"].count("-") == 2]
    assert selected == ["eu-west-1"]


def test_an_unknown_region_is_refused_with_a_flash_message(signed_in):
    response = signed_in.post("/console/region", {"region": "mars-north-1"}, follow=True)
    html = response.content.decode()
    assert names(html, "div", role="region") == ["Notifications"]
    assert [e["text"].strip() for e in elements(html, "div", role="alert")] == [
        "That region is not offered by this server."]
    assert "mars-north-1" not in [e["attrs"]["value"] for e in elements(html, "option")]


def test_region_selector_answers_htmx_with_a_client_redirect(signed_in):
    response = signed_in.post("/console/region", {"region": "eu-west-1", "next": "/kms/aliases"},
                              HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/kms/aliases"


@pytest.mark.django_db
def test_region_selector_needs_sign_in(client):
    response = client.post("/console/region", {"region": "eu-west-1"})
    assert response.status_code == 302 and response["Location"].startswith("/signin")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/signin", "/kms/keys"])
def test_pages_send_csp_without_inline_scripts_and_deny_framing(client, admin, url):
    client.force_login(admin)
    response = client.get(url if url != "/signin" else "/kms/aliases")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    html = response.content.decode()
    scripts = elements(html, "script")
    assert scripts and all(s["attrs"].get("src", "").startswith("/static/") for s in scripts)
    assert all(s["text"].strip() == "" for s in scripts)
    assert "htmx" in scripts[0]["attrs"]["src"]


@pytest.mark.django_db
def test_the_sign_in_page_has_the_same_headers(client):
    response = client.get("/signin")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_user_text_is_escaped_everywhere_it_is_shown(signed_in, admin):
    """Aliases only allow [a-zA-Z0-9:/_-]; descriptions and tag values take anything."""
    key = create_key(admin, alias="alias/xss", description=SCRIPT + ATTRIBUTE_BREAKER,
                     tags=[("team", ATTRIBUTE_BREAKER)])
    detail = signed_in.get(f"/kms/keys/{key.id}").content.decode()
    assert SCRIPT not in detail and ATTRIBUTE_BREAKER not in detail
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in detail
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in detail
    assert not elements(detail, "img")
    listing = signed_in.get("/kms/keys", {"tag": f"team={ATTRIBUTE_BREAKER}",
                                          "alias": SCRIPT}).content.decode()
    assert SCRIPT not in listing and ATTRIBUTE_BREAKER not in listing
    assert not elements(listing, "img")
    assert [e["attrs"]["value"] for e in elements(listing, "input", name="tag")] == [
        f"team={ATTRIBUTE_BREAKER}"]  # the parser unescapes: the value stayed one attribute
    by_tag = signed_in.get("/kms/keys", {"tag": f"team={ATTRIBUTE_BREAKER}"}).content.decode()
    assert [row[1] for row in table_rows(by_tag)] == [str(key.id)]


def test_a_user_name_is_escaped_in_the_top_bar(client, account):
    # IAM names allow only [\w+=,.@-], so the worst a name can hold is quoting characters.
    user = make_user(account, "o@x+y=z,w.v")
    client.force_login(user)
    html = client.get("/kms/custom-key-stores").content.decode()
    assert "o@x+y=z,w.v" in names(html, "span", **{"class": "top-navigation__user-name"})


def test_pages_vary_on_hx_request_so_back_never_shows_a_cached_fragment(signed_in):
    """A URL that answers htmx with a fragment and a browser with the page must say so
    (Vary: HX-Request), or Back after an htmx filter shows the bare fragment."""
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = signed_in.get("/cloudtrail/events", {"event_name": "ListKeys"}, **headers)
        assert "HX-Request" in response["Vary"]
