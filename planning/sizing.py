"""Will a model fit its GPUs, how many requests can it hold, and what does a token cost?

The arithmetic vLLM itself does at start-up, done from the config before anything is deployed:

    budget per GPU   = GPU memory as CUDA reports it x gpu_memory_utilization
    KV cache per GPU = budget - weights / tensor_parallel_size - runtime overhead
    KV tokens        = KV cache per GPU / (KV bytes per token / GPUs the KV heads are split over)
    concurrency      = KV tokens / max_model_len

Decoding one token reads every weight once, so one sequence decodes at most at
(memory bandwidth / weight bytes per GPU) tokens per second; a batch shares that read. What a
replica delivers under load is planning/throughput.py's model, calibrated on published runs.
"""

from dataclasses import dataclass, field, replace

from config.model import EnvironmentConfig, ModelConfig, PlanConfig
from config.vllm import extra_arg_value
from planning.catalog import BYTES_PER_DTYPE, InstanceSpec, ModelArchitecture, architecture_for, model_architectures
from planning.findings import Finding, Kind, Severity, messages, problem, warning
from planning.throughput import Traffic, calibration_band, output_tokens_per_second

GIB = 1024**3
# Activation peak per token of a scheduler step and per unit of hidden size (per GPU), in bytes: fitted on two
# published starts of Llama 3.1 8B (hidden 4096) after vLLM 0.17 cut activation memory, the only two found:
#   vLLM 0.31.0 on an A100 80GB, 2048 tokens per step: non-torch 0.26 + activation 1.44 + CUDA graphs 0.23 = 1.93 GiB
#     (a public repository's notes, search index id 70682754770; the repository is not named)
#   vLLM 0.19.0 on an H100, 8192 tokens per step: non-torch 0.25 + activation 1.89 + graphs ~1.04 = ~3.18 GiB
#     (github.com/llm-d-incubation/llm-d-planner docs/accuracy/vllm-v0.19.0-accuracy-report.md, commit 2d557dc)
# A straight line through them: (3.18 - 1.93) GiB / 6144 tokens / 4096 = 53 bytes, and a fixed 1.51 GiB, which is
# plan.runtime_overhead_gib's 1.5. Two points from two GPUs and releases: a stated assumption, not a measurement.
ACTIVATION_BYTES_PER_TOKEN_AND_HIDDEN_UNIT = 53
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Layout:
    """The choices that change the sizing: what the plan's what-ifs vary."""

    weight_bytes: int  # per parameter of the linear layers (FP8 quantization changes these only)
    native_bytes: int  # per parameter of the embeddings and output head
    kv_bytes: int  # per element
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    max_num_seqs: int | None = None  # `--max-num-seqs` from the model's extra_args
    max_num_batched_tokens: int | None = None  # `--max-num-batched-tokens` from the model's extra_args


@dataclass(frozen=True)
class Sizing:
    architecture: ModelArchitecture
    instance: InstanceSpec
    layout: Layout
    plan: PlanConfig

    @property
    def budget_gib(self) -> float:
        return self.instance.gpu_spec.cuda_memory_gib * self.layout.gpu_memory_utilization

    @property
    def weights_gib(self) -> float:
        embedding = self.architecture.embedding_parameters
        linear = self.architecture.parameters_billion * 1e9 - embedding
        return (linear * self.layout.weight_bytes + embedding * self.layout.native_bytes) / GIB

    @property
    def weights_per_gpu_gib(self) -> float:
        return self.weights_gib / self.layout.tensor_parallel_size

    @property
    def weights_per_gpu_bytes(self) -> float:
        return self.weights_per_gpu_gib * GIB

    @property
    def kv_cache_gib(self) -> float:
        return self.budget_gib - self.weights_per_gpu_gib - self.runtime_overhead_gib

    @property
    def runtime_overhead_gib(self) -> float:
        """Per GPU, outside weights and KV cache: the fixed part (CUDA graphs, context, non-torch memory), the
        activations of one scheduler step's tokens, and the all-reduce buffers under tensor parallelism."""
        parallel = self.plan.tensor_parallel_overhead_gib if self.layout.tensor_parallel_size > 1 else 0.0
        return self.plan.runtime_overhead_gib + self.activation_gib + parallel

    @property
    def max_num_batched_tokens(self) -> int:
        """Tokens one scheduler step may carry: the model's own flag, or the pinned release's default for the GPU."""
        return self.layout.max_num_batched_tokens or default_max_num_batched_tokens(self.instance)

    @property
    def activation_gib(self) -> float:
        """The activation peak vLLM profiles: grows with the step's tokens and this GPU's share of the hidden size."""
        hidden_per_gpu = self.architecture.hidden_size / self.layout.tensor_parallel_size
        return self.max_num_batched_tokens * hidden_per_gpu * ACTIVATION_BYTES_PER_TOKEN_AND_HIDDEN_UNIT / GIB

    @property
    def kv_bytes_per_token(self) -> int:
        return self.architecture.kv_bytes_per_token(self.layout.kv_bytes)

    @property
    def kv_bytes_per_token_per_gpu(self) -> float:
        # KV heads are split across tensor-parallel ranks; beyond one head per rank they are replicated.
        shards = min(self.layout.tensor_parallel_size, self.architecture.kv_heads)
        return self.kv_bytes_per_token / shards

    @property
    def kv_tokens(self) -> int:
        return max(int(self.kv_cache_gib * GIB / self.kv_bytes_per_token_per_gpu), 0)

    @property
    def max_concurrency(self) -> float:
        return self.kv_tokens / self.layout.max_model_len

    @property
    def decode_ceiling_tokens_per_second(self) -> float:
        """One sequence: every decode step reads this GPU's share of the weights once."""
        bytes_per_step = self.weights_per_gpu_gib * GIB
        return self.instance.gpu_spec.bandwidth_gbps * 1e9 / bytes_per_step

    @property
    def max_num_seqs(self) -> int:
        """vLLM's batch limit: the model's own flag, the plan's, or what the pinned release picks for this GPU."""
        return self.layout.max_num_seqs or self.plan.max_num_seqs or default_max_num_seqs(self.instance)

    @property
    def in_flight(self) -> int:
        """Typical requests decoding together: as many as the KV cache holds, up to vLLM's batch limit."""
        return max(min(self.kv_tokens // self.plan.average_sequence_tokens, self.max_num_seqs), 1)

    @property
    def estimated_throughput(self) -> float:
        """Output tokens/s of one replica kept busy with typical requests (planning/throughput.py's model)."""
        output = self.plan.average_output_tokens
        return self.throughput_at(
            self.max_num_seqs, input_tokens=self.plan.average_sequence_tokens - output, output_tokens=output
        )

    @property
    def estimated_throughput_range(self) -> tuple[float, float]:
        """The estimate times the lowest and highest measured / predicted of the published runs it is fitted on."""
        low, high = calibration_band()
        return self.estimated_throughput * low, self.estimated_throughput * high

    def throughput_at(
        self, concurrency: int, *, input_tokens: int, output_tokens: int, shared_prefix_tokens: int = 0
    ) -> float:
        """Output tokens/s with `concurrency` requests of one shape in flight (what `make bench-endpoint` measures)."""
        traffic = Traffic(concurrency, input_tokens, output_tokens, shared_prefix_tokens=shared_prefix_tokens)
        return output_tokens_per_second(self, traffic)

    @property
    def usd_per_hour(self) -> float:
        return replica_usd_per_hour(self.instance, self.layout.tensor_parallel_size)

    @property
    def usd_per_million_output_tokens(self) -> float:
        tokens_per_hour = self.estimated_throughput * 3600 * self.plan.utilization
        return self.usd_per_hour / tokens_per_hour * 1e6


@dataclass
class ModelPlan:
    model: ModelConfig
    sizing: Sizing | None
    what_ifs: dict[str, Sizing] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return messages(self.findings, Severity.PROBLEM)

    @property
    def warnings(self) -> list[str]:
        return messages(self.findings, Severity.WARNING)


def architecture_of(model: ModelConfig) -> ModelArchitecture | None:
    if model.architecture:
        return model_architectures().get(model.architecture)
    return architecture_for(model.model_id)


def _large_gpu_defaults(instance: InstanceSpec) -> bool:
    """`vllm serve` takes larger batch defaults on GPUs of 70 GiB or more other than the A100 (H100 and up):
    vllm/engine/arg_utils.py, _get_default_max_num_seqs_and_batched_tokens, in the pinned 0.31.0."""
    return instance.gpu_spec.cuda_memory_gib >= 70 and not instance.gpu.startswith("A100")


def default_max_num_seqs(instance: InstanceSpec) -> int:
    """`vllm serve`'s --max-num-seqs default in the pinned release: 1024 on H100-class GPUs, 256 on the rest."""
    return 1024 if _large_gpu_defaults(instance) else 256


def default_max_num_batched_tokens(instance: InstanceSpec) -> int:
    """`vllm serve`'s --max-num-batched-tokens default in the pinned release: 8192 on H100-class GPUs, else 2048."""
    return 8192 if _large_gpu_defaults(instance) else 2048


def layout_of(model: ModelConfig, architecture: ModelArchitecture) -> Layout:
    native = BYTES_PER_DTYPE[architecture.dtype]
    max_num_seqs = extra_arg_value(model.extra_args, "--max-num-seqs")
    batched_tokens = extra_arg_value(model.extra_args, "--max-num-batched-tokens")
    return Layout(
        weight_bytes=1 if model.quantization == "fp8" else native,
        native_bytes=native,
        kv_bytes=1 if model.kv_cache_dtype == "fp8" else native,
        tensor_parallel_size=model.tensor_parallel_size,
        max_model_len=model.max_model_len,
        gpu_memory_utilization=model.gpu_memory_utilization,
        max_num_seqs=int(max_num_seqs) if max_num_seqs and max_num_seqs.isdigit() else None,
        max_num_batched_tokens=int(batched_tokens) if batched_tokens and batched_tokens.isdigit() else None,
    )


def _what_ifs(sizing: Sizing) -> dict[str, Sizing]:
    layout = sizing.layout
    variants = {
        "fp8 weights": replace(layout, weight_bytes=1),
        "fp8 kv cache": replace(layout, kv_bytes=1),
        "half the context": replace(layout, max_model_len=max(layout.max_model_len // 2, 256)),
    }
    if layout.tensor_parallel_size * 2 <= sizing.instance.gpus:
        variants["twice the tensor parallelism"] = replace(layout, tensor_parallel_size=layout.tensor_parallel_size * 2)
    return {name: replace(sizing, layout=variant) for name, variant in variants.items() if variant != layout}


def _splits_heads(arch: ModelArchitecture, tp: int) -> bool:
    """vLLM splits attention heads across tensor-parallel ranks, and KV heads too (replicated when fewer)."""
    kv_splits = tp % arch.kv_heads == 0 if tp >= arch.kv_heads else arch.kv_heads % tp == 0
    return arch.attention_heads % tp == 0 and kv_splits


def _refusals(where: str, sizing: Sizing) -> list[Finding]:
    arch, layout, instance = sizing.architecture, sizing.layout, sizing.instance
    gpu = f"{instance.name} ({instance.gpu}, {instance.gpu_spec.cuda_memory_gib:.2f} GiB as CUDA reports it)"
    problems = []
    tp = layout.tensor_parallel_size
    if not _splits_heads(arch, tp):
        valid = [size for size in range(1, 9) if _splits_heads(arch, size)]
        problems.append(
            problem(
                Kind.TP_SPLITS_NO_HEADS,
                f"{where}: tensor_parallel_size {tp} does not split {arch.name}'s {arch.attention_heads} attention "
                f"heads and {arch.kv_heads} KV heads evenly, which vLLM refuses at start-up; use one of "
                f"{valid}",
            )
        )
    if layout.max_model_len > arch.max_context:
        problems.append(
            problem(
                Kind.CONTEXT_TOO_LONG,
                f"{where} asks max_model_len {layout.max_model_len} but {arch.name} supports {arch.max_context} tokens; "
                f"lower max_model_len to {arch.max_context} or serve a longer-context model",
            )
        )
    if sizing.weights_per_gpu_gib + sizing.runtime_overhead_gib >= sizing.budget_gib:
        problems.append(
            problem(
                Kind.WEIGHTS_DO_NOT_FIT,
                f"{where}: {arch.name} weights need {sizing.weights_per_gpu_gib:.1f} GiB per GPU (plus "
                f"{sizing.runtime_overhead_gib:g} GiB runtime) but {gpu} gives vLLM {sizing.budget_gib:.1f} GiB at "
                f"gpu_memory_utilization {layout.gpu_memory_utilization:.2f}; use FP8 weights (quantization: fp8, "
                f"{replace(sizing, layout=replace(layout, weight_bytes=1)).weights_per_gpu_gib:.1f} GiB), more GPUs "
                "(tensor_parallel_size) or a bigger GPU",
            )
        )
    elif sizing.kv_tokens < layout.max_model_len:
        needed = layout.max_model_len * sizing.kv_bytes_per_token_per_gpu / GIB
        problems.append(
            problem(
                Kind.NO_ROOM_FOR_ONE_SEQUENCE,
                f"{where}: one sequence of max_model_len {layout.max_model_len} needs {needed:.1f} GiB of KV cache per "
                f"GPU but {gpu} has {max(sizing.kv_cache_gib, 0):.1f} GiB left after {sizing.weights_per_gpu_gib:.1f} GiB "
                f"of weights ({sizing.kv_tokens} tokens); lower max_model_len to at most {sizing.kv_tokens}, use "
                "kv_cache_dtype: fp8 (twice the tokens), quantization: fp8, or a bigger instance type",
            )
        )
    return problems


def plan_model(where: str, model: ModelConfig, instance: InstanceSpec, plan: PlanConfig) -> ModelPlan:
    architecture = architecture_of(model)
    if architecture is None:
        return ModelPlan(
            model=model,
            sizing=None,
            findings=[
                warning(
                    Kind.UNSIZED_MODEL,
                    f"{where}: no architecture facts for '{model.model_id}', so it is not sized; add a row to "
                    "planning/data/model_architectures.yaml (or set architecture:) to check that it fits",
                )
            ],
        )
    sizing = Sizing(architecture=architecture, instance=instance, layout=layout_of(model, architecture), plan=plan)
    result = ModelPlan(model=model, sizing=sizing, what_ifs=_what_ifs(sizing), findings=_refusals(where, sizing))
    if not result.problems and sizing.max_concurrency < plan.min_concurrency:
        severity = Severity.PROBLEM if plan.fail_below_min_concurrency else Severity.WARNING
        result.findings.append(
            Finding(
                Kind.LOW_CONCURRENCY,
                severity,
                f"{where}: only {sizing.max_concurrency:.2f} sequences of {model.max_model_len} tokens fit in the KV "
                f"cache ({sizing.kv_tokens} tokens), below plan.min_concurrency {plan.min_concurrency}; longer requests "
                f"queue. kv_cache_dtype: fp8 gives {sizing.max_concurrency * 2:.2f}, half the context "
                f"{sizing.max_concurrency * 2:.2f}",
            )
        )
    return result


def planned_instance(config: EnvironmentConfig) -> InstanceSpec:
    """The smallest GPU instance the node group may launch (the worst case), which the plan sizes on."""
    return min(config.gpu_node_group.instance_specs, key=lambda spec: spec.gpu_spec.cuda_memory_gib)


@dataclass(frozen=True)
class ReplicaPrice:
    """What one replica of a model costs an hour: its share of the planned instance's on-demand price."""

    served_name: str
    instance_type: str
    usd_per_hour: float


def replica_usd_per_hour(instance: InstanceSpec, gpus: int) -> float:
    """A replica pays for its GPUs' share of the instance: the price x its GPUs / the instance's GPUs."""
    return instance.usd_per_hour * gpus / instance.gpus


def replica_prices(config: EnvironmentConfig) -> list[ReplicaPrice]:
    """One price per model, sized or not, on the instance `make plan` sizes on."""
    instance = planned_instance(config)
    return [
        ReplicaPrice(model.served_name, instance.name, replica_usd_per_hour(instance, model.gpus))
        for model in config.models
    ]


def plan_environment(config: EnvironmentConfig) -> list[ModelPlan]:
    """Each model sized on the planned instance."""
    instance = planned_instance(config)
    return [
        plan_model(f"models[{index}] ({model.name})", model, instance, config.plan)
        for index, model in enumerate(config.models)
    ]


def model_findings(config: EnvironmentConfig) -> list[Finding]:
    """Every model's sizing findings; low concurrency is a problem when plan.fail_below_min_concurrency."""
    return [finding for model_plan in plan_environment(config) for finding in model_plan.findings]
