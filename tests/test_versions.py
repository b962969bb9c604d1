"""One Kubernetes version: the cluster, the kubectl layer and cdk8s-plus must all agree."""

import importlib.metadata
import re
import tomllib

from config.versions import ADDON_VERSIONS, KUBERNETES_VERSION
from tests.conftest import ROOT

MINOR = KUBERNETES_VERSION.split(".")[1]


def _pinned() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(.+)$", dep).groups() for dep in project["dependencies"])


def test_kubectl_layer_matches_the_cluster_version():
    assert f"aws-cdk.lambda-layer-kubectl-v{MINOR}" in _pinned()
    source = (ROOT / "components" / "eks_cluster.py").read_text()
    assert f"KubectlV{MINOR}Layer" in source
    assert not re.search(rf"KubectlV(?!{MINOR})\d+Layer", source)


def test_cdk8s_plus_matches_the_cluster_version():
    plus = [name for name in _pinned() if name.startswith("cdk8s-plus-")]
    assert plus == [f"cdk8s-plus-{MINOR}"]


def test_every_python_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    groups = [project["project"]["dependencies"], *project["dependency-groups"].values()]
    for dependency in (dep for group in groups for dep in group):
        assert "==" in dependency, f"{dependency} is not pinned"
    assert (ROOT / "uv.lock").is_file()


def test_installed_versions_are_the_pinned_ones():
    for name, version in _pinned().items():
        assert importlib.metadata.version(name.split("[")[0]) == version


def test_kube_proxy_tracks_the_control_plane_minor():
    assert ADDON_VERSIONS["kube-proxy"].startswith(f"v{KUBERNETES_VERSION}.")


def test_cdk_cli_is_pinned_exactly():
    import json

    package = json.loads((ROOT / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["aws-cdk"])
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == package["devDependencies"]["aws-cdk"]
