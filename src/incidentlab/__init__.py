"""incidentlab: post-incident forensics for AI coding-agent systems."""

__version__ = "0.1.0"
