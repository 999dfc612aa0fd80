"""DynamoDB, served by moto behind the local server (see backend.py)."""
