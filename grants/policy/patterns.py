"""Wildcards, ARNs and policy variables: the matching primitives of grants.policy.

AWS policy wildcards are `*` (any run of characters, none included) and `?` (exactly one
character), nothing else. fnmatch.translate would also read `[...]` as a character class, which
AWS does not, so the translation to a regular expression is written out here. Compiled
expressions are cached per pattern list: a policy is parsed once and evaluated many times, and
the same patterns (kms:*, kms:Describe*, "*") recur in every policy.

Policy variables (`${aws:username}`, IAM's "policy variables") are kept as templates: a tuple of
parts that is resolved against the request when a statement is evaluated. `${*}`, `${?}` and
`${$}` stand for a literal `*`, `?` and `$`; `${key, 'default'}` gives a default for an absent key.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Callable
from functools import lru_cache

__all__ = [
    "PatternSet",
    "Template",
    "as_text",
    "compile_regex",
    "compile_wildcards",
    "has_wildcards",
    "parse_template",
    "split_arn",
    "wildcard_to_regex",
]

# A request value looked up by a lower-cased condition key; None when the key is absent.
Lookup = Callable[[str], object]


def has_wildcards(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def wildcard_to_regex(pattern: str) -> str:
    """The regular expression (without anchors) that matches what `pattern` matches in AWS."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


@lru_cache(maxsize=8192)
def compile_regex(expression: str, ignore_case: bool = False) -> re.Pattern:
    """A compiled expression, cached. DOTALL: `*` must also match a newline, as in AWS."""
    return re.compile(expression, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def compile_wildcards(patterns: tuple[str, ...], ignore_case: bool = False) -> re.Pattern:
    """One expression matching any of `patterns`; use it with fullmatch."""
    return compile_regex("|".join(f"(?:{wildcard_to_regex(p)})" for p in patterns), ignore_case)


def split_arn(value: str) -> tuple[str, ...] | None:
    """The six colon-separated components of an ARN (the last may hold colons), or None."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return tuple(parts)


def as_text(value: object) -> str:
    """A request value as the string the String and Arn operators compare.

    Booleans print as JSON does ("true"), datetimes as ISO-8601 UTC with a Z, bytes as base64:
    the forms a policy author would write.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


# --- policy variables -------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([A-Za-z0-9_.:/-]+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# A template part: ("text", s) is policy text whose * and ? are wildcards; ("literal", s) is
# text matched as it is (an escape such as ${*}); ("variable", key, default) is a request value.
TemplatePart = tuple


class Template:
    """A policy string holding variables, resolved against each request."""

    __slots__ = ("parts", "source")

    def __init__(self, source: str, parts: tuple[TemplatePart, ...]):
        self.source = source
        self.parts = parts

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def resolve(self, lookup: Lookup) -> tuple[tuple[str, bool], ...] | None:
        """(text, wildcards_active) pieces, or None when a variable has no value and no default.

        A multi-valued key cannot be a variable (IAM says so), so it resolves like an absent one.
        """
        pieces = []
        for part in self.parts:
            if part[0] == "text":
                pieces.append((part[1], True))
            elif part[0] == "literal":
                pieces.append((part[1], False))
            else:
                value = lookup(part[1])
                if value is None or isinstance(value, tuple):
                    if part[2] is None:
                        return None
                    value = part[2]
                pieces.append((as_text(value), False))
        return tuple(pieces)

    def resolve_text(self, lookup: Lookup) -> str | None:
        """The resolved string (for exact comparisons), or None if unresolvable."""
        pieces = self.resolve(lookup)
        return None if pieces is None else "".join(text for text, _ in pieces)

    def resolve_regex(self, lookup: Lookup) -> str | None:
        """The resolved wildcard expression: policy text keeps its wildcards, values do not."""
        pieces = self.resolve(lookup)
        if pieces is None:
            return None
        return "".join(wildcard_to_regex(text) if wild else re.escape(text)
                       for text, wild in pieces)


def parse_template(value: str) -> Template | None:
    """The template of a string holding `${...}`, or None if it holds no variable.

    Raises ValueError (with the offending variable) for a `${...}` that is neither an escape
    nor a condition key; the parser turns it into a PolicyError naming the place.
    """
    if "${" not in value:
        return None
    parts: list[TemplatePart] = []
    position = 0
    for match in _VARIABLE.finditer(value):
        if match.start() > position:
            parts.append(("text", value[position:match.start()]))
        body = match.group(1)
        if body in _ESCAPES:
            parts.append(("literal", _ESCAPES[body]))
        else:
            variable = _VARIABLE_BODY.fullmatch(body)
            if variable is None:
                raise ValueError(f"invalid policy variable {match.group(0)!r}")
            parts.append(("variable", variable.group(1).lower(), variable.group(2)))
        position = match.end()
    if position < len(value):
        parts.append(("text", value[position:]))
    return Template(value, tuple(parts))


# --- pattern lists (Action, NotAction, Resource, NotResource) -----------------------------

class PatternSet:
    """A list of wildcard patterns matched as one: true if any pattern matches the value.

    Plain strings are looked up in a set, wildcard patterns go through one combined expression,
    and templates (patterns with variables) are resolved per request. With ignore_case the
    patterns must already be lower-cased and so must the values given to `matches`.
    """

    __slots__ = ("_exact", "_ignore_case", "_matches_all", "_regex", "_templates", "patterns")

    def __init__(self, patterns: tuple[str, ...], *, ignore_case: bool = False,
                 templates: tuple[Template, ...] = ()):
        self.patterns = patterns
        self._ignore_case = ignore_case
        self._templates = templates
        template_sources = {t.source for t in templates}
        plain = [p for p in patterns if p not in template_sources]
        self._matches_all = "*" in plain
        self._exact = frozenset(p for p in plain if not has_wildcards(p))
        wild = tuple(p for p in plain if has_wildcards(p))
        self._regex = compile_wildcards(wild, ignore_case) if wild else None

    def __repr__(self) -> str:
        return f"PatternSet({self.patterns!r})"

    def matches(self, value: str, lookup: Lookup | None = None) -> bool:
        if self._matches_all or value in self._exact:
            return True
        if self._regex is not None and self._regex.fullmatch(value):
            return True
        for template in self._templates:
            expression = template.resolve_regex(lookup) if lookup is not None else None
            if expression is not None and compile_regex(expression, self._ignore_case).fullmatch(
                    value):
                return True
        return False
