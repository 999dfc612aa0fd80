"""The part of AWS Glue's ``awsglue`` library a Python shell job uses, for local runs.

Only :func:`awsglue.utils.getResolvedOptions` is provided (``GlueContext`` and the other
Spark helpers are AWS's and not reproduced).
"""
