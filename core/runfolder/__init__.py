"""The run folder: the schema of its files, crash-safe io, the lock, the writer,
the incremental reader and stopping a run. Needs no torch but to load a checkpoint."""
