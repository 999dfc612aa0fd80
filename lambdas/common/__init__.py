"""Helpers shared by the predictive-maintenance Lambdas (shipped in every function's zip)."""
