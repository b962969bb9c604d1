"""The 70B example (config/llama70b.yaml): one pod over four L40S GPUs, everything sized from the model and
tensor_parallel_size, validated at synth only (it is not deployed by default)."""

import pytest

from charts.vllm import deployment_name
from config.capacity import capacity_request
from config.scheduling import GPU_RESOURCE
from functions.guards.capacity import QUOTAS, _family
from planning.fit import deployability
from planning.sizing import plan_environment
from tests.manifests import documents, find


@pytest.fixture(scope="module")
def big(synth_env):
    return synth_env("llama70b")


def test_it_fits_with_useful_concurrency_and_synth_accepts_it(big):
    problems, _ = deployability(big.config)
    assert problems == []
    (model_plan,) = plan_environment(big.config)
    sizing = model_plan.sizing
    assert sizing.instance.name == "g6e.12xlarge" and sizing.layout.tensor_parallel_size == sizing.instance.gpus == 4
    assert sizing.layout.weight_bytes == 1, "FP8 weights on an FP8-capable GPU"
    assert sizing.weights_per_gpu_gib < 20 and sizing.max_concurrency > 30


def test_the_fit_numbers_by_hand(big):
    """70.6 B parameters: the embeddings and output head (2 x 128256 x 8192) stay bf16, the rest is FP8; four GPUs
    of 44.31 GiB as CUDA reports an L40S, x 0.90; per GPU 1.5 GiB runtime + 2.1 GiB of all-reduce buffers + the
    activations of 2048 tokens per step over a quarter of the 8192 hidden units at 53 bytes each;
    KV: 2 x 80 layers x 8 heads x 128 x 2 bytes = 320 KiB per token, 80 KiB on each of the 4 GPUs."""
    (model_plan,) = plan_environment(big.config)
    sizing = model_plan.sizing
    embeddings = 2 * 128256 * 8192
    weights_per_gpu = ((70.6e9 - embeddings) * 1 + embeddings * 2) / 4 / 2**30
    activations = 2048 * 8192 / 4 * 53 / 2**30
    kv_cache = 44.31 * 0.90 - weights_per_gpu - (1.5 + 2.1 + activations)
    assert sizing.weights_per_gpu_gib == pytest.approx(weights_per_gpu) == pytest.approx(16.93, abs=0.01)
    assert sizing.kv_cache_gib == pytest.approx(kv_cache) == pytest.approx(19.14, abs=0.01)
    assert sizing.kv_tokens == int(kv_cache * 2**30 / (80 * 1024)) == 250_935
    assert sizing.max_concurrency == pytest.approx(250_935 / 8192)


def test_one_pod_takes_the_nodes_four_gpus_with_what_tensor_parallelism_needs(big):
    model = big.config.models[0]
    docs = documents(big.stacks.inference.charts["vllm"])
    pod = find(docs, "Deployment", deployment_name(model))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["requests"][GPU_RESOURCE] == container["resources"]["limits"][GPU_RESOURCE] == "4"
    args = container["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    assert args[args.index("--quantization") + 1] == "fp8"
    shm = next(volume for volume in pod["volumes"] if volume["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}
    assert container["resources"]["limits"]["memory"] == "192Gi" and container["resources"]["requests"]["cpu"] == "32"


def test_the_gpu_pool_and_the_quota_follow_the_instance(big):
    from tests.test_autoscaling import _applied, _pools

    (pool,) = _pools(_applied(big)).values()
    assert pool["limits"] == {GPU_RESOURCE: "4", "cpu": "48"}
    request = capacity_request(big.config)
    assert request.gpu_instance_types == ("g6e.12xlarge",) and (request.gpu_desired_nodes, request.gpu_max_nodes) == (
        1,
        1,
    )
    quota = QUOTAS[(_family(request.gpu_instance_types[0]), request.capacity_type)]
    assert quota.code == "L-DB2E81BA", "g6e draws on the Running On-Demand G and VT instances quota"


def test_its_image_pull_is_the_fast_one_its_comment_promises(big):
    from planning.cold_start import environment_budgets
    from tests.test_autoscaling import _applied, _node_class

    assert big.config.gpu_node_group.fast_image_pull
    assert "FastImagePull: true" in _node_class(_applied(big))["userData"]
    budgets = environment_budgets(big.config)["llama31-70b"]
    pull = {phase.name: phase.seconds for phase in budgets[("huggingface", "new")].phases}["image pull"]
    assert pull == pytest.approx(61.1, abs=0.1)
