"""Shared by the console tests: HTML assertions by role and caption, and a key factory."""

import re
from html.parser import HTMLParser

from keys import services
from tests.conftest import caller_for


def create_key(user, *, alias: str | None = None, extra_aliases=(), **kwargs):
    """A key made through the one door (key_create, alias_create), as a console click would."""
    caller = caller_for(user)
    key = services.key_create(caller=caller, **kwargs)
    for name in ([alias] if alias else []) + list(extra_aliases):
        services.alias_create(caller=caller, alias_name=name, target_key_id=str(key.id))
    return key


def enabled_mfa_device(user) -> str:
    """Give `user` an enabled virtual MFA device; its TOTP secret (for mfa.totp_code)."""
    from grants import mfa
    from grants.models import MFADevice

    device = MFADevice(user=user, serial_number=mfa.serial_number_for(user, user.name),
                       enabled=True)
    secret = mfa.new_totp_secret()
    device.set_secret(secret)
    device.save()
    return secret


class _Collector(HTMLParser):
    """Elements with their attributes and text (text of nested elements included)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self.open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in {"input", "meta", "link", "br", "img", "hr"}:
            self.open.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index]["tag"] == tag:
                del self.open[index:]
                break

    def handle_data(self, data):
        for element in self.open:
            if element["attrs"].get("aria-hidden") == "true":
                return
        for element in self.open:
            element["text"] += data


def elements(html: str, tag: str, **attrs) -> list[dict]:
    collector = _Collector()
    collector.feed(html)
    return [e for e in collector.elements if e["tag"] == tag
            and all(e["attrs"].get(name.replace("_", "-")) == value
                    for name, value in attrs.items())]


def name_of(element: dict) -> str:
    """The accessible name as these templates give it: aria-label, else the text."""
    return element["attrs"].get("aria-label") or re.sub(r"\s+", " ", element["text"]).strip()


def names(html: str, tag: str, **attrs) -> list[str]:
    return [name_of(e) for e in elements(html, tag, **attrs)]


def table_rows(html: str) -> list[list[str]]:
    """The text of each body cell of the first table, row by row."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in body.split("<tr")[1:]:
        rows.append([re.sub(r"\s+", " ", e["text"]).strip()
                     for e in elements("<tr" + row, "td")])
    return rows
