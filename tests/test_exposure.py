"""Exposure and auth (issue #4): three modes, api key on by default, tool calling, NetworkPolicy."""

import pytest
from aws_cdk.assertions import Annotations, Match

from charts import exposure, vllm
from charts.benchmark import BENCH_APP
from charts.common import METRICS_SCRAPER_NAMESPACE_LABEL
from charts.vllm import vllm_args
from config import EnvironmentConfig
from tests.conftest import load, synthesize
from tests.manifests import documents, find


def docs_of(synthesized, chart: str) -> list[dict]:
    return documents(synthesized.stacks.inference.charts[chart])


@pytest.fixture(scope="module")
def alb(synth_env):
    return synth_env("alb")


def _controller_charts(synthesized):
    return synthesized.template("cluster").find_resources(
        "Custom::AWSCDK-EKS-HelmChart", {"Properties": {"Chart": "aws-load-balancer-controller"}}
    )


# --- cluster-ip ------------------------------------------------------------------------------


def test_cluster_ip_exposes_nothing_outside_the_cluster(dev):
    docs = docs_of(dev, "exposure")
    assert [(doc["kind"], doc["metadata"]["name"]) for doc in docs] == [
        ("NetworkPolicy", "vllm-ingress"),
        ("NetworkPolicy", "vllm-benchmark-ingress"),
    ]
    assert not any(doc["kind"] == "Ingress" for doc in docs_of(dev, "vllm"))
    assert all(
        doc["spec"].get("type", "ClusterIP") == "ClusterIP" for doc in docs_of(dev, "vllm") if doc["kind"] == "Service"
    )
    assert _controller_charts(dev) == {}, "no load balancer controller when no environment needs it"


def test_nothing_may_reach_the_benchmark_pod(dev):
    policy = find(docs_of(dev, "exposure"), "NetworkPolicy", "vllm-benchmark-ingress")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": BENCH_APP}},
        "policyTypes": ["Ingress"],
    }


def test_network_policy_admits_only_labelled_client_namespaces_in_cluster_ip(dev):
    policy = find(docs_of(dev, "exposure"), "NetworkPolicy", "vllm-ingress")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "vllm"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": exposure.CLIENT_NAMESPACE_LABEL}},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": BENCH_APP}}},  # same namespace: the benchmark
        {"namespaceSelector": {"matchLabels": METRICS_SCRAPER_NAMESPACE_LABEL}},
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": vllm.HTTP_PORT}]


# --- internal NLB ---------------------------------------------------------------------------


def test_internal_nlb_is_an_ip_target_service_per_model(prod):
    docs = docs_of(prod, "exposure")
    service = find(docs, "Service", "vllm-llama3-8b-nlb")
    annotations = service["metadata"]["annotations"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/health"
    deployment = find(docs_of(prod, "vllm"), "Deployment", "vllm-llama3-8b")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_load_balanced_modes_install_the_pinned_controller(prod, alb):
    for synthesized in (prod, alb):
        (chart,) = _controller_charts(synthesized).values()
        assert chart["Properties"]["Version"] == "3.2.2"
        assert chart["Properties"]["Namespace"] == "kube-system"


def test_network_policy_admits_the_vpc_when_a_load_balancer_fronts_vllm(prod):
    (rule,) = find(docs_of(prod, "exposure"), "NetworkPolicy", "vllm-ingress")["spec"]["ingress"]
    assert {"ipBlock": {"cidr": prod.config.network.vpc_cidr}} in rule["from"]


# --- ALB ------------------------------------------------------------------------------------


def test_alb_is_internal_https_with_a_300s_idle_timeout(alb):
    ingress = find(docs_of(alb, "exposure"), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]'
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == alb.config.exposure.certificate_arn
    assert annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] == "idle_timeout.timeout_seconds=300"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    assert annotations["alb.ingress.kubernetes.io/ssl-policy"].startswith("ELBSecurityPolicy-TLS13")


def test_alb_routes_each_model_host_to_its_service(alb):
    ingress = find(docs_of(alb, "exposure"), "Ingress")
    services = {doc["metadata"]["name"] for doc in docs_of(alb, "vllm") if doc["kind"] == "Service"}
    routes = {rule["host"]: rule["http"]["paths"][0]["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]}
    assert routes == {
        "llama3-8b.llm.internal.example.com": "vllm-llama3-8b",
        "qwen25-7b.llm.internal.example.com": "vllm-qwen25-7b",
    }
    assert set(routes.values()) <= services


def test_public_alb_is_possible_only_explicitly_and_synth_warns(tmp_path):
    data = load("alb").model_dump(mode="json")
    data["exposure"]["public"] = True
    synthesized = synthesize(EnvironmentConfig.model_validate(data), tmp_path)
    ingress = find(docs_of(synthesized, "exposure"), "Ingress")
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    Annotations.from_stack(synthesized.stacks.inference).has_warning("*", Match.string_like_regexp("internet-facing"))


# --- api key and tool calling ---------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "prod", "alb"])
def test_api_key_is_on_by_default_and_read_from_a_mounted_file(synth_env, env_name):
    synthesized = synth_env(env_name)
    docs = docs_of(synthesized, "vllm")
    provider = find(docs, "SecretProviderClass")
    assert f"{synthesized.config.stack_prefix}/api-key" in provider["spec"]["parameters"]["objects"]
    for model in synthesized.config.models:
        container = find(docs, "Deployment", f"vllm-{model.name}")["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == vllm.API_KEY_LAUNCHER
        assert "/mnt/secrets/api-key" in container["command"][2] and "VLLM_API_KEY" in container["command"][2]
        bucket = synthesized.config.weights_bucket.name if synthesized.config.weights_bucket else None
        assert container["args"][0] == vllm.weights_uri(model, bucket)
        assert "--api-key" not in container["args"]
        assert "VLLM_API_KEY" not in {env["name"] for env in container["env"]}


def test_api_key_secret_is_generated_by_the_stack(dev):
    template = dev.template("secrets")
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": "vllm-dev/api-key",
            "GenerateSecretString": {"ExcludePunctuation": True, "PasswordLength": 48},
            "SecretString": Match.absent(),
        },
    )
    template.has_output("ApiKeySecretName", {})


def test_auth_off_is_possible_only_explicitly_and_only_in_cluster(tmp_path):
    data = load("dev").model_dump(mode="json")
    data["exposure"]["api_key"] = False
    synthesized = synthesize(EnvironmentConfig.model_validate(data), tmp_path)
    docs = docs_of(synthesized, "vllm")
    container = find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["vllm", "serve"], "no launcher reading a key file"
    assert "api-key" not in find(docs, "SecretProviderClass")["spec"]["parameters"]["objects"]
    assert not synthesized.template("inference").find_resources(
        "AWS::SecretsManager::Secret", {"Properties": {"Name": "vllm-dev/api-key"}}
    )


def test_tool_calling_uses_the_parser_of_the_model_family(alb, dev):
    args = {
        model.name: find(docs_of(alb, "vllm"), "Deployment", f"vllm-{model.name}")["spec"]["template"]["spec"][
            "containers"
        ][0]["args"]
        for model in alb.config.models
    }
    for name, parser in {"llama3-8b": "llama3_json", "qwen25-7b": "hermes"}.items():
        assert "--enable-auto-tool-choice" in args[name]
        assert args[name][args[name].index("--tool-call-parser") + 1] == parser
    dev_args = find(docs_of(dev, "vllm"), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert dev_args[dev_args.index("--enable-auto-tool-choice") + 1 :][:2] == ["--tool-call-parser", "llama3_json"], (
        "the shipped environments serve agents: tool calling on"
    )
    off = dev.config.models[0].model_copy(update={"tool_calling": False})
    assert not {"--enable-auto-tool-choice", "--tool-call-parser"} & set(vllm_args(off)), "off unless configured"


def test_ungated_models_get_no_hugging_face_token(alb):
    docs = docs_of(alb, "vllm")
    qwen = find(docs, "Deployment", "vllm-qwen25-7b")["spec"]["template"]["spec"]["containers"][0]
    llama = find(docs, "Deployment", "vllm-llama3-8b")["spec"]["template"]["spec"]["containers"][0]
    assert "HF_TOKEN_PATH" not in {env["name"] for env in qwen["env"]}
    assert "HF_TOKEN_PATH" in {env["name"] for env in llama["env"]}


def test_the_controller_stays_until_it_is_turned_off(tmp_path):
    """Switching back to cluster-ip must not remove the controller that deletes the old load balancers."""
    data = load("prod").model_dump(mode="json")
    data["exposure"] = {"mode": "cluster-ip", "api_key": True}
    synthesized = synthesize(EnvironmentConfig.model_validate(data), tmp_path)
    assert _controller_charts(synthesized), "still installed: cluster.load_balancer_controller is true"
    assert {doc["kind"] for doc in docs_of(synthesized, "exposure")} == {"NetworkPolicy"}
