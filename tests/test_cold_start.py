"""The cold-start budget: its facts, each phase's arithmetic, the targets, the probe, and what the volume buys."""

import gzip
import io
import json
import re
from pathlib import Path

import moto
import pytest
from rich.console import Console

from charts.vllm import NODE_COMPILE_CACHE, VLLM_CACHE
from config import ConfigError
from config.vllm import STARTUP_PROBE_FAILURES, STARTUP_PROBE_PERIOD_SECONDS, VLLM_IMAGE
from planning import cold_start
from planning.catalog import gpu_instances
from planning.cold_start import (
    PHASES,
    WEIGHT_SOURCES,
    Disk,
    environment_budgets,
    image_pull_seconds,
    weights_phases,
)
from planning.findings import Kind, Severity
from scripts import plan as plan_script
from tests.conftest import ENVIRONMENTS, RENDERED_ENVIRONMENTS, load
from tests.test_config import dev_with

G5_2XL = gpu_instances()["g5.2xlarge"]
WEIGHTS = 16e9


def test_the_image_facts_are_for_the_pinned_release():
    assert cold_start.facts()["image"]["tag"] == VLLM_IMAGE.tag, "bump the image size with the vLLM pin"


def test_network_and_ebs_limits_are_ec2s_own():
    """The catalog's bandwidths against DescribeInstanceTypes as moto records it."""
    recorded = json.loads(
        gzip.decompress((Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz").read_bytes())
    )
    for name, spec in gpu_instances().items():
        info = recorded[name]
        assert spec.network_gbps == info["NetworkInfo"]["NetworkCards"][0]["PeakBandwidthInGbps"], name
        assert spec.ebs_mbps == info["EbsInfo"]["EbsOptimizedInfo"]["MaximumThroughputInMBps"], name


def test_the_slower_of_the_volume_and_the_instance_link_bounds_the_disk():
    assert Disk(125, 437.5).bytes_per_second == 125 * 1024**2
    assert Disk(1000, 437.5).bytes_per_second == 437.5e6
    assert "EBS limit 437.5 MB/s" in Disk(1000, 437.5).describe()


def test_image_pull_is_the_published_pull_or_the_disk_write_whichever_is_slower():
    # 26.36 GB unpacked at 125 MiB/s; the published 112.33 s for 10.78 GB scales to 114.80 s for 11.02 GB.
    assert image_pull_seconds(Disk(125, 437.5)).seconds == pytest.approx(201.09, abs=0.01)
    assert image_pull_seconds(Disk(1000, 437.5)).seconds == pytest.approx(114.80, abs=0.01)


def test_weights_by_source_hand_computed():
    slow_disk = Disk(125, 437.5)
    fetch, load_phase = weights_phases("huggingface", "new", WEIGHTS, G5_2XL, slow_disk)
    assert fetch.seconds == pytest.approx(122.07, abs=0.01)  # 16 GB / 125 MiB/s, below the Hub and the network
    assert load_phase.seconds == pytest.approx(51.19, abs=0.01)  # 16 GB / (15 GB / 47.99 s)
    fetch, load_phase = weights_phases("huggingface", "warm", WEIGHTS, G5_2XL, slow_disk)
    assert fetch.seconds == 0 and load_phase.seconds == pytest.approx(122.07, abs=0.01)  # read back from the disk
    fetch, load_phase = weights_phases("s3-stream", "new", WEIGHTS, G5_2XL, slow_disk)
    assert fetch.seconds == pytest.approx(12.8) and load_phase.seconds == 0  # g5.2xlarge's 10 Gbit/s
    fetch, _ = weights_phases("s3-stream", "new", WEIGHTS, gpu_instances()["g5.12xlarge"], slow_disk)
    assert fetch.seconds == pytest.approx(5.205, abs=0.001)  # 40 Gbit/s: the streamer's 15 GB in 4.88 s binds
    fetch, _ = weights_phases("s3-mount", "new", WEIGHTS, G5_2XL, slow_disk)
    assert fetch.seconds == pytest.approx(51.19, abs=0.01)  # the loader, not Mountpoint, is the limit


def test_load_and_graph_phases_reproduce_run_ais_end_to_end_vllm_start():
    """Run:ai's benchmark also timed vLLM (0.5.5, no torch.compile) from start to ready on g5.12xlarge with the
    same 15 GB: the budget's weights, load and CUDA graph phases for that case land within 15 % of it."""
    facts, instance = cold_start.facts(), gpu_instances()["g5.12xlarge"]
    disk = Disk(1000, instance.ebs_mbps)
    graphs = facts["graph_capture"]["seconds"]
    for source, measured in (
        ("s3-stream", facts["vllm_ready"]["s3_stream_seconds"]),
        ("huggingface", facts["vllm_ready"]["gp3_safetensors_seconds"]),
    ):
        node = "new" if source == "s3-stream" else "warm"  # warm: read from the local disk, as Run:ai did
        fetch, load_phase = weights_phases(source, node, 15e9, instance, disk)
        assert fetch.seconds + load_phase.seconds + graphs == pytest.approx(measured, rel=0.15), source


def test_a_warm_node_skips_launch_and_pull_and_reuses_the_compile_cache():
    budgets = environment_budgets(load("dev"))["llama3-8b"]
    compile_facts = cold_start.facts()["compile"]
    for source in WEIGHT_SOURCES:
        new, warm = budgets[(source, "new")], budgets[(source, "warm")]
        assert [phase.name for phase in new.phases] == list(PHASES)
        by_name = {phase.name: phase.seconds for phase in warm.phases}
        assert by_name["node launch"] == by_name["image pull"] == 0
        assert by_name["torch.compile"] == compile_facts["cached_seconds"]
        assert {phase.name: phase.seconds for phase in new.phases}["torch.compile"] == compile_facts["cold_seconds"]
        assert new.total_seconds == pytest.approx(sum(phase.seconds for phase in new.phases))
        assert warm.total_seconds < new.total_seconds


@pytest.mark.parametrize("env_name", RENDERED_ENVIRONMENTS)
def test_the_startup_probe_outlasts_the_slowest_budget_twice_over(env_name):
    slowest = max(
        result.total_seconds for budgets in environment_budgets(load(env_name)).values() for result in budgets.values()
    )
    assert 2 * slowest <= STARTUP_PROBE_PERIOD_SECONDS * STARTUP_PROBE_FAILURES


def test_the_metrics_down_alert_waits_out_the_slowest_budgeted_start():
    from charts.bundle import prometheus_rules

    rules = [rule for group in prometheus_rules(load("dev"))["groups"] for rule in group["rules"]]
    (down,) = [rule for rule in rules if rule.get("alert") == "MetricsTargetDown"]
    minutes = int(down["for"].removesuffix("m"))
    for env_name in RENDERED_ENVIRONMENTS:
        slowest = max(
            result.total_seconds
            for budgets in environment_budgets(load(env_name)).values()
            for (_, node), result in budgets.items()
            if node == "new"
        )
        assert minutes * 60 > slowest, env_name


def test_the_configured_path_over_target_warns_by_default_and_refuses_when_asked():
    over = cold_start.cold_start_findings(load("dev"))
    assert {finding.kind for finding in over} == {Kind.COLD_START_OVER_TARGET}
    assert all(finding.severity is Severity.WARNING for finding in over)
    assert any(
        "on a new node is budgeted at" in finding.message and "huggingface" in finding.message for finding in over
    )
    refused = cold_start.cold_start_findings(
        load("dev").model_copy(
            update={"cold_start": load("dev").cold_start.model_copy(update={"over_target": "refuse"})}
        )
    )
    assert refused and all(finding.severity is Severity.PROBLEM for finding in refused)
    generous = load("dev").cold_start.model_copy(update={"new_node_seconds": 3600, "warm_node_seconds": 3600})
    assert cold_start.cold_start_findings(load("dev").model_copy(update={"cold_start": generous})) == []


def test_the_warm_target_is_checked_on_its_own():
    config = load("dev")
    targets = config.cold_start.model_copy(update={"new_node_seconds": 3600, "warm_node_seconds": 1})
    (finding,) = cold_start.cold_start_findings(config.model_copy(update={"cold_start": targets}))
    assert "on a warm node is budgeted at" in finding.message and "cold_start.warm_node_seconds 1" in finding.message


def test_make_plan_refuses_an_over_target_start_when_told_to(tmp_path):
    import yaml

    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(dev_with(cold_start={"over_target": "refuse"})))
    buffer = io.StringIO()
    code = plan_script.main(["--env", "strict", "--config-dir", str(tmp_path)], console=Console(file=buffer, width=400))
    assert code == 2
    assert "cold_start.new_node_seconds 90" in buffer.getvalue()


def test_raised_volume_performance_is_priced_and_shortens_the_pull():
    base = load("dev").gpu_node_group
    assert cold_start.disk_usd_per_month(base.model_copy(update={"disk_throughput_mibps": 400})) == pytest.approx(11.0)
    assert cold_start.disk_usd_per_month(
        base.model_copy(update={"disk_throughput_mibps": 1000, "disk_iops": 4000})
    ) == pytest.approx(40.0)
    assert load("dev").gpu_node_group.disk_throughput_mibps == 400
    default_disk = load("dev").model_copy(
        update={"gpu_node_group": base.model_copy(update={"disk_throughput_mibps": 125})}
    )
    pull = {
        phase.name: phase.seconds
        for phase in environment_budgets(default_disk)["llama3-8b"][("huggingface", "new")].phases
    }
    raised = {
        phase.name: phase.seconds
        for phase in environment_budgets(load("dev"))["llama3-8b"][("huggingface", "new")].phases
    }
    assert raised["image pull"] < pull["image pull"] - 60


def test_gp3_throughput_without_its_iops_is_refused(tmp_path):
    import yaml

    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(dev_with(gpu_node_group={"disk_throughput_mibps": 1000})))
    with pytest.raises(ConfigError) as error:
        load_from(tmp_path, "fast")
    assert "gpu_node_group" in str(error.value) and "disk_iops of at least 4000" in str(error.value)


def load_from(directory: Path, name: str):
    from config import load_environment

    return load_environment(name, config_dir=directory, environ={})


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_plan_json_carries_every_budget_with_its_sources(env_name, capsys):
    assert plan_script.main(["--env", env_name, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)["cold_start"]
    assert document["startup_probe_allowance_seconds"] == 1800
    assert document["targets"] == {"new_node_seconds": 90, "warm_node_seconds": 20, "over_target": "warn"}
    (model,) = document["models"].values()
    assert {(entry["weight_source"], entry["node"]) for entry in model["budgets"]} == {
        (source, node) for source in WEIGHT_SOURCES for node in ("new", "warm")
    }
    for entry in model["budgets"]:
        assert [phase["phase"] for phase in entry["phases"]] == list(PHASES)
        assert all(phase["how"] for phase in entry["phases"])
        assert entry["built"] == (entry["weight_source"] != "s3-mount")


def test_the_plan_table_prints_every_source_and_how_the_configured_one_is_reckoned():
    buffer = io.StringIO()
    assert plan_script.main(["--env", "dev"], console=Console(file=buffer, width=300)) == 0
    text = buffer.getvalue()
    assert "cold start, seconds (targets: new node 90 s, warm node 20 s)" in text
    assert "huggingface (configured), new node" in text and "s3-mount (not built), warm node" in text
    assert "s3-stream, warm node" in text
    assert "image pull: 115 s = max(112.33 s measured" in text
    assert "gp3 400 MiB/s, 3000 IOPS (+$11.00 a month per node" in text


def test_the_compile_cache_survives_a_restart_on_the_node_and_is_per_release(dev):
    from tests.manifests import documents, find

    deployment = find(documents(dev.stacks.inference.charts["vllm"]), "Deployment", "vllm-llama3-8b")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "VLLM_CACHE_ROOT", "value": VLLM_CACHE} in container["env"]
    assert {"name": "compile-cache", "mountPath": VLLM_CACHE} in container["volumeMounts"]
    volume = next(volume for volume in pod["volumes"] if volume["name"] == "compile-cache")
    assert volume["hostPath"] == {"path": f"{NODE_COMPILE_CACHE}/{VLLM_IMAGE.tag}", "type": "DirectoryOrCreate"}
    assert container["startupProbe"]["periodSeconds"] == STARTUP_PROBE_PERIOD_SECONDS
    assert container["startupProbe"]["failureThreshold"] == STARTUP_PROBE_FAILURES


def test_the_gpu_root_volume_gets_the_raised_throughput_and_nothing_when_left_at_the_default(synth_env):
    from tests.test_autoscaling import _applied, _node_class

    dev = synth_env("dev")
    ebs = _node_class(_applied(dev))["blockDeviceMappings"][0]["ebs"]
    assert ebs["throughput"] == 400 and "iops" not in ebs
    template = synth_env("node-group").template("cluster")
    for resource in template.find_resources("AWS::EC2::LaunchTemplate").values():
        root = resource["Properties"]["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]
        assert "Throughput" not in root and "Iops" not in root, "defaults render as before: no node replaced"


def test_fast_image_pull_halves_the_pull_where_the_disk_keeps_up():
    fast_disk = Disk(1000, gpu_instances()["g5.8xlarge"].ebs_mbps)  # 2000 MB/s link: the volume's 1000 MiB/s binds
    # 59.8 s with SOCI parallel pull for 10.78 GB, scaled to 11.02 GB; the 26.4 GB unpacked take 25 s at 1000 MiB/s.
    assert image_pull_seconds(fast_disk, fast=True).seconds == pytest.approx(61.11, abs=0.01)
    assert image_pull_seconds(fast_disk).seconds == pytest.approx(114.80, abs=0.01)
    assert "SOCI parallel pull" in image_pull_seconds(fast_disk, fast=True).how


def test_fast_image_pull_is_refused_where_nodeadm_says_it_slows_pulls(tmp_path):
    import yaml

    from config import load_environment

    cases = {
        "slow-volume": (
            {"instance_types": ["g5.8xlarge"], "disk_throughput_mibps": 400},
            "disk_throughput_mibps is 400",
        ),
        "slow-link": (
            {"instance_types": ["g5.2xlarge"], "disk_throughput_mibps": 1000, "disk_iops": 4000},
            "the EBS bandwidth of g5.2xlarge is below 629 MB/s",
        ),
    }
    for name, (changes, expected) in cases.items():
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump(dev_with(gpu_node_group={**changes, "fast_image_pull": True}))
        )
        with pytest.raises(ConfigError) as error:
            load_environment(name, config_dir=tmp_path, environ={})
        assert "fast_image_pull needs at least 600 MiB/s" in str(error.value) and expected in str(error.value), name
    accepted = {"instance_types": ["g5.8xlarge"], "disk_throughput_mibps": 1000, "disk_iops": 4000}
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(dev_with(gpu_node_group={**accepted, "fast_image_pull": True})))
    config = load_environment("fast", config_dir=tmp_path, environ={})
    budgets = environment_budgets(config)["llama3-8b"]
    pull = {phase.name: phase.seconds for phase in budgets[("huggingface", "new")].phases}["image pull"]
    assert pull == pytest.approx(61.11, abs=0.01)


def test_the_fast_pull_threshold_is_600_mib_per_second_in_ec2s_megabytes():
    from config.model import GpuNodeGroupConfig

    # g6.xlarge's EBS link: 625 MB/s, over 600 MB/s but under 600 MiB/s (629.1 MB/s).
    with pytest.raises(ValueError, match=re.escape("the EBS bandwidth of g6.xlarge is below 629 MB/s")):
        GpuNodeGroupConfig(
            instance_types=["g6.xlarge"], disk_throughput_mibps=600, disk_iops=3000, fast_image_pull=True
        )
