from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from components.workload_access import ExternallySetSecret, GeneratedApiKey
from config.secrets import API_KEY_FILE, HF_TOKEN_FILE
from functions.guards.secrets import PLACEHOLDER


class SecretsStack(Stack):
    """The environment's secrets, created before anything that mounts them, with no value in any template.

    Its own stack so that `make secrets` can create them (in a minute) and have a person fill them in
    before the slow deploy starts, and so that redeploying the workloads never regenerates the api key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hf_token_name: str,
        api_key_name: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        self.secrets[HF_TOKEN_FILE] = ExternallySetSecret(
            self,
            "HuggingFaceToken",
            secret_name=hf_token_name,
            description="Hugging Face access token for gated models; set it with make secrets",
            rotation_reason="a Hugging Face token is rotated at Hugging Face; a rotation Lambda cannot mint one",
            placeholder=PLACEHOLDER,
        ).secret
        if api_key_name:
            self.secrets[API_KEY_FILE] = GeneratedApiKey(self, "ApiKey", secret_name=api_key_name).secret
        for name, secret in self.secrets.items():
            CfnOutput(self, f"{name.title().replace('-', '')}SecretName", value=secret.secret_name)
