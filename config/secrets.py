"""Which secrets an environment has, decided once: the stacks create them, the vLLM chart mounts them,
and the deploy guard, `make secrets` and the deploy pre-check check the ones a person must set.
"""

from config.images import PULL_THROUGH_UPSTREAMS
from config.model import EnvironmentConfig
from config.versions import IMAGES
from functions.guards.secrets import DOCKER_HUB, HF_TOKEN, SecretSpec

# File names under the vLLM pod's secrets mount.
HF_TOKEN_FILE = "hf-token"
API_KEY_FILE = "api-key"


def set_command(config: EnvironmentConfig) -> str:
    return f"make secrets ENV={config.name}"


def pull_through_secret_name(prefix: str) -> str:
    """ECR requires this name for the upstream credentials of a pull-through cache rule."""
    return f"ecr-pullthroughcache/{prefix}"


def mounted_secrets(config: EnvironmentConfig) -> dict[str, str]:
    """File name under the vLLM pod's secrets mount -> Secrets Manager name, for what this environment needs."""
    secrets = {}
    if any(model.gated for model in config.models):
        secrets[HF_TOKEN_FILE] = config.hf_token_secret_name
    if config.exposure.api_key:
        secrets[API_KEY_FILE] = config.api_key_secret_name
    return secrets


def human_secrets(config: EnvironmentConfig) -> list[SecretSpec]:
    """The secrets a person must set before the model servers can start: nothing else can supply them."""
    command = set_command(config)
    specs = []
    if any(model.gated for model in config.models):
        specs.append(
            SecretSpec(
                config.hf_token_secret_name,
                HF_TOKEN,
                "the Hugging Face token vLLM downloads gated models with",
                command,
            )
        )
    if config.mirror_images:
        registries = sorted({image.registry for image in IMAGES.values() if image.mirror_prefix})
        specs += [
            SecretSpec(
                pull_through_secret_name(PULL_THROUGH_UPSTREAMS[registry][0]),
                DOCKER_HUB,
                f"the {registry} credentials ECR's pull-through cache fetches the vLLM image with",
                command,
            )
            for registry in registries
        ]
    return specs
