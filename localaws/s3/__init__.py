"""S3: the object store (buckets, objects, multipart uploads), without HTTP."""
