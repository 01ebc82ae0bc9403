"""Reading a seed file's text: YAML or JSON in, plain Python data out; and the small helpers
every step of checking uses to report a problem with its path (`accounts[0].users[1].name`).

Policy documents are read here too, since they are text inside the text: a mapping (written as
YAML) or a JSON string, checked up front by grants.policy (or, for a key policy, by the key
services' own validator) so that a malformed one stops the whole file before anything is written.
"""

import json
import math
from dataclasses import dataclass

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError

from grants.policy.document import parse_policy
from grants.policy.errors import PolicyError
from keys import validation as key_validation
from kmsconsole.errors import KmsError


class SeedError(Exception):
    """A seed file that cannot be applied; `problems` lists each one as `path: what is wrong`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- text -> data ---------------------------------------------------------------------------

def parse(text: str):
    """The file's data; JSON first when it looks like JSON (tabs are not YAML indentation)."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except ValueError:
            pass  # a YAML flow mapping, or broken: YAML reports where
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as error:
        # Built by hand: PyYAML's own message quotes the offending line, which may hold a secret.
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "; ".join(part for part in (error.context, error.problem) if part)
        raise SeedError([f"{where}not valid YAML: {what}"]) from None
    except yaml.YAMLError:
        raise SeedError(["not valid YAML"]) from None


def _json_object(pairs):
    result = {}
    for name, value in pairs:
        if name in result:
            raise SeedError([f"duplicate key {name!r}"])
        result[name] = value
    return result


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (YAML would silently keep the last)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        name = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = name in seen
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {name!r}", key_node.start_mark)
        seen.add(name)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --- problems and shapes --------------------------------------------------------------------

class Problems(list):
    """Every problem of a file, as `path: what is wrong` lines."""

    def add(self, path: str, message: str) -> None:
        self.append(f"{path or '(file)'}: {message}")


def join(path: str, name) -> str:
    return f"{path}.{name}" if path else str(name)


def fields(data, path: str, allowed: set[str], problems: Problems) -> dict | None:
    """`data` as a mapping with only `allowed` fields (unknown fields are problems)."""
    if not isinstance(data, dict):
        problems.add(path, f"expected a mapping, got {type_name(data)}")
        return None
    for name in data:
        if name not in allowed:
            problems.add(join(path, name), "unknown key")
    return data


def type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__)


def string(data: dict, name: str, path: str, problems: Problems, *, required=False,
           secret=False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            problems.add(join(path, name), "required")
        return None
    if not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, (int, float, bool)) and not secret else ""
        problems.add(join(path, name), f"expected a string, got {type_name(value)}{hint}")
        return None
    return value


def listed(data: dict, name: str, path: str, problems: Problems) -> list:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(join(path, name), f"expected a list, got {type_name(value)}")
        return []
    return value


def valid(validator, value: str) -> bool:
    try:
        validator(value)
    except DjangoValidationError:
        return False
    return True


def kms_check(problems: Problems, path: str, check, *args, **kwargs) -> None:
    """Run one of the services' own validators, turning its AWS error into a problem."""
    try:
        check(*args, **kwargs)
    except KmsError as error:
        problems.add(path, error.message)


# --- policy documents -----------------------------------------------------------------------

@dataclass
class PolicyDocument:
    """A policy document of the file: `text` is what the services receive and store;
    `canonical` serves to compare it with a stored one (white space and member order do not
    make a change, so re-applying a file whose stored documents read the same changes nothing);
    `principals` are the principal ARNs it names (trust and key policies)."""

    text: str
    canonical: str
    principals: frozenset[str]

    def same_as(self, stored: str | None) -> bool:
        return stored is not None and _canonical(stored) == self.canonical


def _canonical(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    # sort_keys: member order is not a change; json keeps true and 1 apart (Python would not).
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def policy_document(value, path: str, problems: Problems, *, kind: str,
                    max_size: int) -> PolicyDocument | None:
    """The policy document at `path` (a mapping, or JSON text), checked as `kind` ("identity",
    "trust" or "key"); None, with the parser's message as a problem, if it is not valid."""
    if isinstance(value, dict):
        if not _json_value(value, path, problems):
            return None
        text = json.dumps(value, indent=4, allow_nan=False)
    elif isinstance(value, str):
        text = value
    else:
        problems.add(path, f"expected a policy document (a mapping, or JSON text), got "
                           f"{type_name(value)}")
        return None
    try:
        if kind == "key":
            # The key services' own check: the model's characters, the 32 KB quota, the parser.
            parsed = key_validation.validate_policy_text(text)
        else:
            parsed = parse_policy(text, kind=kind, max_size=max_size)
    except (PolicyError, KmsError) as error:
        problems.add(path, error.message)
        return None
    return PolicyDocument(text, _canonical(text), parsed.named_principals())


def _json_value(value, path: str, problems: Problems) -> bool:
    """Whether YAML's `value` is plain JSON; YAML also makes dates (Version: 2012-10-17
    unquoted) and other types a policy cannot hold."""
    if isinstance(value, dict):
        ok = True
        for name, item in value.items():
            if not isinstance(name, str):
                problems.add(join(path, name), "member names are strings (quote it)")
                ok = False
            elif not _json_value(item, join(path, name), problems):
                ok = False
        return ok
    if isinstance(value, list):
        results = [_json_value(item, f"{path}[{index}]", problems)
                   for index, item in enumerate(value)]
        return all(results)
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(path, "not a JSON number")
        return False
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    problems.add(path, f"expected a string, number, true/false, list or mapping, got "
                       f"{type_name(value)} (quote it)")
    return False
