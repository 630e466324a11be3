"""Jido.Code.Server loaders: exported dumps of its in-memory telemetry and conversation events."""
