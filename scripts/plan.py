"""Capacity and cost plan: will each model fit, how many requests does it hold, what does a token cost?

    make plan ENV=dev
    python -m scripts.plan --env prod --json

Sizes each model of the environment on the smallest GPU instance its node group may launch, from
planning/data/ (instance and model facts, with their sources) and the `plan:` assumptions of the
environment file, every one of which is printed with its value. It runs the checks synth runs:
exit 0 when synth would accept the environment (warnings allowed), 2 when synth would refuse it,
with the same paragraph (a bad value, or a model that does not fit its GPUs or its node).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import ConfigError, EnvironmentConfig, load_environment
from config.loader import CONFIG_DIR
from planning.capacity import gpu_node_ceiling, nodes_at_peak, nodes_for_replicas
from planning.cold_start import (
    BUILT_WEIGHT_SOURCES,
    NODE_STATES,
    PHASES,
    WEIGHT_SOURCES,
    Budget,
    NodeState,
    WeightSource,
    configured_source,
    disk_usd_per_month,
    environment_budgets,
    startup_probe_allowance_seconds,
)
from planning.fit import deployability, refusal
from planning.sizing import HOURS_PER_MONTH, ModelPlan, Sizing, plan_environment, planned_instance
from planning.throughput import calibration, calibration_band


def sizing_numbers(sizing: Sizing) -> dict[str, Any]:
    plan = sizing.plan
    spot_hour = sizing.usd_per_hour * (1 - plan.spot_discount)
    return {
        "weights_gib": round(sizing.weights_gib, 2),
        "weights_per_gpu_gib": round(sizing.weights_per_gpu_gib, 2),
        "vllm_budget_per_gpu_gib": round(sizing.budget_gib, 2),
        "kv_cache_per_gpu_gib": round(sizing.kv_cache_gib, 2),
        "kv_bytes_per_token": sizing.kv_bytes_per_token,
        "kv_tokens": sizing.kv_tokens,
        "max_concurrency_at_max_model_len": round(sizing.max_concurrency, 2),
        "decode_ceiling_tokens_per_second": round(sizing.decode_ceiling_tokens_per_second, 1),
        "estimated_output_tokens_per_second": round(sizing.estimated_throughput, 1),
        "estimated_output_tokens_per_second_range": [round(value, 1) for value in sizing.estimated_throughput_range],
        "usd_per_hour_on_demand": round(sizing.usd_per_hour, 4),
        "usd_per_month_on_demand": round(sizing.usd_per_hour * HOURS_PER_MONTH, 2),
        "usd_per_hour_spot": round(spot_hour, 4),
        "usd_per_month_spot": round(spot_hour * HOURS_PER_MONTH, 2),
        "usd_per_million_output_tokens": round(sizing.usd_per_million_output_tokens, 4),
    }


def plan_document(config: EnvironmentConfig, plans: list[ModelPlan]) -> dict[str, Any]:
    models = []
    for model_plan in plans:
        model = model_plan.model
        entry: dict[str, Any] = {
            "name": model.name,
            "model_id": model.model_id,
            "replicas": model.replicas,
            "replicas_min": model.initial_replicas,
            "replicas_max": model.peak_replicas,
            "max_model_len": model.max_model_len,
            "gpu_memory_utilization": model.gpu_memory_utilization,
            "tensor_parallel_size": model.tensor_parallel_size,
            "problems": model_plan.problems,
            "warnings": model_plan.warnings,
        }
        if sizing := model_plan.sizing:
            arch = sizing.architecture
            entry |= {
                "architecture": arch.name,
                "architecture_source": arch.source.url,
                "instance": sizing.instance.name,
                "gpu": sizing.instance.gpu,
                "kv_bytes_per_token_bf16": arch.kv_bytes_per_token(2),
                "kv_bytes_per_token_fp8": arch.kv_bytes_per_token(1),
                **sizing_numbers(sizing),
                "replicas_usd_per_month_on_demand": round(
                    sizing.usd_per_hour * HOURS_PER_MONTH * model.initial_replicas, 2
                ),
                "replicas_usd_per_month_on_demand_max": round(
                    sizing.usd_per_hour * HOURS_PER_MONTH * model.peak_replicas, 2
                ),
                "what_ifs": {name: sizing_numbers(variant) for name, variant in model_plan.what_ifs.items()},
            }
        models.append(entry)
    return {
        "environment": config.name,
        "assumptions": {
            **config.plan.model_dump(),
            "hours_per_month": HOURS_PER_MONTH,
            "prices": "Linux on-demand, us-east-1, from planning/data/gpu_instances.yaml",
        },
        "models": models,
        "fleet": fleet(config),
        "cold_start": cold_start(config),
    }


def cold_start(config: EnvironmentConfig) -> dict[str, Any]:
    """Each model's start, phase by phase, for every weight source on a new and a warm node, with the targets."""
    models = {}
    for name, budgets in environment_budgets(config).items():
        model = next(model for model in config.models if model.name == name)
        models[name] = {
            "configured_weight_source": configured_source(model),
            "budgets": [
                {
                    "weight_source": result.weight_source,
                    "built": result.weight_source in BUILT_WEIGHT_SOURCES,
                    "node": result.node,
                    "total_seconds": round(result.total_seconds, 1),
                    "phases": [
                        {"phase": phase.name, "seconds": round(phase.seconds, 1), "how": phase.how}
                        for phase in result.phases
                    ],
                }
                for result in budgets.values()
            ],
        }
    return {
        "targets": config.cold_start.model_dump(),
        "startup_probe_allowance_seconds": startup_probe_allowance_seconds(),
        "gpu_root_volume": {
            "throughput_mibps": config.gpu_node_group.disk_throughput_mibps,
            "iops": config.gpu_node_group.disk_iops,
            "usd_per_month_per_node_above_gp3_included": round(disk_usd_per_month(config.gpu_node_group), 2),
        },
        "models": models,
    }


def fleet(config: EnvironmentConfig) -> dict[str, Any]:
    """GPU nodes and their monthly price with every model at its fewest and at its most replicas."""
    instance = planned_instance(config)
    low, high = nodes_for_replicas(config), nodes_at_peak(config)
    return {
        "autoscaler": config.gpu_node_group.autoscaler,
        "instance": instance.name,
        "gpu_nodes_min": low,
        "gpu_nodes_max": high,
        "gpu_node_ceiling": gpu_node_ceiling(config),
        "usd_per_month_on_demand_min": round(low * instance.usd_per_hour * HOURS_PER_MONTH, 2),
        "usd_per_month_on_demand_max": round(high * instance.usd_per_hour * HOURS_PER_MONTH, 2),
    }


def _gib(value: float) -> str:
    return f"{value:.2f} GiB"


def print_plan(config: EnvironmentConfig, plans: list[ModelPlan], console: Console) -> None:
    api_price = config.plan.api_price_per_million_output_tokens
    for model_plan in plans:
        model, sizing = model_plan.model, model_plan.sizing
        if sizing is None:
            console.print(f"[yellow]{escape(model.name)}: not sized[/yellow]")
            continue
        arch, instance, numbers = sizing.architecture, sizing.instance, sizing_numbers(sizing)
        table = Table(
            title=f"{model.name}: {escape(model.model_id)} on {instance.name} ({instance.gpus} x {instance.gpu})"
        )
        table.add_column("quantity")
        table.add_column("value", justify="right")
        table.add_column("how")
        low, high = calibration_band()
        low_tps, high_tps = sizing.estimated_throughput_range
        prompt = config.plan.average_sequence_tokens - config.plan.average_output_tokens
        runs = len(calibration().runs)
        rows = [
            ("weights", _gib(sizing.weights_gib),
             f"{arch.parameters_billion}B params: linear x {sizing.layout.weight_bytes} B, embeddings x {sizing.layout.native_bytes} B"),
            ("weights per GPU", _gib(sizing.weights_per_gpu_gib), f"tensor_parallel_size {sizing.layout.tensor_parallel_size}"),
            ("KV cache per token", f"{arch.kv_bytes_per_token(2) // 1024} KiB bf16, {arch.kv_bytes_per_token(1) // 1024} KiB fp8",
             f"2 x {arch.layers} layers x {arch.kv_heads} KV heads x {arch.head_dim} dims"),
            ("vLLM budget per GPU", _gib(sizing.budget_gib),
             f"{instance.gpu_spec.cuda_memory_gib:.2f} GiB CUDA reports (nvidia-smi: {instance.gpu_spec.visible_memory_mib} MiB) x {sizing.layout.gpu_memory_utilization:.2f}"),
            ("runtime overhead per GPU", _gib(sizing.runtime_overhead_gib),
             f"plan.runtime_overhead_gib + {_gib(sizing.activation_gib)} of activations for {sizing.max_num_batched_tokens} tokens per step"
             + (" + plan.tensor_parallel_overhead_gib" if sizing.layout.tensor_parallel_size > 1 else "")),
            ("KV cache per GPU", _gib(sizing.kv_cache_gib), "budget - weights - overhead"),
            ("KV tokens", f"{sizing.kv_tokens:,}", f"kv_cache_dtype {model.kv_cache_dtype}"),
            ("max concurrency", f"{sizing.max_concurrency:.2f}", f"sequences of max_model_len {model.max_model_len}"),
            ("decode ceiling, 1 sequence", f"{sizing.decode_ceiling_tokens_per_second:.1f} tok/s",
             f"{instance.gpu_spec.bandwidth_gbps:g} GB/s / weights per GPU"),
            ("estimated throughput",
             f"{sizing.estimated_throughput:,.0f} tok/s ({low_tps:,.0f} to {high_tps:,.0f})",
             f"{sizing.in_flight} requests of {prompt} + {config.plan.average_output_tokens} tokens in flight "
             f"(planning/throughput.py); the range: {low:.2f}x to {high:.2f}x, how far {runs} published runs measured "
             "from the same model (planning/data/throughput_calibration.yaml)"),
            ("cost per replica", f"${numbers['usd_per_hour_on_demand']:.2f}/h, ${numbers['usd_per_month_on_demand']:,.0f}/month",
             f"on-demand; spot ${numbers['usd_per_month_spot']:,.0f}/month at {config.plan.spot_discount:.0%} off"),
            ("cost per million output tokens", f"${sizing.usd_per_million_output_tokens:.2f}",
             f"at {config.plan.utilization:.0%} utilization; API you compare with: ${api_price:.2f}"),
        ]  # fmt: skip
        for row in rows:
            table.add_row(*row)
        console.print(table)
        what_if = Table(title=f"{model.name}: what changes")
        for column in ("variant", "KV tokens", "concurrency", "decode ceiling", "$ / M tokens"):
            what_if.add_column(column, justify="right" if column != "variant" else "left")
        for name, variant in {"as configured": sizing, **model_plan.what_ifs}.items():
            what_if.add_row(
                name,
                f"{variant.kv_tokens:,}",
                f"{variant.max_concurrency:.2f}",
                f"{variant.decode_ceiling_tokens_per_second:.1f} tok/s",
                f"${variant.usd_per_million_output_tokens:.2f}",
            )
        console.print(what_if)
        for problem in model_plan.problems:
            console.print(f"[red]does not fit:[/red] {escape(problem)}")
        for warning in model_plan.warnings:
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    print_fleet(config, plans, console)
    print_cold_start(config, console)
    assumptions = Table(title="Assumptions (plan: in the environment file)")
    assumptions.add_column("assumption")
    assumptions.add_column("value", justify="right")
    for key, value in config.plan.model_dump().items():
        if key == "max_num_seqs" and value is None:
            value = "vLLM's default for the GPU (or the model's --max-num-seqs)"
        assumptions.add_row(key, str(value))
    assumptions.add_row("hours per month", str(HOURS_PER_MONTH))
    assumptions.add_row("prices", "on-demand us-east-1, planning/data/gpu_instances.yaml")
    console.print(assumptions)


def print_fleet(config: EnvironmentConfig, plans: list[ModelPlan], console: Console) -> None:
    numbers = fleet(config)
    table = Table(title=f"GPU fleet between the fewest and the most replicas (autoscaler: {numbers['autoscaler']})")
    for column in ("", "fewest replicas", "most replicas", "how"):
        table.add_column(column, justify="left" if column in ("", "how") else "right")
    for model_plan in plans:
        model, sizing = model_plan.model, model_plan.sizing
        low, high = model.initial_replicas, model.peak_replicas
        how = "KEDA on the queue" if model.autoscaling else "replicas (fixed)"
        table.add_row(f"{model.name} replicas", str(low), str(high), how)
        if sizing:
            table.add_row(
                f"{model.name} throughput",
                f"{low * sizing.estimated_throughput:,.0f} tok/s",
                f"{high * sizing.estimated_throughput:,.0f} tok/s",
                "replicas x the estimate above",
            )
    table.add_row(
        f"GPU nodes ({numbers['instance']})",
        str(numbers["gpu_nodes_min"]),
        str(numbers["gpu_nodes_max"]),
        f"replicas x GPUs / GPUs per node, rounded up; ceiling {numbers['gpu_node_ceiling']}",
    )
    table.add_row(
        "GPU nodes, per month",
        f"${numbers['usd_per_month_on_demand_min']:,.0f}",
        f"${numbers['usd_per_month_on_demand_max']:,.0f}",
        f"on-demand x {HOURS_PER_MONTH} h; a month always at the most is the upper bound",
    )
    console.print(table)


def print_cold_start(config: EnvironmentConfig, console: Console) -> None:
    targets = config.cold_start
    for name, budgets in environment_budgets(config).items():
        model = next(model for model in config.models if model.name == name)
        chosen = configured_source(model)
        table = Table(
            title=f"{name}: cold start, seconds (targets: new node {targets.new_node_seconds} s, warm node "
            f"{targets.warm_node_seconds} s)"
        )
        table.add_column("phase")
        columns: list[tuple[WeightSource, NodeState]] = [
            (source, node) for source in WEIGHT_SOURCES for node in NODE_STATES
        ]
        for source, node in columns:
            mark = " (configured)" if source == chosen else "" if source in BUILT_WEIGHT_SOURCES else " (not built)"
            table.add_column(f"{source}{mark}, {node} node", justify="right")
        for index, phase in enumerate(PHASES):
            table.add_row(phase, *(f"{budgets[column].phases[index].seconds:.0f}" for column in columns))
        table.add_row("total", *(f"[bold]{budgets[column].total_seconds:.0f}[/bold]" for column in columns))
        console.print(table)
        _print_how(budgets[(chosen, "new")], console)
    volume = config.gpu_node_group
    console.print(
        f"GPU root volume: gp3 {volume.disk_throughput_mibps} MiB/s, {volume.disk_iops} IOPS "
        f"(+${disk_usd_per_month(volume):.2f} a month per node above gp3's included 125 MiB/s and 3000 IOPS). "
        f"The startup probe allows {startup_probe_allowance_seconds()} s. Sources: planning/data/cold_start.yaml.",
        soft_wrap=True,
    )


def _print_how(result: Budget, console: Console) -> None:
    console.print(f"How the {result.weight_source} start on a new node is reckoned:")
    for phase in result.phases:
        console.print(f"  {phase.name}: {phase.seconds:.0f} s = {escape(phase.how)}", soft_wrap=True)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    console = console or Console(highlight=False)
    parser = argparse.ArgumentParser(prog="plan", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--env", required=True, help="environment to plan (config/ENV.yaml)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env, config_dir=args.config_dir)
    except ConfigError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        return 2
    plans = plan_environment(config)
    if args.json:
        console.print_json(json.dumps(plan_document(config, plans)))
    else:
        print_plan(config, plans, console)
    # The same checks synth runs: what synth refuses, the plan refuses, with the same paragraph.
    problems, warnings = deployability(config)
    if not args.json:
        for warning in warnings:
            if not any(warning in model_plan.warnings for model_plan in plans):
                console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if problems:
        console.print(f"[red]error:[/red] {escape(refusal(config, problems))}", soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
