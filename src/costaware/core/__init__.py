"""Pure core: no SDK, no OpenTelemetry, no I/O."""
