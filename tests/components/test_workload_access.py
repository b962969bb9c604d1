"""components/workload_access.py on its own: a secret with no value, and a Pod Identity role."""

from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk.assertions import Template

from components.workload_access import ExternallySetSecret, GeneratedApiKey, PodIdentity


def test_an_externally_set_secret_holds_only_its_placeholder(stack: Stack):
    ExternallySetSecret(
        stack, "Token", secret_name="x/token", description="d", rotation_reason="r", placeholder="unset"
    )
    GeneratedApiKey(stack, "Key", secret_name="x/key")
    secrets = {
        s["Properties"]["Name"]: s["Properties"]
        for s in Template.from_stack(stack).find_resources("AWS::SecretsManager::Secret").values()
    }
    assert secrets["x/token"]["SecretString"] == "unset"
    assert "SecretString" not in secrets["x/key"] and secrets["x/key"]["GenerateSecretString"]["PasswordLength"] == 48


def test_pod_identity_trusts_only_the_eks_pods_service(stack: Stack, cluster: eks.ICluster):
    PodIdentity(stack, "Identity", cluster=cluster, namespace="ns", service_account="sa")
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::EKS::PodIdentityAssociation", {"Namespace": "ns", "ServiceAccount": "sa"})
    (role,) = template.find_resources("AWS::IAM::Role").values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
