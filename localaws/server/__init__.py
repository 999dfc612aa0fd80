"""The local server: AWS-compatible HTTP APIs and the web console over one Runtime."""
