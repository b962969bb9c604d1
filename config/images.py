"""A container image reference, and the registries ECR's pull-through cache can mirror."""

from dataclasses import dataclass

# Upstream registries an ECR pull-through cache rule can front, by registry host, with the
# repository prefix the cache uses. nvcr.io (NVIDIA NGC) is not one of them.
PULL_THROUGH_UPSTREAMS = {"docker.io": ("docker-hub", "registry-1.docker.io")}


@dataclass(frozen=True)
class Image:
    """A container image pinned by tag; `registry` is what a mirror (ECR) replaces."""

    registry: str
    repository: str
    tag: str

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def mirror_prefix(self) -> str | None:
        """The pull-through cache prefix for this image's registry, or None where ECR cannot mirror it."""
        upstream = PULL_THROUGH_UPSTREAMS.get(self.registry)
        return upstream[0] if upstream else None

    @property
    def mirror_repository(self) -> str:
        return f"{self.mirror_prefix}/{self.repository}"

    def mirrored(self, account: str, region: str) -> "Image":
        """The same image served from the account's ECR, or itself where ECR cannot mirror its registry."""
        if not self.mirror_prefix:
            return self
        return Image(f"{account}.dkr.ecr.{region}.amazonaws.com", self.mirror_repository, self.tag)
