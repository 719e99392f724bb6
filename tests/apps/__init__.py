"""Function apps used only by tests."""
