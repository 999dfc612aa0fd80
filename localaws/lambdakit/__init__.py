"""The Lambda-side package, zipped whole into every Lambda: storage, clients, config.

Imports only the standard library and boto3.
"""
