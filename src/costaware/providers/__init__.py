"""Provider adapters: the only modules that know the SDKs' shapes (and never import them eagerly)."""
