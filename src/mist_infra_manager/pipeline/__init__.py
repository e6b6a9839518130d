"""One run of the tool, the daemon loop around it, and the demo."""
