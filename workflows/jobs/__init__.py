"""Scripts SageMaker jobs run (uploaded as the job's code); each is also importable."""
