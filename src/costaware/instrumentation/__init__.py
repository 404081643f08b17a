"""How SDK methods are reached: ``instrument()`` / ``configure()`` (api), the patch registry
(patching), the wrapt wrappers that are the pipeline's entrances (wrappers), and the
``opentelemetry-instrument`` entry point (instrumentor)."""
