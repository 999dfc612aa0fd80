"""Local AWS runtime: an Amazon States Language engine and local Lambda, SageMaker and S3.

The public API is :class:`localaws.runtime.Runtime`; everything else is an implementation
module.  This package never imports ``workflows`` or ``lambdas``: Lambda handlers are
loaded by name in worker processes.
"""

from localaws.runtime import Runtime

__all__ = ["Runtime"]
