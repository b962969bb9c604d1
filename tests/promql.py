"""Which metrics a PromQL expression names, read with a real PromQL parser rather than a regular expression."""

import re

import promql_parser

from config.metrics import DCGM_CATALOG, VLLM_CATALOG, Metric

# Named by the rules but exported by the platform, not by a pinned release here: Prometheus's own
# scrape health series, and kube-state-metrics (part of kube-prometheus-stack; AMP users run it themselves).
PLATFORM_METRICS = {"up", "kube_pod_container_status_restarts_total"}
# Grafana's variables, replaced by values of the same type so Grafana's queries parse as plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range_s": "21600", "$__range": "6h", "$model": ".*"}


def series_of(metric: Metric) -> set[str]:
    if metric.kind == "histogram":
        return {metric.series(suffix) for suffix in ("_bucket", "_sum", "_count")}
    return {metric.series()}


def catalog_series() -> set[str]:
    return {name for metric in (*VLLM_CATALOG, *DCGM_CATALOG) for name in series_of(metric)}


def plain_promql(expr: str) -> str:
    return re.sub("|".join(re.escape(name) for name in GRAFANA_VARIABLES), lambda m: GRAFANA_VARIABLES[m[0]], expr)


def metric_names(expr: str) -> set[str]:
    """Every metric name the expression selects; raises ValueError when it does not parse."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        elif isinstance(node, promql_parser.MatrixSelector):
            walk(node.vector_selector)
        elif isinstance(node, promql_parser.BinaryExpr):
            walk(node.lhs)
            walk(node.rhs)
        elif isinstance(node, promql_parser.Call):
            for argument in node.args:
                walk(argument)
        elif isinstance(node, promql_parser.AggregateExpr):
            walk(node.expr)
            walk(node.param)
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            walk(node.expr)

    walk(promql_parser.parse(plain_promql(expr)))
    return names
