"""What a benchmark Job runs and how its log reports it: shared by the chart that writes the Job
(charts/benchmark.py) and the script that reads its log (scripts/bench_endpoint.py). No cdk8s, so the script
starts no jsii runtime until it renders the Job."""

from dataclasses import dataclass

from config.model import BenchmarkConfig, BenchmarkShape, ModelConfig

RESULT_MARKER = "vllm-on-eks-bench-result "  # starts each result line in the Job's log
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class BenchRun:
    shape: BenchmarkShape
    concurrency: int

    @property
    def requests(self) -> int:
        return self.concurrency * self.shape.requests_per_client

    @property
    def result_file(self) -> str:
        return f"{self.shape.name}-c{self.concurrency}.json"


def fitting_shapes(benchmark: BenchmarkConfig, model: ModelConfig) -> list[BenchmarkShape]:
    """The shapes whose requests the model accepts. Configured shapes always fit (the config loader refuses
    one that does not); a default shape longer than a short max_model_len is left out rather than refused."""
    return [shape for shape in benchmark.shapes if shape.fits(model)]


def bench_runs(benchmark: BenchmarkConfig, model: ModelConfig) -> list[BenchRun]:
    return [
        BenchRun(shape, concurrency)
        for shape in fitting_shapes(benchmark, model)
        for concurrency in shape.concurrencies
    ]


def job_name(model: ModelConfig) -> str:
    return f"vllm-bench-{model.name}"
