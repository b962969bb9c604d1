"""AWS Load Balancer Controller: turns the exposure chart's Service and Ingress into an NLB or ALB."""

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct

from components.nag import acknowledge, acknowledge_cfn_utils_provider, skip_scan, wildcard_resource
from config.versions import LOAD_BALANCER_CONTROLLER_VERSION

# aws-cdk-lib's constant for the pinned version carries the matching AWS-maintained IAM policy.
CONTROLLER_VERSION: eks.AlbControllerVersion = getattr(
    eks.AlbControllerVersion, "V" + LOAD_BALANCER_CONTROLLER_VERSION.removeprefix("v").replace(".", "_")
)


class LoadBalancerController(Construct):
    """The controller as a deploy-time Helm chart, with its IAM role through IRSA (aws-cdk-lib's construct)."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster: eks.Cluster) -> None:
        super().__init__(scope, construct_id)
        self.controller = eks.AlbController(self, "Controller", cluster=cluster, version=CONTROLLER_VERSION)
        reason = (
            "AWS-published Load Balancer Controller policy: it creates load balancers, listeners, target "
            "groups and security groups whose ids it cannot know in advance; mutations are conditioned on "
            "the elbv2.k8s.aws/cluster tag"
        )
        acknowledge(self.controller, {wildcard_resource(resource): reason for resource in WILDCARD_RESOURCES})
        skip_scan(self.controller, {"CKV_AWS_111": reason}, resource_type="AWS::IAM::Policy")
        acknowledge_cfn_utils_provider(self)


ELB = "arn:<AWS::Partition>:elasticloadbalancing:*:*"
WILDCARD_RESOURCES = [
    "*",
    "arn:<AWS::Partition>:ec2:*:*:security-group/*",
    *(f"{ELB}:{kind}/{lb}/*/*/*" for kind in ("listener-rule", "listener") for lb in ("app", "net")),
    *(f"{ELB}:loadbalancer/{lb}/*/*" for lb in ("app", "net")),
    f"{ELB}:targetgroup/*/*",
]
