"""The Key rotation tab (kms-spec.md 8.3): automatic rotation with its period (Edit -> Save), the
next rotation date, Rotate now behind a confirmation with the on-demand rotations left, and the
key materials table. Plain forms and links (no JavaScript needed), htmx panels where useful;
allowed, denied (403 with the explanation, nothing changes) and anonymous (sign-in); every change
audited with source console; disabled, pending-deletion and AWS managed keys read-only."""

import pytest

from audit.models import AuditEvent
from grants import services as iam_services
from grants.builtin_policies import builtin_policy_arn
from grants.policy.defaults import console_default_policy
from grants.principals import Caller, Principal
from keys import rotation, services
from keys.models import Key
from tests.conftest import REGION, caller_for, make_user
from tests.web.console_helpers import create_key, elements, names, table_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(admin):
    return create_key(admin, alias="alias/rotating")


def url(key, suffix: str = "") -> str:
    return f"/kms/keys/{key.id}/rotation{suffix}"


def fresh(key) -> Key:
    return Key.objects.get(pk=key.pk)


def html_of(response) -> str:
    return response.content.decode()


def flashes(response) -> list[str]:
    return [" ".join(e["text"].split()) for e in elements(html_of(response), "div")
            if "flash" in e["attrs"].get("class", "").split()]


def details(html: str) -> dict[str, str]:
    """The key-value pairs of the page (dt -> dd text)."""
    terms = [" ".join(e["text"].split()) for e in elements(html, "dt")]
    values = [" ".join(e["text"].split()) for e in elements(html, "dd")]
    return dict(zip(terms, values, strict=True))


def panel(html: str) -> str:
    """The tab's own panel (the page header has an Edit link of its own, for the description)."""
    return html.split('id="rotation-panel"', 1)[1]


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_name=name).order_by("-id").first()


def user_with(account, name: str, policy: str):
    user = make_user(account, name)
    iam_services.policy_attach_user(caller=Caller.scheduler(account_id=account.id, region=REGION),
                                    user=user, policy_arn=builtin_policy_arn(policy))
    return user


# --- the tab ----------------------------------------------------------------------------------

def test_the_tab_shows_rotation_off_the_rotate_button_and_the_first_material(signed_in, key):
    response = signed_in.get(url(key))
    html = html_of(response)
    assert response.status_code == 200
    assert names(html, "a", aria_current="page") == ["Key rotation"]
    assert details(html)["Key rotation"] == "Disabled"
    assert details(html)["Next rotation date"] == "-"
    assert {"Edit", "Rotate now"} <= set(names(panel(html), "a"))
    assert "10 of 10 on-demand rotations remaining." in html
    [row] = [r for r in table_rows(html.split('id="key-materials-title"')[1])]
    assert row == [fresh(key).current_material_id(), "-", "Initial key material", "Current"]


def test_edit_enables_rotation_with_a_custom_period(signed_in, key):
    html = html_of(signed_in.get(url(key, "/edit")))
    [checkbox] = elements(html, "input", name="automatic_rotation")
    assert "checked" not in checkbox["attrs"]
    assert elements(html, "input", name="rotation_period_days")[0]["attrs"]["value"] == "365"
    response = signed_in.post(url(key, "/edit"), {"automatic_rotation": "on",
                                                  "rotation_period_days": "180"}, follow=True)
    assert response.redirect_chain[-1][0] == url(key)
    assert flashes(response) == ["Automatic key rotation is on: every 180 days."]
    shown = details(html_of(response))
    assert (shown["Key rotation"], shown["Rotation period"]) == ("Enabled", "180 days")
    assert shown["Next rotation date"].endswith("UTC")
    key = fresh(key)
    assert (key.rotation_enabled, key.rotation_period_days) == (True, 180)
    event = last_event("EnableKeyRotation")
    assert (event.source, event.error_code) == ("console", "")
    assert event.request_parameters == {"keyId": str(key.id), "rotationPeriodInDays": 180}


def test_edit_without_the_box_disables_rotation(signed_in, admin, key):
    rotation.key_rotation_enable(caller=caller_for(admin), key_id=str(key.id),
                                 rotation_period_days=200)
    html = html_of(signed_in.get(url(key, "/edit")))
    assert "checked" in elements(html, "input", name="automatic_rotation")[0]["attrs"]
    assert elements(html, "input", name="rotation_period_days")[0]["attrs"]["value"] == "200"
    response = signed_in.post(url(key, "/edit"), {"rotation_period_days": "200"}, follow=True)
    assert flashes(response) == ["Automatic key rotation is off."]
    assert fresh(key).rotation_enabled is False
    assert last_event("DisableKeyRotation").source == "console"


@pytest.mark.parametrize("period", ["30", "2561", "soon", ""])
def test_a_period_out_of_range_is_explained_and_nothing_changes(signed_in, key, period):
    response = signed_in.post(url(key, "/edit"), {"automatic_rotation": "on",
                                                  "rotation_period_days": period})
    assert response.status_code == 400
    assert "Enter a rotation period of 90 to 2560 days." in html_of(response)
    assert fresh(key).rotation_enabled is False
    assert last_event("EnableKeyRotation") is None


def test_rotate_now_asks_first_then_rotates(signed_in, key):
    old_material = fresh(key).current_material_id()
    html = html_of(signed_in.get(url(key, "/rotate-now")))
    assert "Rotate key material now" in names(html, "h2")
    assert "10 of 10 on-demand rotations remaining." in html
    assert fresh(key).current_version == 1  # the confirmation changes nothing
    response = signed_in.post(url(key, "/rotate-now"), follow=True)
    assert response.redirect_chain[-1][0] == url(key)
    assert flashes(response)[0].startswith("The key material was rotated.")
    html = html_of(response)
    assert "9 of 10 on-demand rotations remaining." in html
    rows = table_rows(html.split('id="key-materials-title"')[1])
    new_material = fresh(key).current_material_id()
    assert [(r[0], r[2], r[3]) for r in rows] == [(new_material, "On-demand", "Current"),
                                                  (old_material, "Initial key material",
                                                   "Not current")]
    assert rows[0][1].endswith("UTC")
    event = last_event("RotateKeyOnDemand")
    assert (event.source, event.error_code) == ("console", "")


def test_after_ten_rotations_rotate_now_is_gone_and_a_forged_post_is_refused(signed_in, admin,
                                                                              key):
    for _ in range(rotation.ON_DEMAND_ROTATION_LIMIT):
        rotation.key_rotate_on_demand(caller=caller_for(admin), key_id=str(key.id))
    html = html_of(signed_in.get(url(key)))
    assert "0 of 10 on-demand rotations remaining." in html
    assert "Rotate now" not in names(html, "a")
    response = signed_in.post(url(key, "/rotate-now"), follow=True)
    assert flashes(response)[0].startswith("LimitExceededException: The on-demand rotations")
    assert last_event("RotateKeyOnDemand").error_code == "LimitExceededException"


@pytest.mark.parametrize("state, reason", [("Disabled", "This key is disabled."),
                                           ("PendingDeletion", "This key is pending deletion.")])
def test_a_disabled_or_doomed_key_shows_rotation_read_only(signed_in, admin, key, state, reason):
    caller = caller_for(admin)
    rotation.key_rotation_enable(caller=caller, key_id=str(key.id))
    if state == "Disabled":
        services.key_disable(caller=caller, key_id=str(key.id))
    else:
        services.key_schedule_deletion(caller=caller, key_id=str(key.id), pending_window_days=7)
    html = html_of(signed_in.get(url(key)))
    assert reason in html
    assert {"Edit", "Rotate now"}.isdisjoint(names(panel(html), "a"))
    assert details(html)["Key rotation"] == ("Enabled" if state == "Disabled" else "Disabled")
    # A form posted anyway gets the service's refusal, shown on the tab.
    response = signed_in.post(url(key, "/edit"), {"rotation_period_days": "365"})
    assert response.status_code == 400
    assert ("DisabledException" if state == "Disabled" else "KMSInvalidStateException") in \
        names(html_of(response), "h3")


def test_an_aws_managed_key_is_read_only(signed_in, admin):
    managed = services.key_describe(caller=caller_for(admin), key_id="alias/aws/s3")
    html = html_of(signed_in.get(url(managed)))
    assert details(html)["Rotation period"] == "365 days"
    assert "AWS rotates AWS managed keys every year." in html
    assert "Rotate now" not in names(html, "a")
    for suffix in ("/edit", "/rotate-now"):
        response = signed_in.post(url(managed, suffix), {"automatic_rotation": "on",
                                                         "rotation_period_days": "90"})
        assert (response.status_code, response["Location"]) == (302, url(managed))
    assert fresh(managed).current_version == 1 and fresh(managed).rotation_period_days == 365


def test_a_key_for_imported_material_explains_it_cannot_rotate(signed_in, admin):
    external = create_key(admin, origin="EXTERNAL")
    html = html_of(signed_in.get(url(external)))
    assert "not available for keys with imported key material" in html
    assert "No key material" in html
    assert {"Edit", "Rotate now"}.isdisjoint(names(panel(html), "a"))


def test_asymmetric_keys_have_no_rotation_tab(signed_in, admin):
    signing = create_key(admin, key_spec="RSA_2048", key_usage="SIGN_VERIFY")
    html = html_of(signed_in.get(f"/kms/keys/{signing.id}"))
    assert "Key rotation" not in names(html, "a", **{"class": "tabs__tab"})
    response = signed_in.get(url(signing))
    assert response.status_code == 400
    assert "UnsupportedOperationException" in html_of(response)


# --- htmx -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, heading", [("/edit", "Edit automatic key rotation"),
                                             ("/rotate-now", "Rotate key material now")])
def test_htmx_gets_only_the_panel(signed_in, key, suffix, heading):
    response = signed_in.get(url(key, suffix), HTTP_HX_REQUEST="true")
    html = html_of(response)
    assert response.status_code == 200
    assert names(html, "h1") == [] and names(html, "h2") == [heading]
    assert html.lstrip().startswith('<div id="rotation-panel">')


# --- who may ----------------------------------------------------------------------------------

PAGES = [("get", ""), ("get", "/edit"), ("get", "/rotate-now"), ("post", "/edit"),
         ("post", "/rotate-now")]


@pytest.mark.parametrize("method, suffix", PAGES)
def test_a_user_without_permission_sees_the_explanation(client, account, key, method, suffix):
    client.force_login(make_user(account, "nobody"))
    response = getattr(client, method)(url(key, suffix), {"automatic_rotation": "on",
                                                          "rotation_period_days": "180"}
                                       if method == "post" else None)
    assert response.status_code == 403
    assert "kms:DescribeKey" in html_of(response)
    assert (fresh(key).rotation_enabled, fresh(key).current_version) == (False, 1)


def test_a_read_only_user_sees_the_tab_but_is_refused_the_changes(client, account, key):
    client.force_login(user_with(account, "reader", "KMSReadOnly"))
    assert client.get(url(key)).status_code == 200
    response = client.post(url(key, "/edit"), {"automatic_rotation": "on",
                                               "rotation_period_days": "180"})
    assert response.status_code == 403 and "kms:EnableKeyRotation" in html_of(response)
    response = client.post(url(key, "/rotate-now"))
    assert response.status_code == 403 and "kms:RotateKeyOnDemand" in html_of(response)
    assert (fresh(key).rotation_enabled, fresh(key).current_version) == (False, 1)
    assert last_event("RotateKeyOnDemand").error_code == "AccessDeniedException"


def test_a_key_administrator_may_rotate(client, account, key):
    client.force_login(user_with(account, "keyadmin", "KMSKeyAdministrator"))
    response = client.post(url(key, "/rotate-now"))
    assert response.status_code == 302
    assert fresh(key).current_version == 2


@pytest.mark.parametrize("todays_console, allowed", [(True, True), (False, False)])
def test_a_key_administrator_named_in_the_console_default_policy_may_rotate_now(
        client, account, admin, todays_console, allowed):
    # No IAM policy: the key policy alone decides. Today's console default lets its key
    # administrators rotate on demand; an older console's policy (kms-spec.md 5.1) does not.
    keyadmin = make_user(account, "keyadmin")
    policy = console_default_policy(account.id, admins=[Principal.for_user(keyadmin).arn],
                                    users=[], other_accounts=[], key_type="SYMMETRIC_ENCRYPT",
                                    admins_rotate_on_demand=todays_console)
    key = create_key(admin, policy=policy)
    client.force_login(keyadmin)
    response = client.post(url(key, "/rotate-now"))
    assert response.status_code == (302 if allowed else 403)
    assert fresh(key).current_version == (2 if allowed else 1)
    event = last_event("RotateKeyOnDemand")
    assert event.user_name == "keyadmin"
    assert event.error_code == ("" if allowed else "AccessDeniedException")


@pytest.mark.parametrize("method, suffix", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, key, method, suffix):
    response = getattr(client, method)(url(key, suffix))
    assert response.status_code == 302 and response["Location"].startswith("/signin")
    assert fresh(key).current_version == 1
