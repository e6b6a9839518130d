"""State on disk: atomic file I/O, history and retention, run lock, heartbeat, state paths."""
