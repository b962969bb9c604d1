"""A VPC laid out for EKS: private node subnets, load-balancer discovery tags, flow logs."""

from typing import ClassVar

from aws_cdk import Acknowledgment, RemovalPolicy, Tags, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from components.nag import DEPLOY_TIME_FUNCTION, OUTSIDE_VPC, acknowledge, skip_scan, skip_scan_on_stack_provider
from config.model import PRIVATE_SUBNET_MASK, PUBLIC_SUBNET_MASK, NetworkConfig

PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


class EksVpc(Construct):
    """Creates the VPC: private subnets for nodes, tagged subnets for load balancers, flow logs."""

    def __init__(self, scope: Construct, construct_id: str, *, config: NetworkConfig) -> None:
        super().__init__(scope, construct_id)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            availability_zones=config.availability_zones,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=PUBLIC_SUBNET_MASK),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=PRIVATE_SUBNET_MASK
                ),
            ],
        )
        # The zones are literal on purpose: they come from the config so that synth needs no AWS look-up.
        Validations.of(vpc).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="availability zones are named in config/<env>.yaml so synth needs no AWS look-up",
            )
        )
        for subnet in vpc.public_subnets:
            Tags.of(subnet).add(PUBLIC_ELB_TAG, "1")
        for subnet in vpc.private_subnets:
            Tags.of(subnet).add(INTERNAL_ELB_TAG, "1")
        # aws-cdk-lib's provider that empties the default security group (feature flag restrictDefaultSecurityGroup).
        skip_scan_on_stack_provider(
            self, "Custom::VpcRestrictDefaultSGCustomResourceProvider", DEPLOY_TIME_FUNCTION | OUTSIDE_VPC
        )
        if config.flow_logs:
            log_group = logs.LogGroup(
                self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
            )
            skip_scan(
                log_group,
                {
                    "CKV_AWS_158": "rejected-traffic flow records (addresses and ports, no payloads); CloudWatch "
                    "Logs encrypts them at rest with the service key"
                },
                resource_type="AWS::Logs::LogGroup",
            )
            vpc.add_flow_log(
                "FlowLog",
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group),
                traffic_type=ec2.FlowLogTrafficType.REJECT,
            )
        self.vpc = vpc


class PrivateEndpoints(Construct):
    """Keeps image pulls (ECR + S3 layers), weight downloads from S3 and STS calls inside the VPC."""

    INTERFACE_SERVICES: ClassVar[dict[str, ec2.InterfaceVpcEndpointAwsService]] = {
        "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
        "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
        "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    }

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc) -> None:
        super().__init__(scope, construct_id)
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.s3 = ec2.GatewayVpcEndpoint(
            self, "S3", vpc=vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[private]
        )
        self.interfaces = {
            name: ec2.InterfaceVpcEndpoint(
                self, name, vpc=vpc, service=service, subnets=private, private_dns_enabled=True
            )
            for name, service in self.INTERFACE_SERVICES.items()
        }
        acknowledge(
            self,
            {
                "AwsSolutions-EC23": "interface endpoint security groups admit only HTTPS from the VPC CIDR, "
                "a token cdk-nag cannot resolve at synth"
            },
        )
