"""Fuzzing every console form (hypothesis), as a signed-in administrator (issue 10).

The forms come from the case table of test_console_audit_every_action.py: each POST case
holds a request that works (its setup, its data, and for the Create key wizard the steps
before). Each example sends that request with one to three edits: a field given a hostile
value (markup and script, NUL, a 100,000-character string, other scripts and emoji, template
syntax, numbers out of any range, URLs of other sites), a field dropped, a field sent twice, an
unknown field added, an uploaded file replaced by text. The GET pages with filter forms (the
key table, event history, alerts, the policy simulator) and the sign-in form get the same.

Whatever the input: never a 500; an HTML answer never contains a submitted value with markup
unescaped; a redirect never leaves the site (the `next` fields); and every answer denies
framing (test_framing.py checks the valid requests).

KMS_FORM_FUZZ_EXAMPLES=<n> runs n examples per form instead of the default.
"""

import os
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.alert_views import AlertFilterForm
from audit.forms import EventFilterForm
from audit.models import AuditEvent
from grants.forms import SignInForm, SimulatorForm
from keys.forms import KeyTableForm

from .test_console_audit_every_action import CASES, case_context
from .test_framing import assert_cannot_be_framed

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("KMS_FORM_FUZZ_EXAMPLES", "5"))
FORM_FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                              database=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow,
                                                     HealthCheck.data_too_large,
                                                     HealthCheck.large_base_example])
POST_CASES = [case for case in CASES if case.method == "POST"
              and case.url_name not in {"signout"}]  # signing out ends the fuzzing session
HOSTILE = [
    '"><script>alert("kms-xss")</script>',
    "<img src=x onerror=alert('kms-xss')>",
    "</textarea><svg onload=alert(1)>",
    "javascript:alert(1)",
    "\x00", "a\x00b", "line\r\nbreak", "\u202eevil", "\U0001f600" * 300, "\u0000<b>",
    "x" * 100_000,
    "{{ request.user.password }}", "{% debug %}", "${jndi:ldap://x}", "' OR '1'='1",
    "../../etc/passwd", "%00", "%2e%2e%2f",
    "//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
    "-1", "0", "99999999999999999999999999", "1e309", "NaN", "3.5", "", " ",
    "alias/aws/s3", "arn:aws:iam::444455556666:root", "00000000-0000-4000-8000-000000000000",
    '{"Version": "2012-10-17", "Statement": []}', "[]", "{", "null", "true",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                         st.text(alphabet="<>&\"'/\\\x00 \r\n", max_size=20))


def _edit(draw, data: dict) -> dict:
    data = dict(data)
    names = sorted(data) or ["field"]
    kind = draw(st.sampled_from(["value", "value", "value", "drop", "twice", "extra", "list"]))
    name = draw(st.sampled_from(names))
    if kind == "drop":
        data.pop(name, None)
    elif kind == "twice":
        data[name] = [draw(hostile_text), draw(hostile_text)]
    elif kind == "extra":
        data[draw(st.sampled_from(["extra", "__proto__", "csrfmiddlewaretoken", "next"]))] = \
            draw(hostile_text)
    elif kind == "list":
        data[name] = draw(st.lists(hostile_text, max_size=3))
    else:
        data[name] = draw(hostile_text)
    return data


@st.composite
def edited(draw, data: dict):
    for _ in range(draw(st.integers(1, 3))):
        data = _edit(draw, data)
    return data


def sent_values(data: dict) -> list[str]:
    values = []
    for value in data.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                values.append(item)
    return values


def check_answer(response, data: dict, what: str) -> None:
    assert response.status_code < 500, (what, data, response.content[:1000])
    assert_cannot_be_framed(response, what)
    if response.status_code in (301, 302, 303):
        location = urlsplit(response["Location"])
        # Threat: an open redirect through a `next` field to another site.
        assert not location.scheme and not location.netloc, (what, response["Location"])
        assert not response["Location"].startswith(("//", "/\\")), response["Location"]
    if response.get("Content-Type", "").startswith("text/html"):
        html = response.content.decode()
        for value in sent_values(data):
            if any(c in value for c in "<>\"") and len(value) > 3:
                # Threat: a reflected payload rendered as markup (XSS).
                assert value not in html, (what, value)


def _files_as_text(data: dict) -> dict:
    """A fresh copy of the data: uploaded files are read once per request."""
    fresh = {}
    for name, value in data.items():
        if isinstance(value, SimpleUploadedFile):
            value.seek(0)
            value = SimpleUploadedFile(value.name, value.read())
        fresh[name] = value
    return fresh


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_a_console_form_never_fails_on_hostile_input(client, admin, case):
    ctx = case_context(case, admin, client)
    client.force_login(admin)
    base = case.data(ctx)

    @FORM_FUZZ_SETTINGS
    @given(data=st.data())
    def run(data):
        values = dict(base)
        if case.prepare is not None:
            values.update(case.prepare(client, ctx))
        values = data.draw(edited(_files_as_text(values)))
        response = client.post(case.path(ctx), values, **case.headers)
        check_answer(response, values, case.id)
        client.force_login(admin)  # an edit may have changed the session (switch role...)

    run()


FILTER_PAGES = {
    "/kms/keys": KeyTableForm,
    "/cloudtrail/events": EventFilterForm,
    "/cloudtrail/events/download": EventFilterForm,
    "/cloudtrail/alerts": AlertFilterForm,
    "/iam/policy-simulator": SimulatorForm,
}


@pytest.mark.parametrize("path", sorted(FILTER_PAGES))
def test_a_filter_form_never_fails_on_hostile_input(client, admin, path):
    fields = {name: "" for name in FILTER_PAGES[path].base_fields}
    client.force_login(admin)

    @FORM_FUZZ_SETTINGS
    @given(query=edited(fields))
    def run(query):
        response = client.get(path, query)
        check_answer(response, query, path)
        htmx = client.get(path, query, HTTP_HX_REQUEST="true")
        check_answer(htmx, query, f"{path} (htmx)")

    run()


def test_the_sign_in_form_never_fails_on_hostile_input(client, admin):
    fields = {name: "" for name in SignInForm.base_fields} | {"next": "/kms/keys"}

    @FORM_FUZZ_SETTINGS
    @given(data=edited(fields))
    def run(data):
        check_answer(client.post("/signin", data), data, "signin")
        check_answer(client.post("/signin", {**data, "step": "mfa"}), data, "signin mfa")
        check_answer(client.get("/signin", data), data, "signin page")

    run()


# Actions that read a `next` field (kmsconsole.console.safe_next, grants/mfa_views._back).
NEXT_READERS = {"keys:key_table_preferences", "iam:change_password", "iam:switch_role",
                "iam:switch_back", "region_select", "iam:mfa_assign", "iam:mfa_enable",
                "iam:mfa_remove"}
NEXT_CASES = [case for case in POST_CASES if case.url_name in NEXT_READERS]


@pytest.mark.parametrize("case", NEXT_CASES, ids=lambda case: case.id)
def test_a_next_field_that_is_no_path_of_this_site_is_ignored(client, admin, case):
    """Regression: `next` text that is no path ("<img ...>", a bare word) made redirect() look
    it up as a URL name: a 500. Other sites' URLs must not be followed either."""
    assert {c.url_name for c in NEXT_CASES} == NEXT_READERS
    ctx = case_context(case, admin, client)
    for candidate in ("<img src=x onerror=alert(1)>", "keys", "https://evil.example/",
                      "//evil.example/", "/\\evil.example"):
        client.force_login(admin)
        data = {**case.data(ctx), "next": candidate}
        response = client.post(case.path(ctx), data, **case.headers)
        check_answer(response, data, f"{case.id} next={candidate}")


@pytest.mark.parametrize("url_name", ["keys:key_description_edit", "keys:key_tags_edit",
                                      "iam:account_alias_delete"])
def test_a_nul_character_in_a_console_field_is_a_clear_400(client, admin, url_name):
    """Regression (found on PostgreSQL, whose text cannot hold U+0000): the description,
    tags and account alias actions read request.POST directly and failed with a 500."""
    case = next(case for case in POST_CASES if case.url_name == url_name)
    ctx = case_context(case, admin, client)
    client.force_login(admin)
    data = {name: "a\x00b" for name in case.data(ctx)} or {"description": "a\x00b"}
    since = AuditEvent.objects.count()
    response = client.post(case.path(ctx), data)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    assert AuditEvent.objects.count() == since  # refused before any service ran
    query = client.get("/kms/keys", {"q": "x\x00"})
    assert query.status_code == 400
