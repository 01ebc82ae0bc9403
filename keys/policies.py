"""Default key policies (kms-spec.md section 5.1), printed the way AWS prints them.

GetKeyPolicy returns a policy string as stored; AWS's generated defaults are pretty-printed in
Jackson's style (`"Key" : value`, two-space indent, `[ {` ... `} ]`), so ours are too.
"""

import json


def jackson_dumps(value, indent: int = 0) -> str:
    """Serialise like Jackson's default pretty printer, which AWS uses for generated policies."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        members = [f"{inner}{json.dumps(k)} : {jackson_dumps(v, indent + 1)}"
                   for k, v in value.items()]
        return "{\n" + ",\n".join(members) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        # Jackson keeps array items on the bracket's line, separated by ", ".
        return "[ " + ", ".join(jackson_dumps(item, indent) for item in value) + " ]"
    return json.dumps(value)


def api_default_policy(account_id: str) -> str:
    """The policy CreateKey gives a key when the request has no Policy."""
    return jackson_dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
