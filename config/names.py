"""Names the app gives that several layers read: kept out of stacks/ so the pre-checks start without CDK."""

REGISTRY_STACK = "vllm-registry"  # one per account and region, shared by its environments


def deployer_context_key(env_name: str) -> str:
    """cdk.context.json key under which `make deploy` records the principal that deploys an environment."""
    return f"vllm-on-eks:deployer:{env_name}"
