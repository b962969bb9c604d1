"""The image mirror (issue #5): ECR pull-through cache, hardened repositories, charts pulling from ECR."""

import json

import pytest

from config import EnvironmentConfig
from config.versions import DCGM_EXPORTER_IMAGE, DEVICE_PLUGIN_IMAGE, VLLM_IMAGE
from tests.conftest import load, normalized
from tests.manifests import documents, pod_specs

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def images(synthesized) -> dict[str, str]:
    found = {}
    for name, chart in synthesized.stacks.inference.charts.items():
        for _, spec in pod_specs(documents(chart)):
            for container in spec["containers"]:
                found[name] = container["image"]
    return found


def test_mirrored_environment_pulls_vllm_from_its_own_ecr(prod):
    assert images(prod) == {
        "vllm": f"{ECR_HOST}/docker-hub/vllm/vllm-openai:{VLLM_IMAGE.tag}",
        # nvcr.io is not an upstream ECR pull-through cache supports: these stay public.
        "nvidia-device-plugin": DEVICE_PLUGIN_IMAGE.ref,
        "dcgm-exporter": DCGM_EXPORTER_IMAGE.ref,
    }


def test_unmirrored_environment_pulls_the_public_images(dev):
    assert dev.stacks.registry is None
    assert images(dev)["vllm"] == f"docker.io/vllm/vllm-openai:{VLLM_IMAGE.tag}"
    assert not any(".ecr." in image for image in images(dev).values())


def test_repositories_are_immutable_scanned_encrypted_and_pruned(prod):
    template = prod.template("registry")
    (repository,) = template.find_resources("AWS::ECR::Repository").values()
    properties = repository["Properties"]
    assert properties["RepositoryName"] == "docker-hub/vllm/vllm-openai"
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["EncryptionConfiguration"] == {"EncryptionType": "KMS"}
    rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [rule["selection"]["tagStatus"] for rule in rules] == ["tagged"], "untagged platform manifests stay"
    assert rules[0]["selection"]["countNumber"] == 10
    assert repository["DeletionPolicy"] == "Delete" and properties["EmptyOnDelete"] is True, (
        "a cache goes with its stack"
    )


def test_docker_hub_cache_rule_uses_a_credentials_secret_without_a_value(prod):
    template = prod.template("registry")
    (rule,) = template.find_resources("AWS::ECR::PullThroughCacheRule").values()
    assert rule["Properties"]["EcrRepositoryPrefix"] == "docker-hub"
    assert rule["Properties"]["UpstreamRegistryUrl"] == "registry-1.docker.io"
    (secret_id,) = template.find_resources("AWS::SecretsManager::Secret")
    secret = template.to_json()["Resources"][secret_id]["Properties"]
    assert secret["Name"] == "ecr-pullthroughcache/docker-hub"
    assert "SecretString" not in secret
    assert rule["Properties"]["CredentialArn"] == {"Ref": secret_id}


def test_gpu_nodes_may_import_through_the_cache_and_inference_waits_for_the_registry(prod):
    policies = prod.template("cluster").find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert any(s["Action"] == "ecr:BatchImportUpstreamImage" for s in statements)
    assert prod.stacks.registry in prod.stacks.inference.dependencies


def test_registry_is_the_same_for_every_environment_in_a_region(synth_env, prod):
    other = synth_env("alb")  # another environment in the same account and region, also mirroring
    assert normalized(other.template_json("registry")) == normalized(prod.template_json("registry"))


def test_mirroring_needs_an_account():
    data = load("dev").model_dump(mode="json")
    data["mirror_images"] = True
    with pytest.raises(ValueError, match="mirror_images needs the account"):
        EnvironmentConfig.model_validate(data)
