"""`certsoar serve`: the HTTP service (alerts, runs, decisions, the approval page, Slack)."""
