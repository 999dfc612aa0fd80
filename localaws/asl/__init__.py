"""The Amazon States Language engine."""
