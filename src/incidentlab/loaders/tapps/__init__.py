"""TappsCodingAgents loaders: one per artifact under `.tapps-agents/`."""
