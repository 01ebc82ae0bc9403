"""Default key policies: kept here so existing imports work; they live in grants.policy.defaults.

`api_default_policy` (what CreateKey gives a key without a Policy) and `jackson_dumps` (AWS's
Jackson-style pretty printing of generated policies) moved to the pure policy package, next to
the console's default policy and the parser that reads them back (kms-spec.md section 5.1).
"""

from grants.policy.defaults import api_default_policy, jackson_dumps  # noqa: F401
