"""The hotel-cluster use case (issue 18): feature store, Athena training set, XGBoost,
streaming inference through Kinesis, lineage and feature monitoring.  See docs/architecture.md."""
