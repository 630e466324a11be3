"""CodingBuddy loaders: one per artifact under `.codingbuddy/` (or the legacy `.deepseek/`)."""
