"""Who may do what: accounts, IAM users and roles, identity policies, KMS grants, and
`grants.authorization.authorize()`. (Nothing is imported here: grants.policy must stay
importable without Django.)"""
