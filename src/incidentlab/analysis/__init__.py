"""Analysis over the canonical store: timeline, replay integrity, alert rules, classification, redaction."""
