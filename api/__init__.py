"""The AWS KMS JSON 1.1 protocol adapter: translation only, no business rules."""
