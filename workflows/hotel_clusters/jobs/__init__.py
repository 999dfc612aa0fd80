"""Scripts the hotel-cluster use case runs as SageMaker processing jobs (uploaded as code)."""
