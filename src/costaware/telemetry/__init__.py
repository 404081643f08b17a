"""Consumers of a finished call: :mod:`.emit` turns a ``CallOutcome`` into spans and metric points,
:mod:`.metrics` holds the instruments, :mod:`.prometheus` serves them for scraping."""
