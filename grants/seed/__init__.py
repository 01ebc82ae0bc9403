"""Seed files: declare accounts, users, passwords, access keys, customer managed policies,
inline policies, roles, keys (with their key policies), aliases and tags.

The format is design.md's "Seed file format" (YAML; JSON is YAML too); the shape of what it
leaves open (`accounts[].policies`) is in README.md and examples/seed.yaml. A file is applied in
steps inside one transaction: `parse` (text -> data, grants.seed.parsing), `plan` (check the
shape, policy documents included, in grants.seed.reading, then the database in
grants.seed.matching, collecting every problem; nothing is written) and `apply` (create or
change what differs, through the services as the operator, grants.seed.applying). A file with
any problem changes nothing; a file applied twice changes nothing the second time.

How existing things are recognised (their natural keys):
- an account by its id; a user by its name in the account; an access key by its id (it must
  belong to the same user and have the same secret: a secret cannot be changed);
- a customer managed policy and a role by their name in the account (IAM: regardless of case);
  an inline policy by its name in its user or role; an attached policy by its ARN;
- a key with an alias by that alias in the key's account and region (the key it points at must
  have the declared spec and usage);
- a key without alias by (description, spec, usage) among the customer managed keys of the
  account and region that have no alias and are not pending deletion: none -> it is created,
  exactly one -> it is that key, several -> error (give the entry an alias).
The seed only creates and changes: what exists but is not in the file is left alone (a policy
attached but not listed stays attached; an inline policy not listed stays). Changes it applies
to existing things: a user's password, a key's description (keys with an alias), tag values, a
key's policy, a role's trust policy, an inline policy's document and a customer managed
policy's document (a new default version; the oldest other version is deleted first when IAM's
5 are kept). Documents are compared as JSON, so white space and member order are no change.
Anything else that differs is an error rather than a silent rewrite.
"""

from django.db import transaction

from .applying import apply
from .entries import AccountEntry
from .matching import match_accounts
from .parsing import Problems, SeedError, parse
from .reading import check_duplicates, read_document

__all__ = ["SeedError", "apply", "parse", "plan", "seed"]


def seed(text: str) -> list[str]:
    """Apply a seed file's text in one transaction; one line per change, [] if nothing changed.

    Raises SeedError (nothing applied) if the file has any problem.
    """
    document = parse(text)
    with transaction.atomic():
        accounts = plan(document)
        return apply(accounts)


def plan(document) -> list[AccountEntry]:
    """Check the whole file against the format and the database; raise SeedError listing every
    problem, or return the entries annotated with the existing objects they name."""
    problems = Problems()
    accounts = read_document(document, problems)
    if not problems:
        # The database checks assume a well-formed file.
        check_duplicates(accounts, problems)
    if not problems:
        match_accounts(accounts, problems)
    if problems:
        raise SeedError(list(problems))
    return accounts
