"""Loaders for the transcripts of widely used coding agents (one module per format)."""
