"""Pure functions: parsed objects in, manifests and status out. No I/O here."""
