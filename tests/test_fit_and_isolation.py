"""Configs that cannot schedule are refused at synth; secrets never leak; workload edits stay in their stack."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config import ConfigError, EnvironmentConfig
from planning.catalog import gpu_instances
from planning.kubelet import node_budget
from tests.conftest import ROOT, cloudformation_validate_report, load, normalized, synthesize


def dev_config(**model_changes) -> tuple[dict, EnvironmentConfig]:
    data = load("dev").model_dump(mode="json")
    if "replicas" in model_changes:
        data["models"][0]["autoscaling"] = None  # replicas as given, not KEDA's
    data["models"][0].update(model_changes)
    return data, EnvironmentConfig.model_validate(data)


def with_gpu_types(data: dict, *types: str) -> EnvironmentConfig:
    data["gpu_node_group"]["instance_types"] = list(types)
    return EnvironmentConfig.model_validate(data)


def refused(config: EnvironmentConfig, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        synthesize(config, tmp_path)
    message = str(error.value)
    assert message.startswith(f"config/{config.name}.yaml: ") and "\n" not in message
    return message


def test_gpu_request_above_the_instance_gpus_is_refused(tmp_path):
    _, config = dev_config(tensor_parallel_size=2)
    message = refused(config, tmp_path)
    assert "models[0] (llama3-8b) requests 2 GPUs" in message
    assert "g5.2xlarge has 1" in message
    assert "lower tensor_parallel_size to 1" in message


def test_tensor_parallel_fits_on_a_multi_gpu_instance(tmp_path):
    data, _ = dev_config(tensor_parallel_size=4)
    synthesized = synthesize(with_gpu_types(data, "g5.12xlarge"), tmp_path)
    assert synthesized.stacks.inference.charts["vllm"].to_yaml().count('nvidia.com/gpu: "4"') == 2


def test_memory_request_above_the_instance_memory_is_refused(tmp_path):
    data, _ = dev_config()
    message = refused(with_gpu_types(data, "g5.xlarge"), tmp_path)
    assert "requests 16 GiB of memory but g5.xlarge (16 GiB) has about" in message
    assert "lower memory_gib to at most 13" in message


def test_cpu_request_above_the_instance_cpus_is_refused(tmp_path):
    data, _ = dev_config(memory_gib=8, shm_size_gib=4)
    message = refused(with_gpu_types(data, "g5.xlarge"), tmp_path)
    assert "requests 4 CPU but g5.xlarge (4 vCPU) has about 3.5" in message
    assert "GiB of memory" not in message, "8 GiB fits; only the CPU is refused"


def test_shm_must_fit_inside_the_memory_limit():
    with pytest.raises(ValueError, match=r"shm_size_gib \(16\) must be below memory_gib \(16\)"):
        dev_config(shm_size_gib=16)


def test_node_budget_matches_the_eks_kubelet_formula():
    budget = node_budget(gpu_instances()["g5.2xlarge"])
    # 8 vCPU: 60 + 10 + 2*5 + 4*2.5 = 90m reserved
    assert budget.allocatable_millicores == 7910
    # 32 GiB * 0.96 - (11 * 58 + 255) MiB kube-reserved - 100 MiB eviction
    assert budget.allocatable_mib == int(32 * 1024 * 0.96) - 893 - 100
    assert 0 < budget.daemon_mib < 1024 and 0 < budget.daemon_millicores < 1000


def test_make_synth_refuses_a_model_that_does_not_fit(tmp_path):
    """The done-when of issue 3, end to end through app.py: one paragraph, exit 2, no stack trace."""
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["gpu_node_group"]["instance_types"] = ["g5.xlarge"]
    (tmp_path / "unfit-test.yaml").write_text(yaml.safe_dump(data))
    context = json.dumps({"env": "unfit-test", "config_dir": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": context, "CDK_OUTDIR": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "unfit-test.yaml: models[0] (llama3-8b) requests 16 GiB of memory" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (ROOT / "dist" / "unfit-test").exists(), "nothing half-written"


def test_changing_a_vllm_argument_changes_only_the_inference_stack(dev, tmp_path):
    _, config = dev_config(max_model_len=4096, extra_args=["--enable-prefix-caching"])
    changed = synthesize(config, tmp_path)
    for stack in ("network", "cluster"):
        assert normalized(changed.template_json(stack)) == normalized(dev.template_json(stack)), stack
    before, after = dev.template_json("inference"), changed.template_json("inference")
    assert normalized(before) != normalized(after)
    assert "--enable-prefix-caching" in str(after) and "4096" in str(after)


SENTINELS = {
    "HF_TOKEN": "hf_SentinelTokenValueThatMustNeverAppear0001",
    "HUGGING_FACE_HUB_TOKEN": "hf_SentinelTokenValueThatMustNeverAppear0002",
    "VLLM_API_KEY": "sk-sentinel-api-key-that-must-never-appear-0003",
}


def test_no_secret_value_reaches_any_output(tmp_path):
    """Synthesize with real-looking tokens in the environment, then grep every output for them."""
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            **os.environ,
            **SENTINELS,
            "CDK_CONTEXT_JSON": json.dumps({"env": "dev", "dist_dir": str(tmp_path / "dist")}),
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # The suite's one real app.py synth: the app keeps CDK's own validator on (other test synths turn it off,
    # test_synth_output runs it over the other environments), and dev passes it. The report lists the validator
    # only when it found or acknowledged something: dev's acknowledged W3010 (components/vpc.py) shows it ran.
    assert cloudformation_validate_report(tmp_path / "out") == {"conclusion": "success", "violations": []}, (
        "app.py runs CDK's validator, and dev passes"
    )
    outputs = [*tmp_path.rglob("*"), *(ROOT / "tests" / "__snapshots__").rglob("*")]
    files = [path for path in outputs if path.is_file()]
    assert any(path.suffix == ".json" and "template" in path.name for path in files)
    assert any(path.parent.name == "dev" and path.suffix == ".yaml" for path in files)
    token_shape = re.compile(r"hf_[A-Za-z0-9]{30,}")
    for path in files:
        text = path.read_text(errors="replace")
        for name, value in SENTINELS.items():
            assert value not in text, f"{name} leaked into {path}"
        assert not token_shape.search(text), f"something shaped like a Hugging Face token is in {path}"
    for value in SENTINELS.values():
        assert value not in result.stdout + result.stderr


def test_memory_the_agents_already_take_is_not_offered_to_the_model():
    """14 GiB on g5.xlarge: below the kubelet's allocatable, above what the node's DaemonSets leave."""
    from planning.findings import Kind
    from planning.fit import pod_findings

    budget = node_budget(gpu_instances()["g5.xlarge"])
    assert budget.free_mib < 14 * 1024 < budget.allocatable_mib, "the case sits between the two numbers"
    data, _ = dev_config(memory_gib=14, cpu=2)
    (finding,) = pod_findings(with_gpu_types(data, "g5.xlarge"))
    assert finding.kind is Kind.POD_MEMORY and f"{budget.daemon_mib} MiB of DaemonSets" in finding.message


def test_surge_first_counts_every_replica():
    """Two replicas on two one-GPU nodes leave no spare GPU: a surge pod would stay Pending."""
    from planning.capacity import spare_gpus, surge_first

    data, _ = dev_config(replicas=2)
    data["gpu_node_group"].update(autoscaler="none", desired_size=2, max_size=3)
    two_on_two = EnvironmentConfig.model_validate(data)
    assert spare_gpus(two_on_two) == 0 and not surge_first(two_on_two, two_on_two.models[0])
    data["gpu_node_group"]["desired_size"] = 3
    two_on_three = EnvironmentConfig.model_validate(data)
    assert surge_first(two_on_three, two_on_three.models[0])


def test_spare_gpus_count_every_gpu_of_a_multi_gpu_node():
    from planning.capacity import spare_gpus, surge_first

    data, _ = dev_config(replicas=1)
    data["gpu_node_group"]["autoscaler"] = "none"
    config = with_gpu_types(data, "g5.12xlarge")  # 4 GPUs, desired_size 1, one 1-GPU replica
    assert spare_gpus(config) == 3 and surge_first(config, config.models[0])


def test_the_node_budget_subtracts_every_agent_on_a_gpu_node():
    from config.scheduling import GPU_NODE_AGENT_REQUESTS
    from planning.kubelet import ADDON_DAEMONS

    budget = node_budget(gpu_instances()["g5.2xlarge"])
    ours = sum(int(requests["memory"].removesuffix("Mi")) for requests in GPU_NODE_AGENT_REQUESTS.values())
    assert budget.daemon_mib == sum(memory for _, memory in ADDON_DAEMONS.values()) + ours
    assert budget.free_mib == budget.allocatable_mib - budget.daemon_mib


def test_an_autoscaler_owned_deployment_leaves_replicas_out():
    from charts.vllm import ModelServer, VllmChart
    from tests.manifests import documents, find

    _, config = dev_config()
    server = ModelServer(model=config.models[0], replicas=None, surge_first=True)
    deployment = find(documents(VllmChart(servers=[server], secrets={}, region="us-east-1")), "Deployment")
    assert "replicas" not in deployment["spec"]
    fixed = ModelServer(model=config.models[0], replicas=2, surge_first=True)
    assert (
        find(documents(VllmChart(servers=[fixed], secrets={}, region="us-east-1")), "Deployment")["spec"]["replicas"]
        == 2
    )
