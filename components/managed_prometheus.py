"""Amazon Managed Service for Prometheus for one cluster: a workspace, the agentless scraper that fills it,
the rules, and an alert manager that publishes to an encrypted SNS topic.

The scraper is AWS's managed collector: it reads no ServiceMonitors, so it gets a plain Prometheus
scrape configuration (observability/scrape.py, `endpoints` discovery, which its access covers), and
it scrapes from network interfaces it creates in the cluster's private subnets (two or more zones),
with the cluster security group. On a cluster with access entries (this app's) AMP creates the
scraper's access entry and its read-only Kubernetes permissions itself, so nothing is applied in
the cluster for it. The workspace keeps AMP's own encryption: whether a managed scraper can write
to a workspace under a customer-managed key is documented both ways (unverified), and the key
cannot be changed later without a new workspace.
"""

from typing import Any

import yaml
from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_aps as aps
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from components.nag import LOGS_WITHOUT_SECRETS, skip_scan
from config.model import AmpConfig

RULES_NAMESPACE = "vllm-on-eks"
APS_SERVICE = "aps.amazonaws.com"


def alert_manager_definition(topic_arn: str, region: str) -> str:
    """Every alert to the SNS topic, grouped per alert name and model; resolved ones too, so a page closes."""
    config = {
        "route": {"receiver": "sns", "group_by": ["alertname", "model_name"], "repeat_interval": "4h"},
        "receivers": [
            {
                "name": "sns",
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        "sigv4": {"region": region},
                        "send_resolved": True,
                        # AMP cuts SNS subjects at 100 characters; the default lists every label.
                        "subject": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                    }
                ],
            }
        ],
    }
    body = yaml.safe_dump(config, sort_keys=False)
    # AMP wants the Alertmanager file as a string under alertmanager_config: a literal block keeps it readable.
    return "alertmanager_config: |\n" + "".join(f"  {line}\n" for line in body.splitlines())


class ManagedPrometheus(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        subnets: list[ec2.ISubnet],
        alias: str,
        scrape_config: str,
        rules: dict[str, Any],
        settings: AmpConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        cluster_security_group = cluster.cluster_security_group_id
        assert cluster_security_group, "an eks.Cluster always has its cluster security group"
        key = kms.Key(
            self,
            "AlertKey",
            description=f"{alias}: encrypts the alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # SNS encrypts each message with a data key from this key, on behalf of whoever publishes.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(APS_SERVICE)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(self, "Alerts", display_name=f"{alias} alerts", master_key=key, enforce_ssl=True)
        for address in settings.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        # Rule evaluation and alert delivery errors (a rule AMP rejects, a publish SNS refuses) land here,
        # not in silence.
        log_group = logs.LogGroup(
            self, "WorkspaceLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        skip_scan(log_group, LOGS_WITHOUT_SECRETS, resource_type="AWS::Logs::LogGroup")
        self.workspace = aps.CfnWorkspace(
            self,
            "Workspace",
            alias=alias,
            logging_configuration=aps.CfnWorkspace.LoggingConfigurationProperty(log_group_arn=log_group.log_group_arn),
            alert_manager_definition=alert_manager_definition(self.topic.topic_arn, stack.region),
            workspace_configuration=aps.CfnWorkspace.WorkspaceConfigurationProperty(
                retention_period_in_days=settings.retention_days
            ),
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(APS_SERVICE)],
                actions=["sns:Publish", "sns:GetTopicAttributes"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": self.workspace.attr_arn},
                    "StringEquals": {"AWS:SourceAccount": stack.account},
                },
            )
        )
        aps.CfnRuleGroupsNamespace(
            self,
            "Rules",
            workspace=self.workspace.attr_arn,
            name=RULES_NAMESPACE,
            data=yaml.safe_dump(rules, sort_keys=False),
        )
        self.scraper = aps.CfnScraper(
            self,
            "Scraper",
            alias=alias,
            source=aps.CfnScraper.SourceProperty(
                eks_configuration=aps.CfnScraper.EksConfigurationProperty(
                    cluster_arn=cluster.cluster_arn,
                    subnet_ids=[subnet.subnet_id for subnet in subnets],
                    security_group_ids=[cluster_security_group],
                )
            ),
            destination=aps.CfnScraper.DestinationProperty(
                amp_configuration=aps.CfnScraper.AmpConfigurationProperty(workspace_arn=self.workspace.attr_arn)
            ),
            scrape_configuration=aps.CfnScraper.ScrapeConfigurationProperty(
                # Plain YAML: the API's blob is base64 on the wire, which the resource handler does itself.
                configuration_blob=scrape_config
            ),
        )
        CfnOutput(self, "WorkspaceEndpoint", value=self.workspace.attr_prometheus_endpoint)
        CfnOutput(self, "AlertTopic", value=self.topic.topic_arn)
