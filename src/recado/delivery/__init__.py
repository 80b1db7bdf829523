"""Getting accepted messages to carriers exactly once, and bringing their outcomes back."""
