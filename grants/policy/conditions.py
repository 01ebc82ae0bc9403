"""Condition operators (kms-spec.md 5.2): compiled when a policy is parsed, tested per request.

A Condition element `{operator: {key: value | [values]}}` becomes one `Condition` per
(operator, key) pair. Policy values are parsed and compiled once (numbers, dates, CIDR blocks,
base64, wildcard expressions); a request only looks its value up and compares.

AWS semantics followed here (IAM User Guide, "Condition operators" and "Conditions with multiple
context keys or values"):

- Operators are AND'ed, keys within one operator are AND'ed, the values listed for one key are
  OR'ed; for a negated operator (StringNotEquals, NotIpAddress, ...) they are NOR'ed: the
  condition holds when the request value matches none of them.
- A key absent from the request makes the condition false, except that ...IfExists operators
  hold, Null tests presence itself, and negated operators hold (IAM: "If the policy condition
  requires that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is
  not present, the condition is true"). So a Deny with StringNotEquals on an absent key applies.
- Set qualifiers for multi-valued keys: ForAllValues holds when every request value satisfies the
  operator, and also when the key is absent or empty (IAM: "it also returns true if there are no
  context keys in the request"); ForAnyValue needs at least one and is false when the key is
  absent (true with IfExists).
- A multi-valued request key tested without a qualifier: a positive operator holds when any
  request value matches, a negated one when none does. IAM leaves this case undefined and warns
  against it; this is the reading under which Allow and Deny both stay as strict as written.
- Condition key names are case-insensitive (callers look them up lower-cased); values are
  case-sensitive unless the operator ends in IgnoreCase. That includes
  kms:EncryptionContext:<context-key>: the KMS guide says the whole condition key, context-key
  included, is not case-sensitive, while the value's case follows the operator.
- Policy variables (`${aws:username}`) are supported in String* and Arn* values of 2012-10-17
  policies. A variable whose key the request lacks (and that has no default) makes the
  condition false, whatever the operator.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import json
import math
import operator as op
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import PolicyError
from .patterns import (
    Lookup,
    Template,
    as_text,
    compile_regex,
    compile_wildcards,
    parse_template,
    wildcard_to_regex,
)

__all__ = [
    "BASE_OPERATORS",
    "Condition",
    "compile_conditions",
    "parse_operator",
]

FOR_ANY_VALUE = "ForAnyValue"
FOR_ALL_VALUES = "ForAllValues"
IF_EXISTS = "IfExists"
NULL = "Null"


# --- policy values --------------------------------------------------------------------------

def _policy_text(value) -> str:
    """A JSON policy value as the string AWS compares: true -> "true", 10 -> "10"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _template(text: str, where: str, allow_variables: bool) -> Template | None:
    if not allow_variables:
        return None  # 2008-10-17 (or no Version): ${...} is literal text, as in IAM
    try:
        return parse_template(text)
    except ValueError as error:
        raise PolicyError(f"{where}: {error}") from None


def _to_number(value) -> int | float | None:
    if isinstance(value, bool):
        return None  # a JSON true is not the number 1 here
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            return number if math.isfinite(number) else None
    return None


def _to_datetime(value) -> datetime.datetime | None:
    """ISO-8601 (date, or date and time with Z or an offset) or epoch seconds, as UTC."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        number = _to_number(value)
        if number is not None:
            try:
                return datetime.datetime.fromtimestamp(number, datetime.UTC)
            except (OverflowError, OSError, ValueError):
                return None
        if not isinstance(value, str):
            return None
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def _to_bytes(value) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _to_ip(value):
    return _parse_ip(as_text(value))


@lru_cache(maxsize=4096)
def _parse_ip(text: str):
    # Cached: parsing costs more than the rest of a condition, and a client's address recurs
    # from request to request.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split_outside_variables(text: str, maxsplit: int) -> list[str]:
    """text.split(":", maxsplit), except that colons inside ${...} do not split."""
    parts, start, depth = [], 0, 0
    for position, char in enumerate(text):
        if char == "{" and text[position - 1:position] == "$":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth and len(parts) < maxsplit:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


# --- operator families ----------------------------------------------------------------------
# Each family compiles the policy values of one key (`compile`), resolves the policy variables
# in them for one request (`resolve`, None when a variable has no value) and tells whether one
# request value matches any of them (`match`, always in the positive sense: negation is applied
# by Condition).

@dataclass(frozen=True)
class _Compiled:
    static: object
    templates: tuple = ()


class _StringEquals:
    def __init__(self, ignore_case: bool):
        self.ignore_case = ignore_case

    def _fold(self, text: str) -> str:
        return text.lower() if self.ignore_case else text

    def compile(self, values, where, allow_variables):
        static, templates = set(), []
        for value in values:
            text = _policy_text(value)
            template = _template(text, where, allow_variables)
            if template is not None:
                templates.append(template)
            else:
                static.add(self._fold(text))
        return _Compiled(frozenset(static), tuple(templates))

    def resolve(self, compiled, lookup):
        if not compiled.templates:
            return compiled.static
        resolved = set(compiled.static)
        for template in compiled.templates:
            text = template.resolve_text(lookup)
            if text is None:
                return None
            resolved.add(self._fold(text))
        return resolved

    def match(self, value, resolved) -> bool:
        return self._fold(as_text(value)) in resolved


class _StringLike:
    def compile(self, values, where, allow_variables):
        static, templates = [], []
        for value in values:
            text = _policy_text(value)
            template = _template(text, where, allow_variables)
            if template is not None:
                templates.append(template)
            else:
                static.append(text)
        regex = compile_wildcards(tuple(static)) if static else None
        return _Compiled((regex, tuple(static)), tuple(templates))

    def resolve(self, compiled, lookup):
        regex, static = compiled.static
        if not compiled.templates:
            return regex
        expressions = [wildcard_to_regex(pattern) for pattern in static]
        for template in compiled.templates:
            expression = template.resolve_regex(lookup)
            if expression is None:
                return None
            expressions.append(expression)
        return compile_regex("|".join(f"(?:{e})" for e in expressions))

    def match(self, value, resolved) -> bool:
        return resolved.fullmatch(as_text(value)) is not None


class _Ordered:
    """Numeric* and Date*: the request value converted, then compared with each policy value."""

    def __init__(self, convert, compare, what: str):
        self.convert = convert
        self.compare = compare
        self.what = what

    def compile(self, values, where, allow_variables):
        converted = []
        for value in values:
            result = self.convert(value)
            if result is None:
                raise PolicyError(f"{where}: {json.dumps(value)} is not {self.what}")
            converted.append(result)
        return _Compiled(tuple(converted))

    def resolve(self, compiled, lookup):
        return compiled.static

    def match(self, value, resolved) -> bool:
        converted = self.convert(value)
        if converted is None:
            return False
        compare = self.compare
        return any(compare(converted, wanted) for wanted in resolved)


class _Bool:
    def compile(self, values, where, allow_variables):
        texts = set()
        for value in values:
            text = _policy_text(value).lower()
            if text not in ("true", "false"):
                raise PolicyError(f"{where}: {json.dumps(value)} is not true or false")
            texts.add(text)
        return _Compiled(frozenset(texts))

    def resolve(self, compiled, lookup):
        return compiled.static

    def match(self, value, resolved) -> bool:
        return as_text(value).lower() in resolved


class _Binary:
    def compile(self, values, where, allow_variables):
        decoded = set()
        for value in values:
            raw = _to_bytes(value) if isinstance(value, str) else None
            if raw is None:
                raise PolicyError(f"{where}: {json.dumps(value)} is not base64")
            decoded.add(raw)
        return _Compiled(frozenset(decoded))

    def resolve(self, compiled, lookup):
        return compiled.static

    def match(self, value, resolved) -> bool:
        return _to_bytes(value) in resolved


class _IpAddress:
    def compile(self, values, where, allow_variables):
        networks = []
        for value in values:
            try:
                networks.append(ipaddress.ip_network(_policy_text(value), strict=False))
            except ValueError:
                raise PolicyError(
                    f"{where}: {json.dumps(value)} is not an IP address or CIDR block") from None
        return _Compiled(tuple(networks))

    def resolve(self, compiled, lookup):
        return compiled.static

    def match(self, value, resolved) -> bool:
        address = _to_ip(value)
        # An IPv4 address is simply not in an IPv6 block (and the reverse): `in` says False.
        return address is not None and any(address in network for network in resolved)


class _Arn:
    """ArnEquals/ArnLike (identical in AWS): each of the six components matched on its own, so
    a wildcard never reaches across a colon into the next component. A policy value that is not
    shaped like an ARN (for example "*") is matched against the whole request value."""

    def compile(self, values, where, allow_variables):
        patterns, templates = [], []
        for value in values:
            text = _policy_text(value)
            components = _split_outside_variables(text, 5)
            if len(components) != 6 or components[0] != "arn":
                components = [text]
            compiled = tuple(_template(c, where, allow_variables) or c for c in components)
            if any(isinstance(c, Template) for c in compiled):
                templates.append(compiled)
            else:
                patterns.append(tuple(compile_wildcards((c,)) for c in compiled))
        return _Compiled(tuple(patterns), tuple(templates))

    def resolve(self, compiled, lookup):
        if not compiled.templates:
            return compiled.static
        resolved = list(compiled.static)
        for components in compiled.templates:
            regexes = []
            for component in components:
                if isinstance(component, Template):
                    expression = component.resolve_regex(lookup)
                    if expression is None:
                        return None
                    regexes.append(compile_regex(expression))
                else:
                    regexes.append(compile_wildcards((component,)))
            resolved.append(tuple(regexes))
        return resolved

    def match(self, value, resolved) -> bool:
        text = as_text(value)
        components = text.split(":", 5)
        for pattern in resolved:
            if len(pattern) == 1:
                if pattern[0].fullmatch(text):
                    return True
            elif len(components) == 6 and all(
                    regex.fullmatch(part) for regex, part in zip(pattern, components, strict=True)):
                return True
        return False


_STRING = _StringEquals(ignore_case=False)
_STRING_IGNORE_CASE = _StringEquals(ignore_case=True)
_STRING_LIKE = _StringLike()
_ARN = _Arn()


def _numeric(compare):
    return _Ordered(_to_number, compare, "a number")


def _date(compare):
    return _Ordered(_to_datetime, compare, "an ISO-8601 date or epoch seconds")


# operator -> (family, negated). Null is handled by Condition itself.
BASE_OPERATORS: dict[str, tuple[object, bool]] = {
    "StringEquals": (_STRING, False),
    "StringNotEquals": (_STRING, True),
    "StringEqualsIgnoreCase": (_STRING_IGNORE_CASE, False),
    "StringNotEqualsIgnoreCase": (_STRING_IGNORE_CASE, True),
    "StringLike": (_STRING_LIKE, False),
    "StringNotLike": (_STRING_LIKE, True),
    "NumericEquals": (_numeric(op.eq), False),
    "NumericNotEquals": (_numeric(op.eq), True),
    "NumericLessThan": (_numeric(op.lt), False),
    "NumericLessThanEquals": (_numeric(op.le), False),
    "NumericGreaterThan": (_numeric(op.gt), False),
    "NumericGreaterThanEquals": (_numeric(op.ge), False),
    "DateEquals": (_date(op.eq), False),
    "DateNotEquals": (_date(op.eq), True),
    "DateLessThan": (_date(op.lt), False),
    "DateLessThanEquals": (_date(op.le), False),
    "DateGreaterThan": (_date(op.gt), False),
    "DateGreaterThanEquals": (_date(op.ge), False),
    "Bool": (_Bool(), False),
    "BinaryEquals": (_Binary(), False),
    "IpAddress": (_IpAddress(), False),
    "NotIpAddress": (_IpAddress(), True),
    "ArnEquals": (_ARN, False),
    "ArnLike": (_ARN, False),
    "ArnNotEquals": (_ARN, True),
    "ArnNotLike": (_ARN, True),
    NULL: (None, False),
}
_CANONICAL = {name.lower(): name for name in BASE_OPERATORS}
_QUALIFIERS = {FOR_ANY_VALUE.lower(): FOR_ANY_VALUE, FOR_ALL_VALUES.lower(): FOR_ALL_VALUES}


def parse_operator(name: str) -> tuple[str | None, str, bool] | None:
    """(set qualifier, base operator, IfExists) of an operator name, or None if unknown.

    Names are matched regardless of case and given back in AWS's spelling; Null takes neither
    IfExists nor a set qualifier (IAM: IfExists applies to every operator except Null).
    """
    qualifier = None
    base = name
    if ":" in name:
        prefix, base = name.split(":", 1)
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            return None
    if_exists = base.lower().endswith(IF_EXISTS.lower()) and base.lower() != NULL.lower()
    if if_exists:
        base = base[:-len(IF_EXISTS)]
    canonical = _CANONICAL.get(base.lower())
    if canonical is None or (canonical == NULL and (if_exists or qualifier)):
        return None
    return qualifier, canonical, if_exists


# --- conditions -----------------------------------------------------------------------------

def _render(value) -> str:
    """A value as JSON would print it: strings quoted, numbers and booleans bare."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(as_text(value))


@dataclass(frozen=True)
class Condition:
    """One (operator, key) pair of a Condition element, with its values compiled."""

    operator: str            # as AWS spells it, e.g. "ForAnyValue:StringEqualsIfExists"
    key: str                 # as written in the policy, e.g. "kms:EncryptionContext:tenant"
    values: tuple            # as written (JSON scalars), for explanations
    base: str                # e.g. "StringEquals"
    qualifier: str | None    # "ForAnyValue", "ForAllValues" or None
    if_exists: bool
    negated: bool
    key_lower: str = field(repr=False)
    _family: object = field(repr=False, compare=False)
    _compiled: object = field(repr=False, compare=False)

    def holds(self, lookup: Lookup) -> bool:
        """Whether the request (`lookup`: lower-cased key -> value or None) satisfies it."""
        value = lookup(self.key_lower)
        present = value is not None and value != ()
        if self._family is None:  # Null: true wants the key absent, false wants it present
            return any(wants_absent != present for wants_absent in self._compiled)
        if not present:
            if self.qualifier == FOR_ALL_VALUES:
                return True
            if self.qualifier == FOR_ANY_VALUE:
                return self.if_exists
            return self.if_exists or self.negated
        resolved = self._family.resolve(self._compiled, lookup)
        if resolved is None:
            return False
        match = self._family.match
        negated = self.negated
        if isinstance(value, tuple):
            if self.qualifier == FOR_ALL_VALUES:
                return all(match(item, resolved) != negated for item in value)
            if self.qualifier == FOR_ANY_VALUE:
                return any(match(item, resolved) != negated for item in value)
            return any(match(item, resolved) for item in value) != negated
        return match(value, resolved) != negated

    def explain_failure(self, lookup: Lookup) -> str:
        """Why `holds` is false for this request, in a sentence an administrator can act on."""
        head = f"{self.operator} {self.key}"
        value = lookup(self.key_lower)
        present = value is not None and value != ()
        if self._family is None:
            wanted = "absent" if True in self._compiled else "present"
            actual = "present" if present else "absent"
            return f"{head}: key {self.key} is {actual}, policy wants it {wanted}"
        if not present:
            return f"{head}: key {self.key} is absent"
        if self._family.resolve(self._compiled, lookup) is None:
            return (f"{head}: a policy variable in {_render(self.values)} has no value in the "
                    "request")
        wants = "none of " if self.negated else ""
        if self.qualifier == FOR_ALL_VALUES:
            wants = "every value to be " + ("none of " if self.negated else "one of ")
        return f"{head}: request has {_render(value)}, policy wants {wants}{_render(self.values)}"


def _condition_values(raw, where: str) -> tuple:
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        # An empty list would make a positive operator never hold and a negated one always
        # hold: almost certainly a mistake, and one that silently widens a NotEquals Allow.
        raise PolicyError(f"{where}: must have at least one value")
    for value in values:
        if value is None or not isinstance(value, str | bool | int | float):
            raise PolicyError(
                f"{where}: values must be strings, numbers or booleans, not {json.dumps(value)}")
    return tuple(values)


def _null_values(values: tuple, where: str) -> tuple[bool, ...]:
    wants = []
    for value in values:
        text = _policy_text(value).lower()
        if text not in ("true", "false"):
            raise PolicyError(f"{where}: Null takes true or false, not {json.dumps(value)}")
        wants.append(text == "true")
    return tuple(wants)


def compile_conditions(block, *, where: str, allow_variables: bool,
                       forbid_sets_on_single_valued: bool = False) -> tuple[Condition, ...]:
    """The Conditions of a statement's Condition element; PolicyError names what is wrong.

    `where` is the element's path ("Statement[2].Condition"). With
    `forbid_sets_on_single_valued` (key policies), a set qualifier on
    kms:EncryptionContext:<context-key> is refused, as KMS refuses it with
    OverlyPermissiveCondition: on that single-valued key ForAllValues lets through requests with
    no encryption context at all.
    """
    if not isinstance(block, dict):
        raise PolicyError(f"{where}: must be an object of {{operator: {{key: value}}}}")
    conditions = []
    for operator_name, body in block.items():
        parsed = parse_operator(operator_name)
        if parsed is None:
            raise PolicyError(f"{where}: unknown condition operator {operator_name!r}")
        qualifier, base, if_exists = parsed
        canonical = (f"{qualifier}:" if qualifier else "") + base + (IF_EXISTS if if_exists else "")
        operator_where = f"{where}.{operator_name}"
        if not isinstance(body, dict) or not body:
            raise PolicyError(f"{operator_where}: must be a non-empty object of {{key: value}}")
        family, negated = BASE_OPERATORS[base]
        for key, raw in body.items():
            key_where = f"{operator_where}.{key}"
            if not isinstance(key, str) or ":" not in key.strip(":"):
                raise PolicyError(f"{key_where}: condition keys must be prefaced by a vendor, "
                                  "e.g. aws:SourceIp or kms:ViaService")
            values = _condition_values(raw, key_where)
            key_lower = key.lower()
            if (forbid_sets_on_single_valued and qualifier
                    and key_lower.startswith("kms:encryptioncontext:")):
                raise PolicyError(
                    f"{key_where}: OverlyPermissiveCondition: {qualifier} cannot be used with "
                    "the single-valued key kms:EncryptionContext:<context-key>")
            if family is None:
                compiled = _null_values(values, key_where)
            else:
                compiled = family.compile(values, key_where, allow_variables)
            conditions.append(Condition(
                operator=canonical, key=key, values=values, base=base, qualifier=qualifier,
                if_exists=if_exists, negated=negated, key_lower=key_lower, _family=family,
                _compiled=compiled))
    return tuple(conditions)
