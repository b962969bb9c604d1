"""The typed, validated shape of one environment file (config/<env>.yaml).

Every field has a description: `python -m config.reference` turns them into the
README's config reference, and a test keeps the two in sync.
"""

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from config.aws_facts import ec2_instance_types, eks_regions
from config.images import Image
from config.node_config import FAST_IMAGE_PULL_MIN_MIBPS
from config.versions import IMAGES
from config.vllm import FAMILY_TOOL_PARSERS, extra_args_problems, tool_call_parsers
from planning.catalog import InstanceSpec, gpu_instances

# AWS's tag rules: letters, digits and spaces in any language, and _ . : / = + - @
TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
# AWS's documentation example account: the shipped prod.yaml names it so a fork must set its own.
PLACEHOLDER_ACCOUNT = "123456789012"
# Tag keys Karpenter writes on what it launches, which its EC2NodeClass refuses as user tags.
KARPENTER_TAG_PREFIXES = ("kubernetes.io/cluster/", "karpenter.sh/", "karpenter.k8s.aws/")
PRIVATE_SUBNET_MASK = 19  # 8,190 addresses per AZ: the VPC CNI gives every pod a VPC IP
PUBLIC_SUBNET_MASK = 22  # load balancers and NAT gateways only
MIN_AZS = 2  # EKS requires subnets in at least two AZs
GP3_IOPS_PER_MIBPS = 4  # gp3: at most 0.25 MiB/s of throughput per provisioned IOPS (EBS volume types page)
# gp3's included and maximum performance, as aws-cdk-lib 2.275's EbsDeviceOptions documents it (125-2000 MiB/s,
# 3,000-80,000 IOPS, 0.25 MiB/s per IOPS).
GP3_INCLUDED_MIBPS = 125  # what every gp3 volume gets at no extra charge
GP3_INCLUDED_IOPS = 3000
GP3_MAX_MIBPS = 2000
GP3_MAX_IOPS = 80000


def _ipv4_network(value: str) -> str:
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 network CIDR such as 10.0.0.0/16") from None
    return value


Cidr = Annotated[str, AfterValidator(_ipv4_network)]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
CommitHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]


def _eks_region(value: str) -> str:
    if value not in eks_regions():
        raise ValueError(
            f"'{value[:40]}' is not a region where EKS is offered (botocore's data); use one such as us-east-1, "
            "eu-west-1 or ap-southeast-2"
        )
    return value


def _ec2_instance_types(values: list[str]) -> list[str]:
    unknown = [value for value in values if value not in ec2_instance_types()]
    if unknown:
        raise ValueError(f"{[value[:40] for value in unknown]} are not EC2 instance types (e.g. m6i.large, m7i.xlarge)")
    return values


Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$"), AfterValidator(_eks_region)]
InstanceTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
# An IAM role or user; a role keeps its path (IAM Identity Center roles live under aws-reserved/...).
PrincipalArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]


Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(s|m|h)$")]


class Strict(BaseModel):
    """Rejects unknown keys (a typo is an error, not a silent default) and .inf/.nan (they break arithmetic)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EndpointAccess(StrEnum):
    PUBLIC_AND_PRIVATE = "public_and_private"
    PRIVATE = "private"


class CapacityType(StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"


class NodeGroupSize(Strict):
    min_size: int = Field(ge=0, description="Fewest nodes the group scales in to.")
    desired_size: int = Field(
        ge=0, description="Nodes the group runs. With autoscaler none this is the capacity until you change it."
    )
    max_size: int = Field(ge=1, description="Most nodes the group scales out to (your spend ceiling).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        self.check_order()
        return self

    def check_order(self) -> None:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy min_size <= desired_size <= max_size, got min_size={self.min_size}, "
                f"desired_size={self.desired_size}, max_size={self.max_size}; raise max_size or lower the others"
            )


class NetworkConfig(Strict):
    vpc_cidr: Cidr = Field(
        default="10.0.0.0/16",
        description=f"IPv4 CIDR of the VPC the app creates; must hold one /{PRIVATE_SUBNET_MASK} private "
        f"and one /{PUBLIC_SUBNET_MASK} public subnet per AZ.",
    )
    availability_zones: list[str] = Field(
        description=f"AZ names in the region (at least {MIN_AZS}). Named here so synth needs no AWS look-up.",
    )
    nat_gateways: int = Field(
        default=1, ge=1, description="NAT gateways: 1 saves money, one per AZ survives an AZ outage."
    )
    flow_logs: bool = Field(default=True, description="Send VPC flow logs (rejected traffic) to CloudWatch Logs.")
    existing_vpc_id: str | None = Field(
        default=None,
        pattern=r"^vpc-[0-9a-f]{8,17}$",
        description="Use this VPC instead of creating one. Needs an explicit account; the look-up is cached in "
        "cdk.context.json. Its subnets must carry the kubernetes.io/role/(internal-)elb tags.",
    )

    @model_validator(mode="after")
    def _fits(self) -> Self:
        zones = self.availability_zones
        if len(zones) < MIN_AZS or len(set(zones)) != len(zones):
            raise ValueError(f"availability_zones needs at least {MIN_AZS} distinct AZs, got {zones}")
        if self.nat_gateways > len(zones):
            raise ValueError(
                f"nat_gateways ({self.nat_gateways}) cannot exceed the number of availability_zones ({len(zones)})"
            )
        if self.existing_vpc_id and "vpc_cidr" not in self.model_fields_set:
            raise ValueError(
                "existing_vpc_id is set but vpc_cidr is not: set vpc_cidr to that VPC's CIDR, which the "
                "NetworkPolicy admits load balancer traffic from"
            )
        if self.existing_vpc_id:
            return self
        needed = len(zones) * (2 ** (32 - PRIVATE_SUBNET_MASK) + 2 ** (32 - PUBLIC_SUBNET_MASK))
        size = ipaddress.IPv4Network(self.vpc_cidr).num_addresses
        if size < needed:
            raise ValueError(
                f"vpc_cidr {self.vpc_cidr} has {size} addresses but {len(zones)} AZs need {needed} "
                f"(a /{PRIVATE_SUBNET_MASK} private and a /{PUBLIC_SUBNET_MASK} public subnet each); "
                "use a larger block such as a /16 or fewer AZs"
            )
        return self


class SystemNodeGroupConfig(NodeGroupSize):
    instance_types: Annotated[list[InstanceTypeName], AfterValidator(_ec2_instance_types)] = Field(
        default=["m6i.large"], min_length=1, description="On-demand instance types for CoreDNS and controllers."
    )
    min_size: int = Field(default=2, ge=1, description="Fewest system nodes; keep 2 so CoreDNS survives a node loss.")
    desired_size: int = Field(default=2, ge=1, description="System nodes at creation.")
    max_size: int = Field(default=3, ge=1, description="Most system nodes.")


class ClusterConfig(Strict):
    endpoint_access: EndpointAccess = Field(
        default=EndpointAccess.PRIVATE,
        description="`private` keeps the API server inside the VPC; `public_and_private` also exposes it "
        "to public_access_cidrs.",
    )
    public_access_cidrs: list[Cidr] = Field(
        default=[], description="CIDRs allowed to reach a public endpoint. Required with public_and_private."
    )
    admin_principals: list[PrincipalArn] = Field(
        default=[],
        description="IAM roles or users given cluster-admin through EKS access entries. An IAM Identity Center "
        "role is named with its path: arn:aws:iam::ACCOUNT:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_NAME_ID.",
    )
    grant_deployer: bool = Field(
        default=True,
        description="`make deploy` also gives cluster-admin to the IAM role or user that deploys (recorded once in "
        "cdk.context.json, so later synths stay offline). false: only admin_principals.",
    )
    system_node_group: SystemNodeGroupConfig = Field(default_factory=SystemNodeGroupConfig)
    load_balancer_controller: bool = Field(
        default=False,
        description="Install the AWS Load Balancer Controller (needed by exposure modes internal-nlb and alb). "
        "Turn it off only after the load balancers are gone: it is what deletes them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "admin_role_arn" in data:
            raise ValueError(
                "admin_role_arn was replaced by admin_principals, a list: write admin_principals: [ARN] "
                "(or [] when grant_deployer is enough)"
            )
        return data

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        public = self.endpoint_access is EndpointAccess.PUBLIC_AND_PRIVATE
        if public and not self.public_access_cidrs:
            raise ValueError(
                "endpoint_access is public_and_private but public_access_cidrs is empty; list the CIDRs "
                "that may reach the API server (your office or VPN egress) or use endpoint_access: private"
            )
        if not public and self.public_access_cidrs:
            raise ValueError("public_access_cidrs is set but endpoint_access is private; remove one of them")
        return self


class GpuNodeGroupConfig(NodeGroupSize):
    instance_types: list[InstanceTypeName] = Field(
        default=["g5.2xlarge"],
        min_length=1,
        description="GPU instance types (from planning/data/gpu_instances.yaml). All must carry the same GPU count.",
    )
    capacity_type: CapacityType = Field(
        default=CapacityType.ON_DEMAND, description="`on_demand`, or `spot` (cheaper, reclaimed at 2 minutes' notice)."
    )
    min_size: int = Field(
        default=0, ge=0, description="Fewest GPU nodes; 0 allows desired_size: 0, which stops GPU spend."
    )
    desired_size: int = Field(default=1, ge=0, description="GPU nodes at creation.")
    max_size: int = Field(default=3, ge=1, description="Most GPU nodes: your GPU spend ceiling.")
    disk_size_gib: int = Field(
        default=200,
        ge=100,
        le=16384,
        description="gp3 root volume; the vLLM image (8+ GB) and cached weights (16 GB for an 8B model) live here.",
    )
    disk_throughput_mibps: int = Field(
        default=GP3_INCLUDED_MIBPS,
        ge=GP3_INCLUDED_MIBPS,
        le=GP3_MAX_MIBPS,
        description="gp3 throughput of the GPU root volume, MiB/s: it bounds how fast the ~26 GB unpacked vLLM "
        "image is written at start (make plan prints the budget). 125 is included in the price; above it, "
        "about $0.04 per MiB/s-month per node. The instance's own EBS limit may be lower (make plan says).",
    )
    disk_iops: int = Field(
        default=GP3_INCLUDED_IOPS,
        ge=GP3_INCLUDED_IOPS,
        le=GP3_MAX_IOPS,
        description="gp3 IOPS of the GPU root volume. 3000 is included; above it, about $0.005 per IOPS-month per "
        "node. gp3 needs at least 4 IOPS per MiB/s of throughput.",
    )

    fast_image_pull: bool = Field(
        default=False,
        description="SOCI parallel pull (nodeadm's FastImagePull, experimental upstream): the ~11 GB vLLM image's "
        "layers are pulled and unpacked in parallel, about half the pull time in AWS's measurement. Needs 600+ MiB/s "
        "to the root volume (disk_throughput_mibps and the instance's EBS bandwidth), or it is slower than without.",
    )
    quota_guard: bool = Field(
        default=True,
        description="Check G/P vCPU quotas and AZ offerings during deploy, before the node group is created.",
    )
    autoscaler: Literal["none", "karpenter", "cluster-autoscaler"] = Field(
        default="none",
        description="`none`: a managed node group of desired_size nodes, the capacity until you change it; "
        "`karpenter`: Karpenter launches a GPU node when a model's pod is Pending and removes it once empty, up to "
        "max_size nodes (min_size and desired_size are then not used: the pods decide); `cluster-autoscaler`: the "
        "managed node group stays, and Cluster Autoscaler moves it between min_size (0 allowed) and max_size "
        "(desired_size is not used: the group starts at min_size, and the pods decide).",
    )
    on_demand_nodes: int = Field(
        default=0,
        ge=0,
        description="karpenter with capacity_type spot: nodes bought on-demand before any Spot node (the guide's "
        "on-demand floor, so a Spot reclaim never takes every replica).",
    )
    consolidate_after: Duration = Field(
        default="15m",
        description="karpenter and cluster-autoscaler: how long a GPU node stays empty before it is removed. "
        "Longer than a model's start (minutes), so a brief lull does not cost a reload.",
    )
    expire_after: Duration | Literal["Never"] = Field(
        default="Never",
        description="karpenter: replace a GPU node after this long. Expiry is forceful (no disruption budget, no "
        "replacement started first), so a one-replica model is down while it moves. Never: nodes are replaced "
        "when the pinned AMI alias is bumped, as drift: new node first, one at a time.",
    )

    @property
    def raised_disk_performance(self) -> dict[str, int]:
        """Only what is raised above gp3's included performance: a volume left at the defaults renders as it did
        before these settings existed, so adopting them never replaces a running node."""
        raised = {}
        if self.disk_throughput_mibps > GP3_INCLUDED_MIBPS:
            raised["throughput"] = self.disk_throughput_mibps
        if self.disk_iops > GP3_INCLUDED_IOPS:
            raised["iops"] = self.disk_iops
        return raised

    def check_order(self) -> None:
        """With an autoscaler the pods set the count, so desired_size is not checked against the others."""
        if self.autoscaler == "none":
            super().check_order()
        elif self.min_size > self.max_size:
            raise ValueError(
                f"min_size ({self.min_size}) is above max_size ({self.max_size}); raise max_size or lower min_size"
            )

    @model_validator(mode="after")
    def _fast_pull_has_its_throughput(self) -> Self:
        if not self.fast_image_pull:
            return self
        needed = FAST_IMAGE_PULL_MIN_MIBPS * 1024**2 / 1e6  # MB/s, as EC2 states instance EBS bandwidth
        slow = [spec.name for spec in self.instance_specs if spec.ebs_mbps < needed]
        if self.disk_throughput_mibps < FAST_IMAGE_PULL_MIN_MIBPS or slow:
            raise ValueError(
                f"fast_image_pull needs at least {FAST_IMAGE_PULL_MIN_MIBPS} MiB/s to the root volume, or pulls get "
                f"slower than without it (nodeadm's guidance); disk_throughput_mibps is {self.disk_throughput_mibps}"
                + (f" and the EBS bandwidth of {', '.join(slow)} is below {needed:.0f} MB/s" if slow else "")
                + f"; raise disk_throughput_mibps to {FAST_IMAGE_PULL_MIN_MIBPS} or more, choose instance types with "
                "more EBS bandwidth (g5.8xlarge and up, g6.4xlarge and up), or remove fast_image_pull"
            )
        return self

    @model_validator(mode="after")
    def _gp3_throughput_has_its_iops(self) -> Self:
        needed = self.disk_throughput_mibps * GP3_IOPS_PER_MIBPS
        if self.disk_iops < needed:
            raise ValueError(
                f"disk_throughput_mibps {self.disk_throughput_mibps} needs disk_iops of at least {needed} (gp3 allows "
                f"0.25 MiB/s per IOPS); raise disk_iops to {needed} or lower disk_throughput_mibps"
            )
        return self

    @model_validator(mode="after")
    def _autoscaler_sizes(self) -> Self:
        if self.autoscaler == "karpenter":
            # Set to other than their defaults: a dump of a loaded config still loads.
            fixed = [
                name
                for name in ("min_size", "desired_size")
                if getattr(self, name) != type(self).model_fields[name].default
            ]
            if fixed:
                raise ValueError(
                    f"{' and '.join(fixed)} apply to autoscaler none only: with karpenter the pods decide how many GPU "
                    "nodes run, up to max_size; remove them"
                )
        if (
            self.autoscaler == "cluster-autoscaler"
            and self.desired_size != type(self).model_fields["desired_size"].default
        ):
            raise ValueError(
                "desired_size does not apply to autoscaler cluster-autoscaler: the group starts at min_size and the "
                "pods decide, up to max_size (EKS resizes the group whenever desired_size changes, which would fight "
                "the autoscaler); remove it"
            )
        if self.on_demand_nodes and not (self.autoscaler == "karpenter" and self.capacity_type is CapacityType.SPOT):
            raise ValueError(
                "on_demand_nodes is the on-demand floor under Spot capacity: it needs autoscaler: karpenter and "
                "capacity_type: spot; remove it otherwise"
            )
        if self.on_demand_nodes > self.max_size:
            raise ValueError(
                f"on_demand_nodes ({self.on_demand_nodes}) cannot exceed max_size ({self.max_size}); lower it or raise "
                "max_size"
            )
        return self

    @property
    def karpenter(self) -> bool:
        return self.autoscaler == "karpenter"

    @property
    def cluster_autoscaler(self) -> bool:
        return self.autoscaler == "cluster-autoscaler"

    @property
    def created_sizes(self) -> NodeGroupSize:
        """The managed group's scaling config: under Cluster Autoscaler it starts at min_size, and the template's
        desired size only moves when min_size does (EKS applies it whenever it changes)."""
        if not self.cluster_autoscaler:
            return self
        return NodeGroupSize(min_size=self.min_size, desired_size=self.min_size, max_size=self.max_size)

    @property
    def scales(self) -> bool:
        """A node autoscaler launches GPU nodes up to max_size when pods need them."""
        return self.autoscaler != "none"

    @field_validator("instance_types")
    @classmethod
    def _carry_nvidia_gpus(cls, values: list[str]) -> list[str]:
        known = gpu_instances()
        unknown = [value for value in values if value not in known]
        if unknown:
            families = sorted({name.split(".")[0] for name in known})
            raise ValueError(
                f"{unknown} carry no NVIDIA GPU this app knows; pick instance types of the families "
                f"{', '.join(families)} (or add the type to planning/data/gpu_instances.yaml)"
            )
        if len(set(values)) != len(values):
            raise ValueError(f"instance_types lists a type twice: {values}")
        counts = {name: known[name].gpus for name in values}
        if len(set(counts.values())) > 1:
            raise ValueError(
                f"instance_types mix GPU counts {counts}; a pod's GPU request must fit every node the group "
                "can launch, so list types with the same number of GPUs"
            )
        return values

    @property
    def instance_specs(self) -> list[InstanceSpec]:
        return [gpu_instances()[name] for name in self.instance_types]


DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")]


class ReplicaAutoscalingConfig(Strict):
    """KEDA scales a model's replicas on its queue (and KV cache), read from the observability mode's Prometheus."""

    min_replicas: int = Field(
        default=1,
        ge=0,
        description="Fewest replicas. 0 (scale to zero) is refused for now: without a component that holds the "
        "first request while a pod and a node start, that request would fail.",
    )
    max_replicas: int = Field(default=2, ge=1, description="Most replicas; each needs its own GPU(s) under max_size.")
    waiting_per_replica: int = Field(
        default=5,
        ge=1,
        description="Queued requests (`vllm:num_requests_waiting`) per replica the HPA aims at (it acts beyond a "
        "10 % band: above 5.5 per replica with the default); below observability.alerts.requests_waiting, so "
        "scaling acts before the alert fires.",
    )
    kv_cache_usage: float | None = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Second trigger: target average KV-cache usage (0-1). The HPA ignores a 10 % band around a "
        "target, so one more replica starts above about 0.88 with the default, before vLLM preempts requests "
        "(0.9 would wait for 0.99); empty: the queue alone.",
    )
    scale_down_after_seconds: int = Field(
        default=900,
        ge=60,
        le=3600,
        description="How long the load must stay low before a replica is removed (one at a time); a replica takes "
        "minutes to load, so scale-down waits longer than scale-up, which adds every needed replica at once.",
    )

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min_replicas == 0:
            raise ValueError(
                "min_replicas: 0 (scale to zero) is not supported yet: with no pod, a request has nothing to wait in "
                "and fails; use min_replicas: 1 (Karpenter still removes the GPU nodes the extra replicas used)"
            )
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas}); raise max_replicas"
            )
        return self


class ModelConfig(Strict):
    """One model served by its own vLLM Deployment and Service."""

    name: DnsLabel = Field(description="Short DNS-safe name; the Deployment and Service are `vllm-<name>`.")
    model_id: str = Field(
        pattern=r"^/?[A-Za-z0-9][\w.-]*(/[\w.-]+)*$",
        max_length=200,
        description="Hugging Face model id (or a path inside the pod): `vllm serve MODEL_ID`.",
    )
    served_model_name: str | None = Field(
        default=None, description="Model name clients send in requests. Empty: the model_id."
    )
    replicas: int = Field(
        default=1, ge=1, description="vLLM pods for this model, each on its own GPU(s); with autoscaling, KEDA sets it."
    )
    autoscaling: ReplicaAutoscalingConfig | None = Field(
        default=None,
        description="Scale replicas with KEDA on the queue; needs observability.mode in-cluster, amp, or existing "
        "with prometheus_url. "
        "Empty: `replicas` pods, always.",
    )
    max_model_len: int = Field(
        default=8192, ge=256, description="`--max-model-len`: longest prompt + output in tokens (KV-cache budget)."
    )
    gpu_memory_utilization: float = Field(
        default=0.90,
        gt=0.3,
        le=0.98,
        description="`--gpu-memory-utilization`: share of GPU memory vLLM may claim for weights and KV cache.",
    )
    tensor_parallel_size: int = Field(
        default=1,
        ge=1,
        description="`--tensor-parallel-size`: GPUs one pod shards the model across (= GPUs requested).",
    )
    extra_args: list[str] = Field(
        default=[],
        description="More vLLM flags, one per item, e.g. `[--enable-prefix-caching]`; checked against the pinned "
        "release's flags (config/vllm_serve_flags.json); flags the app sets from fields are refused.",
    )
    cpu: float = Field(default=4, gt=0, description="CPU cores requested (no CPU limit, so it may burst).")
    memory_gib: int = Field(default=16, ge=4, description="Memory requested and limited, GiB (includes /dev/shm use).")
    shm_size_gib: int = Field(default=8, ge=1, description="In-memory /dev/shm size, GiB; counts against memory_gib.")
    gated: bool = Field(
        default=True, description="The model needs a Hugging Face token (e.g. Llama); mounts it from Secrets Manager."
    )
    architecture: str | None = Field(
        default=None,
        description="Row of planning/data/model_architectures.yaml that sizes this model; empty: found by model_id.",
    )
    quantization: Literal["fp8"] | None = Field(
        default=None, description="`--quantization fp8`: FP8 weights, about half the memory of bf16."
    )
    kv_cache_dtype: Literal["auto", "fp8"] = Field(
        default="auto", description="`--kv-cache-dtype`: `fp8` halves the KV cache per token (twice the tokens)."
    )
    tool_calling: bool = Field(
        default=False,
        description="OpenAI-style tool calling: `--enable-auto-tool-choice` with the parser for the model family.",
    )
    weights: Literal["huggingface", "s3-stream"] = Field(
        default="huggingface",
        description="Where the weights come from: `huggingface` (downloaded into the node's cache at first start) "
        "or `s3-stream` (streamed from weights_bucket into GPU memory by the Run:ai streamer; needs revision and "
        "a copy of that commit in the bucket: make load-weights). make plan prints what each costs in start-up time.",
    )
    revision: CommitHash | None = Field(
        default=None,
        description="The model repository's commit (40 hex digits) to serve; s3-stream reads "
        "s3://BUCKET/MODEL_ID/REVISION/. Required with s3-stream.",
    )
    tool_call_parser: str | None = Field(
        default=None,
        description="`--tool-call-parser`; empty: chosen from the model family (Llama 3 -> llama3_json).",
    )

    @model_validator(mode="after")
    def _tool_parser(self) -> Self:
        if self.tool_call_parser and self.tool_call_parser not in tool_call_parsers():
            raise ValueError(
                f"tool_call_parser '{self.tool_call_parser[:60]}' is not one of vLLM's parsers "
                f"({', '.join(sorted(tool_call_parsers()))})"
            )
        if self.tool_calling and not self.resolved_tool_call_parser:
            raise ValueError(
                f"tool_calling is on but no parser is known for '{self.model_id}'; set tool_call_parser "
                f"to one of {', '.join(sorted(tool_call_parsers()))}"
            )
        return self

    @property
    def resolved_tool_call_parser(self) -> str | None:
        if self.tool_call_parser:
            return self.tool_call_parser
        model = self.model_id.lower()
        return next((parser for pattern, parser in FAMILY_TOOL_PARSERS.items() if re.search(pattern, model)), None)

    @field_validator("extra_args")
    @classmethod
    def _known_unmanaged_flags(cls, values: list[str]) -> list[str]:
        problems = extra_args_problems(values)
        if problems:
            raise ValueError("; ".join(problems))
        return values

    @model_validator(mode="after")
    def _streamed_weights_are_pinned(self) -> Self:
        if self.weights == "s3-stream" and not self.revision:
            raise ValueError(
                "weights: s3-stream reads the copy of one commit of the model: set revision to the commit hash "
                "(40 hex digits, on the model page's Files tab or `hf api` / `git ls-remote`), or use weights: "
                "huggingface"
            )
        if self.weights == "s3-stream" and self.model_id.startswith("/"):
            raise ValueError("weights: s3-stream copies a Hugging Face model id, not a path inside the pod")
        return self

    @property
    def weights_prefix(self) -> str:
        """Where its weights live in the weights bucket: one directory per model and commit."""
        return f"{self.model_id}/{self.revision}/"

    @model_validator(mode="after")
    def _shm_fits(self) -> Self:
        if self.shm_size_gib >= self.memory_gib:
            raise ValueError(
                f"shm_size_gib ({self.shm_size_gib}) must be below memory_gib ({self.memory_gib}): a memory-backed "
                "/dev/shm counts against the container's memory limit; lower shm_size_gib or raise memory_gib"
            )
        return self

    @model_validator(mode="after")
    def _replicas_owner(self) -> Self:
        if self.autoscaling and self.replicas != type(self).model_fields["replicas"].default:
            raise ValueError(
                f"replicas ({self.replicas}) is set but autoscaling decides the count between min_replicas and "
                "max_replicas; remove replicas, or remove autoscaling"
            )
        return self

    @property
    def gpus(self) -> int:
        return self.tensor_parallel_size

    @property
    def initial_replicas(self) -> int:
        """Replicas at deploy: what the quota must allow at once."""
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def peak_replicas(self) -> int:
        """Replicas at the most: what the GPU ceiling must hold."""
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model_id


class PlanConfig(Strict):
    """Assumptions of the capacity and cost plan (`make plan`) and of the fit check at synth."""

    runtime_overhead_gib: float = Field(
        default=1.5,
        ge=0,
        description="Per GPU, outside weights, KV cache and one step's activations (which grow with "
        "--max-num-batched-tokens: planning/sizing.py): CUDA graphs, the CUDA context, non-torch memory.",
    )
    # Source: "TP≥2 requires NCCL all-reduce buffers (~2.1 GiB/GPU ...)", github.com/llm-d-incubation/llm-d-planner
    # docs/accuracy/vllm-v0.19.0-accuracy-report.md (commit 2d557dc); vLLM 0.11 showed 0.55 GiB at TP 2, so this leans high.
    tensor_parallel_overhead_gib: float = Field(
        default=2.1,
        ge=0,
        description="More per GPU when tensor_parallel_size > 1: the all-reduce buffers (NCCL and vLLM's own), "
        "~2.1 GiB measured on vLLM 0.19 (llm-d-planner's accuracy report).",
    )
    min_concurrency: int = Field(
        default=4, ge=1, description="Warn when fewer sequences of max_model_len fit in the KV cache at once."
    )
    fail_below_min_concurrency: bool = Field(default=False, description="Make that warning stop synth.")
    average_sequence_tokens: int = Field(
        default=1024, ge=16, description="Prompt + output tokens of a typical request, for the throughput estimate."
    )
    average_output_tokens: int = Field(
        default=256, ge=1, description="Of those, the output tokens (the rest is the prompt, which is prefilled)."
    )
    max_num_seqs: int | None = Field(
        default=None,
        ge=1,
        description="vLLM's batch limit for the plan. Empty: the model's `--max-num-seqs` in extra_args, else the "
        "pinned release's default for its GPU (1024 on GPUs of 70 GiB or more other than the A100, 256 on the rest).",
    )
    utilization: float = Field(
        default=0.5, gt=0, le=1, description="Share of hours the GPUs are busy, for the cost per million tokens."
    )
    spot_discount: float = Field(default=0.6, ge=0, lt=1, description="Spot price = on-demand x (1 - discount).")
    api_price_per_million_output_tokens: float = Field(
        default=0.60, ge=0, description="USD per million output tokens of the hosted API you compare against."
    )

    @model_validator(mode="after")
    def _output_within_sequence(self) -> Self:
        if self.average_output_tokens >= self.average_sequence_tokens:
            raise ValueError(
                f"plan.average_output_tokens {self.average_output_tokens} must be below average_sequence_tokens "
                f"{self.average_sequence_tokens}, which counts the prompt too"
            )
        return self


class ColdStartConfig(Strict):
    """Targets for a model server's start (`make plan` prints the budget of every phase against them)."""

    new_node_seconds: int = Field(
        default=90, ge=1, description="From a Pending pod on a node that does not exist yet to a Ready model."
    )
    warm_node_seconds: int = Field(
        default=20, ge=1, description="A restart on a node that has served the model before (image and caches there)."
    )
    over_target: Literal["warn", "refuse"] = Field(
        default="warn", description="What synth does when the configured path's budget is over a target."
    )


class BenchmarkShape(Strict):
    """One kind of traffic `make bench-endpoint` sends: fixed prompt and output lengths, at each concurrency."""

    name: DnsLabel = Field(description="Names the shape in the report, e.g. `chat`.")
    input_tokens: int = Field(ge=1, description="Prompt tokens per request, shared prefix included.")
    output_tokens: int = Field(ge=1, description="Output tokens per request (the end-of-sequence token is ignored).")
    shared_prefix_tokens: int = Field(
        default=0, ge=0, description="Leading prompt tokens every request shares (an agent's system prompt and tools)."
    )
    concurrencies: list[int] = Field(
        min_length=1, description="Requests in flight, one run each, e.g. `[1, 8, 32]`; ascending."
    )
    requests_per_client: int = Field(
        default=4, ge=1, description="Requests per run = concurrency x this, so every run reaches its steady state."
    )

    def fits(self, model: ModelConfig) -> bool:
        """vLLM accepts the shape's requests: prompt and output within the model's max_model_len."""
        return self.input_tokens + self.output_tokens <= model.max_model_len

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.shared_prefix_tokens >= self.input_tokens:
            raise ValueError(
                f"shared_prefix_tokens {self.shared_prefix_tokens} must be below input_tokens {self.input_tokens}: "
                "the prefix is part of the prompt"
            )
        if any(level < 1 for level in self.concurrencies) or self.concurrencies != sorted(set(self.concurrencies)):
            raise ValueError(f"concurrencies {self.concurrencies} must be positive, distinct and ascending")
        return self


def _default_benchmark_shapes() -> list[BenchmarkShape]:
    return [
        # A chat turn: a short question, a paragraph of answer.
        BenchmarkShape(name="chat", input_tokens=512, output_tokens=256, concurrencies=[1, 8, 32]),
        # An agent step: a long system prompt and tool list every request repeats, a short tool call back.
        BenchmarkShape(
            name="agent", input_tokens=4096, output_tokens=128, shared_prefix_tokens=3072, concurrencies=[1, 8, 32]
        ),
    ]


class BenchmarkConfig(Strict):
    """What `make bench-endpoint` measures against a deployed model (a Job on the system nodes)."""

    shapes: list[BenchmarkShape] = Field(
        default_factory=_default_benchmark_shapes,
        min_length=1,
        description="Traffic shapes, each run at each of its concurrencies (list fields: `benchmark.shapes[].*`).",
    )
    deadline_minutes: int = Field(
        default=60, ge=5, le=1440, description="The Job stops itself after this long, finished or not."
    )

    @field_validator("shapes")
    @classmethod
    def _unique_shape_names(cls, shapes: list[BenchmarkShape]) -> list[BenchmarkShape]:
        names = [shape.name for shape in shapes]
        if len(set(names)) != len(names):
            raise ValueError(f"shape names must be unique, got {names}")
        return shapes


class AlertConfig(Strict):
    """Thresholds of the alert rules (observability/rules.py), each with the reason for its default."""

    gpu_idle_percent: float = Field(
        default=5, ge=0, le=100, description="GPU utilisation below this is idle (the guide: under 5 % is waste)."
    )
    gpu_idle_for: Duration = Field(default="2h", description="How long idle before the paid-for-nothing alert.")
    kv_cache_full: float = Field(
        default=0.95, gt=0, le=1, description="KV-cache usage (0-1) that means requests are about to be preempted."
    )
    kv_cache_full_for: Duration = Field(default="10m", description="How long the cache stays that full.")
    requests_waiting: int = Field(default=10, ge=1, description="Queued requests per model that mean too few replicas.")
    requests_waiting_for: Duration = Field(default="5m", description="How long the queue stays that long.")
    ttft_p95_seconds: float = Field(default=2.0, gt=0, description="Time-to-first-token SLO at the 95th percentile.")
    gpu_temperature_c: float = Field(default=85, gt=0, description="GPU temperature that means throttling.")


def _email_address(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", value) or len(value) > 254:
        raise ValueError(f"'{value[:80]}' is not an e-mail address; write it as name@example.com")
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]


def _bucket_name(value: str) -> str:
    # S3's general-purpose bucket naming rules; dots are refused too, because they break TLS to virtual-host URLs.
    if (
        not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", value)
        or value.startswith("xn--")
        or value.endswith(("-s3alias", "--ol-s3"))
    ):
        raise ValueError(
            f"'{value[:80]}' is not a usable S3 bucket name: 3-63 lower-case letters, digits and hyphens, starting "
            "and ending with a letter or digit (bucket names are global: include your organisation, e.g. "
            "acme-vllm-weights-dev)"
        )
    return value


BucketName = Annotated[str, AfterValidator(_bucket_name)]


class WeightsBucketConfig(Strict):
    """The S3 bucket that holds model weights in the account (weights: s3-stream)."""

    name: BucketName = Field(description="Globally unique bucket name, e.g. acme-vllm-weights-dev.")
    existing: bool = Field(
        default=False,
        description="The bucket exists already (kept from an earlier weights stack, or made elsewhere): no weights "
        "stack is created, the model servers are only granted read access to it.",
    )
    noncurrent_version_days: int = Field(
        default=30,
        ge=1,
        description="Days an overwritten or deleted object's old version is kept before S3 expires it.",
    )


class AmpConfig(Strict):
    """Amazon Managed Service for Prometheus: where its alerts go."""

    alert_emails: list[EmailAddress] = Field(
        default=[],
        description="Addresses subscribed to the alert topic (each confirms by mail). Empty: subscribe your own "
        "endpoints to the topic the monitoring stack outputs.",
    )
    retention_days: int = Field(
        default=150, ge=1, le=1095, description="How long the workspace keeps samples (AMP's default: 150)."
    )


class InClusterConfig(Strict):
    """kube-prometheus-stack installed by the app on the system nodes."""

    retention: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(h|d|w)$")] = Field(
        default="15d", description="How long Prometheus keeps samples (e.g. 15d, 4w)."
    )
    storage_gib: int = Field(
        default=50,
        ge=10,
        le=1000,
        description="Prometheus's gp3 volume. An estimate, not a measurement: Prometheus stores about 1-2 bytes "
        "per sample (its storage docs), so 1,000 series at the 30 s scrape take about 2,880 x 1,000 x 2 B = 6 MB "
        "a day; 50 leaves room for a large fleet over 15 days plus the WAL.",
    )
    grafana: bool = Field(default=True, description="Install Grafana with the dashboard (admin password random).")


class ObservabilityConfig(Strict):
    mode: Literal["none", "existing", "in-cluster", "amp"] = Field(
        default="none",
        description="`none`: the rules and the dashboard are written to dist/ENV/ only; `existing`: the cluster runs "
        "the Prometheus Operator (kube-prometheus-stack), so ServiceMonitors for vLLM and DCGM, a PrometheusRule and "
        "the dashboard ConfigMap are applied too (without the operator's CRDs the deploy would fail, hence not the "
        "default on a new cluster); `in-cluster`: the app installs kube-prometheus-stack (Helm) on the system nodes, "
        "then the same objects as `existing`; `amp`: a monitoring stack with an Amazon Managed Service for Prometheus "
        "workspace, its agentless scraper, the rules and an SNS alert topic (needs exposure.api_key: the scraper "
        "reaches the model servers from VPC addresses).",
    )
    prometheus_url: str | None = Field(
        default=None,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[\w./-]*)?$",
        description="existing: your Prometheus's query URL inside the cluster, which KEDA reads a model's queue from "
        "(e.g. http://kube-prometheus-stack-prometheus.monitoring.svc:9090); needed by models[].autoscaling.",
    )
    selector_labels: dict[str, str] = Field(
        default={"release": "kube-prometheus-stack"},
        description="existing: labels your Prometheus selects ServiceMonitors and PrometheusRules by "
        "(kube-prometheus-stack: release: <its Helm release name>); in-cluster: the labels the installed "
        "Prometheus selects by.",
    )
    in_cluster: InClusterConfig = Field(default_factory=InClusterConfig)
    amp: AmpConfig = Field(default_factory=AmpConfig)

    # What each mode means, decided here once; charts, stacks and add-ons read these, never the mode string.
    @property
    def installs_prometheus(self) -> bool:
        """kube-prometheus-stack by Helm, and the EBS volume it stores on."""
        return self.mode == "in-cluster"

    @property
    def operator_objects(self) -> bool:
        """ServiceMonitors, the PrometheusRule and the dashboard ConfigMap for a Prometheus Operator."""
        return self.mode in ("existing", "in-cluster")

    @property
    def managed_prometheus(self) -> bool:
        """AMP: its scraper reads /metrics from network interfaces in the VPC, not from a pod, and collects
        no kube-state-metrics."""
        return self.mode == "amp"

    alerts: AlertConfig = Field(default_factory=AlertConfig)


class ExposureMode(StrEnum):
    CLUSTER_IP = "cluster-ip"
    INTERNAL_NLB = "internal-nlb"
    ALB = "alb"


class ExposureConfig(Strict):
    """How clients reach the models. Never open without a key; never cut a long stream."""

    mode: ExposureMode = Field(
        default=ExposureMode.CLUSTER_IP,
        description="`cluster-ip`: in-cluster Service only; `internal-nlb`: an internal NLB per model; "
        "`alb`: one HTTPS ALB (Ingress) for all models.",
    )
    certificate_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$",
        description="ACM certificate for the ALB's HTTPS listener (required with alb; optional TLS for the NLB).",
    )
    host: str | None = Field(
        default=None,
        description="ALB host name, e.g. llm.internal.example.com; with several models include `{model}`.",
    )
    public: bool = Field(
        default=False, description="alb only: internet-facing instead of internal. Synth warns; needs api_key."
    )
    api_key: bool = Field(
        default=True,
        description="Require an api key (generated into Secrets Manager). false only with mode cluster-ip.",
    )
    client_cidrs: list[Cidr] = Field(
        default=[],
        description="Extra CIDRs the NetworkPolicy lets reach vLLM; load balancers in the VPC are always allowed.",
    )

    @field_validator("host")
    @classmethod
    def _dns_name(cls, host: str | None) -> str | None:
        if host is None:
            return host
        name = host.replace("{model}", "model")
        labels = name.split(".")
        if len(name) > 253 or len(labels) < 2 or not all(DNS_LABEL.fullmatch(label) for label in labels):
            raise ValueError(
                f"'{host[:80]}' is not a DNS name: dot-separated labels of lower-case letters, digits and inner "
                "hyphens, at most 63 characters each (with several models, {model} stands for each model's name)"
            )
        return host

    @model_validator(mode="after")
    def _safe(self) -> Self:
        if self.mode is ExposureMode.ALB and not (self.certificate_arn and self.host):
            raise ValueError(
                "mode alb needs certificate_arn (an ACM certificate) and host for its HTTPS listener; "
                "set both, or use mode internal-nlb"
            )
        if self.public and self.mode is not ExposureMode.ALB:
            raise ValueError("public applies to mode alb only; remove it or set mode: alb")
        if not self.api_key and self.mode is not ExposureMode.CLUSTER_IP:
            raise ValueError(
                f"api_key: false with mode {self.mode.value} would put an unauthenticated endpoint on a "
                "load balancer; keep api_key: true, or use mode cluster-ip"
            )
        return self

    @property
    def load_balanced(self) -> bool:
        return self.mode is not ExposureMode.CLUSTER_IP


class EnvironmentConfig(Strict):
    """One deployment environment: where it goes and what it builds."""

    name: str = Field(description="Environment name: the file name without .yaml (set by the loader).")
    account: AccountId | None = Field(
        default=None, description="12-digit AWS account. Empty: CDK_DEFAULT_ACCOUNT (your credentials) at deploy."
    )
    region: Region = Field(description="AWS region. Empty: CDK_DEFAULT_REGION.")
    network: NetworkConfig
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_node_group: GpuNodeGroupConfig = Field(default_factory=GpuNodeGroupConfig)
    models: list[ModelConfig] = Field(
        min_length=1, description="Models to serve; one vLLM Deployment + Service each (list fields below)."
    )
    exposure: ExposureConfig = Field(default_factory=ExposureConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    plan: PlanConfig = Field(default_factory=PlanConfig)
    cold_start: ColdStartConfig = Field(default_factory=ColdStartConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    weights_bucket: WeightsBucketConfig | None = Field(
        default=None,
        description="An S3 bucket for model weights, created by the weights stack (kept when the stack is "
        "deleted). Needed by models with weights: s3-stream.",
    )
    mirror_images: bool = Field(
        default=False,
        description="Pull images through the account's ECR (pull-through cache) instead of Docker Hub. "
        "Needs an explicit account; images ECR cannot mirror (nvcr.io) stay public.",
    )
    tags: dict[str, str] = Field(
        default={}, description="Tags added to every taggable resource (`environment` is added for you)."
    )

    @field_validator("tags")
    @classmethod
    def _no_environment_tag(cls, tags: dict[str, str]) -> dict[str, str]:
        if "environment" in tags:
            raise ValueError("the environment tag is set from the file name; remove tags.environment")
        for key, value in tags.items():
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag key '{key[:60]}' starts with aws:, which AWS reserves; rename it")
            if key.startswith(KARPENTER_TAG_PREFIXES) or key == "eks:eks-cluster-name":
                raise ValueError(
                    f"tag key '{key[:60]}' is one Karpenter and EKS set on the nodes themselves (its EC2NodeClass "
                    "refuses it); rename it"
                )
            if not (
                1 <= len(key) <= 128 and len(value) <= 256 and TAG_TEXT.fullmatch(key) and TAG_TEXT.fullmatch(value)
            ):
                raise ValueError(
                    f"tag '{key[:60]}' is not a valid AWS tag: keys 1-128 and values up to 256 characters of letters, "
                    "digits, spaces and _ . : / = + - @"
                )
        return tags

    @model_validator(mode="after")
    def _zones_in_region(self) -> Self:
        stray = [zone for zone in self.network.availability_zones if not re.fullmatch(rf"{self.region}[a-z]", zone)]
        if stray:
            raise ValueError(
                f"network.availability_zones {stray} are not zones of region {self.region}; "
                f"name zones such as {self.region}a, {self.region}b"
            )
        if self.mirror_images and not self.account:
            raise ValueError(
                "mirror_images needs the account whose ECR serves the images: set account: in the file "
                "(or synthesize with AWS credentials), or set mirror_images: false"
            )
        if self.network.existing_vpc_id and not self.account:
            raise ValueError(
                "network.existing_vpc_id needs an explicit account (set account: or CDK_DEFAULT_ACCOUNT) "
                "because the VPC is looked up in that account"
            )
        return self

    @model_validator(mode="after")
    def _streamed_weights_have_a_bucket(self) -> Self:
        streamed = [model.name for model in self.models if model.weights == "s3-stream"]
        if streamed and not self.weights_bucket:
            raise ValueError(
                f"models {streamed} stream their weights from S3, but there is no weights_bucket: add "
                "weights_bucket: {name: <a globally unique bucket name>} (the weights stack creates it), or use "
                "weights: huggingface"
            )
        return self

    @model_validator(mode="after")
    def _benchmark_fits_every_model(self) -> Self:
        if self.benchmark.shapes == BenchmarkConfig().shapes:
            return self  # the default shapes are left out where they do not fit (charts/benchmark.py)
        for index, shape in enumerate(self.benchmark.shapes):
            for model_index, model in enumerate(self.models):
                if not shape.fits(model):
                    raise ValueError(
                        f"benchmark.shapes[{index}] ({shape.name}): {shape.input_tokens} + {shape.output_tokens} "
                        f"tokens exceed models[{model_index}] ({model.name}) max_model_len {model.max_model_len}, "
                        "so vLLM would refuse every request; shorten the shape or raise max_model_len"
                    )
        return self

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        names = [model.name for model in models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        return models

    _source_file: str = PrivateAttr(default="")

    @property
    def source_file(self) -> str:
        """The file this environment was read from, for error messages."""
        return self._source_file or f"config/{self.name}.yaml"

    @property
    def stack_prefix(self) -> str:
        return f"vllm-{self.name}"

    @model_validator(mode="after")
    def _certificate_region(self) -> Self:
        arn = self.exposure.certificate_arn
        if arn and arn.split(":")[3] != self.region:
            raise ValueError(
                f"exposure.certificate_arn is in {arn.split(':')[3]} but the load balancer is in {self.region}; "
                "ACM certificates are regional: request or import the certificate in "
                f"{self.region} and use its ARN"
            )
        return self

    @model_validator(mode="after")
    def _autoscaling_reads_a_prometheus(self) -> Self:
        scaled = [model.name for model in self.models if model.autoscaling]
        mode = self.observability.mode
        if not scaled or mode in ("in-cluster", "amp") or (mode == "existing" and self.observability.prometheus_url):
            return self
        fixes = {
            "none": "set observability.mode: in-cluster (the app installs Prometheus) or existing with "
            "observability.prometheus_url",
            "existing": "set observability.prometheus_url to your Prometheus's in-cluster query URL",
        }
        raise ValueError(
            f"models {scaled} scale on their queue, which KEDA reads from Prometheus, but observability.mode is {mode}: "
            f"{fixes[mode]}"
        )

    @model_validator(mode="after")
    def _scraped_from_the_vpc(self) -> Self:
        if self.observability.managed_prometheus and not self.exposure.api_key:
            raise ValueError(
                "observability.mode amp scrapes the model servers from addresses in the VPC, so their port is open "
                "to the VPC; set exposure.api_key: true so the API is not open with it, or use mode existing"
            )
        return self

    @model_validator(mode="after")
    def _hosts(self) -> Self:
        host = self.exposure.host
        if self.exposure.mode is ExposureMode.ALB and host and len(self.models) > 1 and "{model}" not in host:
            raise ValueError(
                f"exposure.host '{host}' serves {len(self.models)} models from one ALB; include {{model}} "
                "(e.g. {model}.llm.example.com) so each model gets its own host"
            )
        return self

    def image(self, name: str) -> Image:
        """The image a chart runs: pinned upstream, or its ECR mirror when mirror_images is on."""
        pinned = IMAGES[name]
        return pinned.mirrored(self.account, self.region) if self.mirror_images and self.account else pinned

    @model_validator(mode="after")
    def _controller(self) -> Self:
        if self.exposure.load_balanced and not self.cluster.load_balancer_controller:
            raise ValueError(
                f"exposure.mode {self.exposure.mode.value} needs the AWS Load Balancer Controller; set "
                "cluster.load_balancer_controller: true"
            )
        return self

    def model_host(self, model: ModelConfig) -> str:
        return (self.exposure.host or "").replace("{model}", model.name)

    @property
    def api_key_secret_name(self) -> str:
        """Secrets Manager name of the generated vLLM api key that clients send as a bearer token."""
        return f"{self.stack_prefix}/api-key"

    @property
    def creates_weights_bucket(self) -> bool:
        """Whether the weights stack exists: a weights bucket is configured and not adopted (`existing`)."""
        return self.weights_bucket is not None and not self.weights_bucket.existing

    @property
    def hf_token_secret_name(self) -> str:
        """Secrets Manager name of the Hugging Face token: the stack creates it, the chart mounts it."""
        return f"{self.stack_prefix}/huggingface-token"
