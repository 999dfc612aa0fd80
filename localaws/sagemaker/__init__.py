"""The local SageMaker: API backend, training, processing, hosting and batch transform.

``backend.SageMakerBackend`` is the entry point (``Runtime.sagemaker``); requests are
validated by :mod:`localaws.botocore_model` against botocore's SageMaker model; jobs run in worker processes
(``training``, ``xgboost_algorithm``, ``script_mode``, ``processing``); endpoints and batch
transform live in ``hosting`` and ``transform``.
"""
