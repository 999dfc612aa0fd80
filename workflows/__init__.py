"""The predictive-maintenance workflow: builder, configuration, local runs and the CLI."""
