"""The audit trail: one CloudTrail-shaped event per request, written by the one door."""
