"""ECR repositories that cache the pinned upstream images in-region, through pull-through cache rules.

Why a pull-through cache and not a copy: the vLLM image is 10-28 GB, past what a Lambda copy job
can hold (10 GB of /tmp, 15 minutes). The cache needs no job at all: the first node that pulls
`<account>.dkr.ecr.<region>.amazonaws.com/docker-hub/vllm/vllm-openai:<tag>` makes ECR fetch it
from Docker Hub once; every later pull is in-region, through the VPC endpoints, with no Docker
Hub rate limit.
"""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from components.workload_access import ExternallySetSecret
from config.images import PULL_THROUGH_UPSTREAMS, Image
from config.secrets import pull_through_secret_name

KEEP_TAGGED_IMAGES = 10


class ImageMirror(Construct):
    """One cache rule per upstream registry and one hardened repository per mirrored image."""

    def __init__(self, scope: Construct, construct_id: str, *, images: list[Image]) -> None:
        super().__init__(scope, construct_id)
        mirrorable = [image for image in images if image.mirror_prefix]
        self.repositories: dict[str, ecr.Repository] = {}
        self.upstream_credentials = {}
        for registry in sorted({image.registry for image in mirrorable}):
            prefix, upstream_url = PULL_THROUGH_UPSTREAMS[registry]
            # ECR requires Docker Hub credentials for its cache, in a secret named ecr-pullthroughcache/...
            credentials = ExternallySetSecret(
                self,
                f"{prefix}-credentials",
                secret_name=pull_through_secret_name(prefix),
                description=f'{upstream_url} credentials for the ECR pull-through cache: {{"username": ..., '
                '"accessToken": ...}; set with make secrets',
                rotation_reason="a Docker Hub access token is rotated at Docker Hub; a rotation Lambda cannot "
                "mint a new one",
            ).secret
            self.upstream_credentials[prefix] = credentials
            ecr.CfnPullThroughCacheRule(
                self,
                f"{prefix}-cache",
                ecr_repository_prefix=prefix,
                upstream_registry=prefix,
                upstream_registry_url=upstream_url,
                credential_arn=credentials.secret_arn,
            )
        for image in mirrorable:
            self.repositories[image.repository] = ecr.Repository(
                self,
                image.mirror_repository,
                repository_name=image.mirror_repository,
                # A pinned tag can never be overwritten: what was tested is what runs.
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                image_scan_on_push=True,
                encryption=ecr.RepositoryEncryption.KMS,
                # Only tagged images count: the per-platform manifests under a multi-arch tag are
                # untagged, and expiring them would break pulls of a tag that still exists.
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        description=f"keep the {KEEP_TAGGED_IMAGES} newest tags: room to roll back",
                        tag_status=ecr.TagStatus.TAGGED,
                        tag_pattern_list=["*"],
                        max_image_count=KEEP_TAGGED_IMAGES,
                    ),
                ],
                # A cache: everything in it can be pulled again from upstream, so it goes with the stack.
                removal_policy=RemovalPolicy.DESTROY,
                empty_on_delete=True,
            )
