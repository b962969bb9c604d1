from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from charts.autoscaling import ScaledObjectsChart
from components.managed_prometheus import ManagedPrometheus
from config.model import AmpConfig, ModelConfig

# What KEDA's Prometheus scaler calls: the query API (AWS's managed policy AmazonPrometheusQueryAccess lists
# these four), on this workspace only.
QUERY_ACTIONS = ["aps:QueryMetrics", "aps:GetLabels", "aps:GetSeries", "aps:GetMetricMetadata"]


class MonitoringStack(Stack):
    """Amazon Managed Service for Prometheus for one environment (observability.mode: amp).

    Its own stack because the workspace is stateful: redeploying the workloads never touches the
    metrics history, and the stack goes with the environment's cluster, whose ARN the scraper names.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        alias: str,
        scrape_config: str,
        rules: dict[str, Any],
        settings: AmpConfig,
        autoscaled: list[ModelConfig] | None = None,
        keda_role: iam.IRole | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.prometheus = ManagedPrometheus(
            self,
            "ManagedPrometheus",
            cluster=cluster,
            subnets=cluster.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets,
            alias=alias,
            scrape_config=scrape_config,
            rules=rules,
            settings=settings,
        )
        if autoscaled and keda_role:
            self._scale_on_the_queue(cluster, autoscaled, keda_role)

    def _scale_on_the_queue(self, cluster: eks.ICluster, models: list[ModelConfig], keda_role: iam.IRole) -> None:
        """The models' ScaledObjects read the workspace, whose id exists only here: this stack applies them (they
        are the one chart not in dist/ in this mode), and lets KEDA's role query this workspace and no other."""
        workspace = self.prometheus.workspace
        iam.Policy(
            self,
            "KedaQueriesWorkspace",
            roles=[keda_role],
            statements=[iam.PolicyStatement(actions=QUERY_ACTIONS, resources=[workspace.attr_arn])],
        )
        # attr_prometheus_endpoint ends in a slash, which KEDA would double before /api/v1/query.
        url = f"https://aps-workspaces.{self.region}.{Aws.URL_SUFFIX}/workspaces/{workspace.attr_workspace_id}"
        chart = ScaledObjectsChart(models=models, prometheus_url=url, aws_region=self.region)
        eks.KubernetesManifest(self, "ScaledObjects", cluster=cluster, manifest=chart.to_json())
