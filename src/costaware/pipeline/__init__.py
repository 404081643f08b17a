"""One call, in order: :mod:`.call` orders its steps (prepare, reserve, send, observe, settle, outcome),
:mod:`.drive` runs them in a thread or an event loop, :mod:`.streams` finishes streamed and raw calls
exactly once, :mod:`.runtime` holds what ``configure()`` set up."""
