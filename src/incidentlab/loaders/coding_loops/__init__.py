"""coding-loops loaders: coordination.db, loop state files, loop and unified transcripts."""
