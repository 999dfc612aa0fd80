"""Step Functions: the API backend, its persistence, the execution runner and integrations."""
