"""The KMS service model from botocore drives request parsing, validation and response shapes.

Requests: JSON members are checked against the operation's input shape. A member of the wrong
JSON type or a blob that is not base64 is a SerializationException (the body cannot be read);
a constraint of the model (required, length, range, enum, pattern) that fails is a
ValidationException worded like AWS's (kms-spec.md 1.4), all failures counted in one message.
Members the model does not know are ignored, as AWS does.

Responses: handlers return plain values under the model's member names; `serialize` turns blobs
into base64 and datetimes into epoch seconds, and refuses a member the model does not define.
"""

import base64
import binascii
import datetime
import functools
import re

import botocore.session

from kmsconsole.errors import SerializationError, ValidationError

MAX_REPORTED_VALUE = 256


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("kms")


@functools.cache
def operation_model(name: str):
    return service_model().operation_model(name)


def operation_names() -> list[str]:
    return list(service_model().operation_names)


def lower_camel(name: str) -> str:
    """KeyId -> keyId: AWS's validation messages name members in lowerCamelCase."""
    return name[:1].lower() + name[1:]


@functools.cache
def _pattern(regex: str):
    return re.compile(regex)


# --- requests -------------------------------------------------------------------------------

class _Problems:
    """Collects constraint failures so that the message counts all of them, like AWS's."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, path: str, value, rule: str, *, sensitive: bool) -> None:
        if sensitive:
            shown = "Value"
        elif value is None:
            shown = "Value null"
        else:
            text = value if isinstance(value, str) else str(value)
            if len(text) > MAX_REPORTED_VALUE:
                text = text[:MAX_REPORTED_VALUE] + "..."
            shown = f"Value '{text}'"
        self.items.append(f"{shown} at '{path}' failed to satisfy constraint: Member must {rule}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(self.items))


def parse_request(operation_name: str, body) -> dict:
    """Check `body` (decoded JSON) against the input shape; return it with blobs as bytes and
    timestamps as datetimes."""
    if not isinstance(body, dict):
        raise SerializationError("Start of structure or map found where not expected.")
    problems = _Problems()
    parsed = _parse_structure(operation_model(operation_name).input_shape, body, "", problems)
    problems.raise_if_any()
    return parsed


def _parse_structure(shape, value, path, problems) -> dict:
    if not isinstance(value, dict):
        raise SerializationError(f"Expected a structure at '{path or 'body'}'.")
    parsed = {}
    for name, member in shape.members.items():
        member_path = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
        if value.get(name) is None:
            if name in shape.required_members:
                problems.add(member_path, None, "not be null", sensitive=False)
            continue
        parsed[name] = _parse_value(member, value[name], member_path, problems)
    return parsed


def _parse_value(shape, value, path, problems):
    kind = shape.type_name
    if kind == "structure":
        return _parse_structure(shape, value, path, problems)
    if kind == "list":
        return _parse_list(shape, value, path, problems)
    if kind == "map":
        return _parse_map(shape, value, path, problems)
    if kind == "string":
        return _parse_string(shape, value, path, problems)
    if kind == "blob":
        return _parse_blob(shape, value, path, problems)
    if kind in ("integer", "long"):
        return _parse_integer(shape, value, path, problems)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SerializationError(f"Expected a boolean at '{path}'.")
        return value
    if kind == "timestamp":
        return _parse_timestamp(value, path)
    raise SerializationError(f"Cannot read a value of type {kind} at '{path}'.")


def _check_length(shape, value, path, problems, length: int, shown) -> None:
    sensitive = bool(shape.metadata.get("sensitive"))
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.add(path, shown, f"have length greater than or equal to {low}",
                     sensitive=sensitive)
    if high is not None and length > high:
        problems.add(path, shown, f"have length less than or equal to {high}",
                     sensitive=sensitive)


def _parse_string(shape, value, path, problems) -> str:
    if not isinstance(value, str):
        raise SerializationError(f"Expected a string at '{path}'.")
    _check_length(shape, value, path, problems, len(value), value)
    sensitive = bool(shape.metadata.get("sensitive"))
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.add(path, value, f"satisfy enum value set: [{', '.join(enum)}]",
                     sensitive=sensitive)
    pattern = shape.metadata.get("pattern")
    # AWS matches the whole value (Java's String.matches), so `$` must not accept a final \n.
    if pattern and not _pattern(pattern).fullmatch(value):
        problems.add(path, value, f"satisfy regular expression pattern: {pattern}",
                     sensitive=sensitive)
    return value


def _parse_blob(shape, value, path, problems) -> bytes:
    if not isinstance(value, str):
        raise SerializationError(f"Expected a base64-encoded string at '{path}'.")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationError(f"Value at '{path}' is not valid base64.") from None
    _check_length(shape, decoded, path, problems, len(decoded), None)
    return decoded


def _parse_integer(shape, value, path, problems) -> int:
    # JSON numbers only; a float with a fractional part is not an integer member.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SerializationError(f"Expected a number at '{path}'.")
    if isinstance(value, float):
        if not value.is_integer():
            raise SerializationError(f"Expected an integer at '{path}'.")
        value = int(value)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        problems.add(path, value, f"have value greater than or equal to {low}", sensitive=False)
    if high is not None and value > high:
        problems.add(path, value, f"have value less than or equal to {high}", sensitive=False)
    return value


def _parse_timestamp(value, path) -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SerializationError(f"Expected epoch seconds at '{path}'.")
    try:
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise SerializationError(f"Timestamp at '{path}' is out of range.") from None


def _parse_list(shape, value, path, problems) -> list:
    if not isinstance(value, list):
        raise SerializationError(f"Expected a list at '{path}'.")
    _check_length(shape, value, path, problems, len(value), value)
    return [_parse_value(shape.member, item, f"{path}.{index}.member", problems)
            for index, item in enumerate(value, start=1)]


def _parse_map(shape, value, path, problems) -> dict:
    if not isinstance(value, dict):
        raise SerializationError(f"Expected a map at '{path}'.")
    _check_length(shape, value, path, problems, len(value), value)
    return {_parse_value(shape.key, k, f"{path}.key", problems):
            _parse_value(shape.value, v, f"{path}.value", problems) for k, v in value.items()}


# --- responses ------------------------------------------------------------------------------

def serialize_response(operation_name: str, result: dict | None) -> dict:
    shape = operation_model(operation_name).output_shape
    if shape is None:
        return {}
    return _serialize_structure(shape, result or {})


def _serialize_structure(shape, value: dict) -> dict:
    # None means "absent": AWS omits optional members rather than sending null.
    present = {name: item for name, item in value.items() if item is not None}
    unknown = set(present) - set(shape.members)
    if unknown:
        raise ValueError(f"{shape.name} has no member(s) {sorted(unknown)}")
    return {name: _serialize_value(shape.members[name], item) for name, item in present.items()}


def _serialize_value(shape, value):
    kind = shape.type_name
    if kind == "structure":
        return _serialize_structure(shape, value)
    if kind == "list":
        return [_serialize_value(shape.member, item) for item in value]
    if kind == "map":
        return {k: _serialize_value(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp":
        return round(value.timestamp(), 3)
    return value
