"""What every script that calls AWS shares: the usage error (exit 2), the signed-in check, the error line."""

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from config import ConfigError, EnvironmentConfig

ClientFactory = Callable[[str], Any]
NO_CREDENTIALS = (
    "no AWS credentials found: log in (aws sso login, or set AWS_PROFILE / AWS_ACCESS_KEY_ID) and run again"
)


class UsageError(Exception):
    """No usable credentials, a wrong account, or something the script needs is missing: exit 2."""


def signed_in(clients: ClientFactory, config: EnvironmentConfig) -> dict[str, str]:
    """The caller's identity, after checking there are credentials, that they work, and for the right account.

    Runs first, so a script fails before any prompt or change instead of halfway.
    """
    try:
        identity: dict[str, str] = clients("sts").get_caller_identity()
    except NoCredentialsError:
        raise UsageError(NO_CREDENTIALS) from None
    except (ClientError, BotoCoreError) as error:
        raise UsageError(f"the AWS credentials do not work in {config.region}: {error}") from None
    if config.account and identity["Account"] != config.account:
        raise UsageError(
            f"the credentials are for account {identity['Account']} but {config.source_file} names account "
            f"{config.account}; switch credentials or fix the file"
        )
    return identity


# What a script reports as a usage problem (exit 2) rather than a traceback.
USAGE_PROBLEMS = (ConfigError, UsageError, NoCredentialsError, ClientError, BotoCoreError)


def usage_problem(error: Exception) -> str:
    """The one line a script prints for one of USAGE_PROBLEMS."""
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, ClientError | BotoCoreError):
        return f"an AWS call failed: {error}. Check the credentials' permissions."
    return str(error)
