"""jaxgan tests."""
