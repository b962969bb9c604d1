from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.image_mirror import ImageMirror
from config.versions import IMAGES


class RegistryStack(Stack):
    """The account's image mirror in one region, shared by every environment deployed there.

    Its content depends only on the pinned images, never on an environment, so two environments
    in the same account and region deploy the same stack and agree on it.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.mirror = ImageMirror(self, "Mirror", images=list(IMAGES.values()))
