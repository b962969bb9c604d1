"""components/managed_prometheus.py on its own: what config sets reaches the workspace, the scraper and the topic."""

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk.assertions import Template

from components.managed_prometheus import ManagedPrometheus
from config.model import AmpConfig


def test_retention_and_subscriptions_come_from_config_and_the_scraper_uses_the_given_subnets(stack: Stack):
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )  # fmt: skip
    cluster = eks.Cluster.from_cluster_attributes(
        stack, "Cluster", cluster_name="bare", vpc=vpc, cluster_security_group_id="sg-0123456789abcdef0"
    )
    ManagedPrometheus(
        stack,
        "Amp",
        cluster=cluster,
        subnets=vpc.private_subnets,
        alias="bare",
        scrape_config="global: {}\n",
        rules={"groups": []},
        settings=AmpConfig(retention_days=90, alert_emails=["oncall@example.com"]),
    )
    template = Template.from_stack(stack)
    (workspace,) = template.find_resources("AWS::APS::Workspace").values()
    assert workspace["Properties"]["WorkspaceConfiguration"]["RetentionPeriodInDays"] == 90
    (log_group_id,) = template.find_resources("AWS::Logs::LogGroup")
    log_group_arn = workspace["Properties"]["LoggingConfiguration"]["LogGroupArn"]
    assert log_group_arn == {"Fn::GetAtt": [log_group_id, "Arn"]}, "rule and alert errors are not silent"
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    (scraper,) = template.find_resources("AWS::APS::Scraper").values()
    source = scraper["Properties"]["Source"]["EksConfiguration"]
    assert source["SubnetIds"] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    assert source["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
    assert scraper["Properties"]["ScrapeConfiguration"]["ConfigurationBlob"] == "global: {}\n", "plain YAML"
