"""claude-flow (ruvnet/claude-flow) multi-agent swarms: the hive-mind coordination database."""
