"""Errors of the tables room, importable without Spark (the CLI reports them in one line)."""


class TableCommitError(RuntimeError):
    """A write cannot be committed (incompatible schema, a lost race); the message names table and cause."""
