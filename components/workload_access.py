"""AWS access for Kubernetes workloads: a Secrets Manager secret and an EKS Pod Identity role."""

from aws_cdk import SecretValue
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from components.nag import acknowledge, skip_scan

AWS_MANAGED_SECRET_KEY = {
    "CKV_AWS_149": "encrypted with the AWS managed key aws/secretsmanager; IAM already limits reads to the one "
    "role that mounts it, and a customer key would add a key policy for every reader (pods, the guard, ECR) "
    "without narrowing who can read",
}


class ExternallySetSecret(Construct):
    """A secret whose value a person puts in after deploy; the template carries none.

    CloudFormation creates it holding `placeholder` (a sentence saying how to set it), or a random
    string; `make secrets` (put-secret-value) replaces it with the real value, which never passes
    through CDK, git or logs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        secret_name: str,
        description: str,
        rotation_reason: str,
        placeholder: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description=description,
            # Not a secret: the instruction a person finds in the console until the real value is put in.
            secret_string_value=SecretValue.unsafe_plain_text(placeholder) if placeholder else None,
        )
        acknowledge(self.secret, {"AwsSolutions-SMG4": rotation_reason})
        skip_scan(self, AWS_MANAGED_SECRET_KEY, resource_type="AWS::SecretsManager::Secret")


class GeneratedApiKey(Construct):
    """A random api key the stack generates into Secrets Manager; clients read it from there."""

    def __init__(self, scope: Construct, construct_id: str, *, secret_name: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description="vLLM api key: clients send it as 'Authorization: Bearer <key>'",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )
        acknowledge(
            self.secret,
            {
                "AwsSolutions-SMG4": "rotating the key must be coordinated with every client; rotate it by "
                "put-secret-value and a rollout restart, as the README describes"
            },
        )
        skip_scan(self, AWS_MANAGED_SECRET_KEY, resource_type="AWS::SecretsManager::Secret")


class PodIdentity(Construct):
    """An IAM role that pods of one service account assume through the EKS Pod Identity agent."""

    def __init__(
        self, scope: Construct, construct_id: str, *, cluster: eks.ICluster, namespace: str, service_account: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("pods.eks.amazonaws.com"),
            description=f"Pod Identity for {namespace}/{service_account}",
        )
        self.role.assume_role_policy.add_statements(
            iam.PolicyStatement(actions=["sts:TagSession"], principals=[iam.ServicePrincipal("pods.eks.amazonaws.com")])
        )
        self.association = eks.CfnPodIdentityAssociation(
            self,
            "Association",
            cluster_name=cluster.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=self.role.role_arn,
        )
