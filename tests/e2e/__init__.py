"""End-to-end scenarios, named by the behaviour a user sees: commands over the shared photos,
subprocesses, DDP, signals, timings under load."""
