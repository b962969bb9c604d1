"""Deploy-time guards and the checks they share with the scripts (preflight, deploy pre-check, secrets).

Runs in the Lambda Python runtime as-is: standard library and boto3 only, relative imports only,
so the same files import as `guards.*` inside Lambda and as `functions.guards.*` from the repo.
"""
