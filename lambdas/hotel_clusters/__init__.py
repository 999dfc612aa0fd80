"""The Lambdas of the hotel-cluster use case: ingestion, training set, streaming inference."""
