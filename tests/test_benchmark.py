"""Issue 15's benchmark Job: the manifest, the pinned client's recorded output, and the comparison script."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from charts.bench_runs import RESULT_MARKER, bench_runs, job_name
from charts.benchmark import BENCH_APP, client_args, service_url
from charts.bundle import BENCHMARK_DIR, environment_charts, side_files
from charts.vllm import NAMESPACE, SECRET_PROVIDER_CLASS, SECRETS_MOUNT
from config import load_environment
from config.loader import ConfigError
from config.scheduling import GPU_NODE_LABELS, GPU_TAINT
from config.secrets import API_KEY_FILE
from planning.sizing import plan_environment
from scripts import bench_endpoint
from scripts.bench_endpoint import RunResult, parse_results, report, run_job, waiting_reason
from tests.conftest import ROOT
from tests.manifests import documents, find, gpu_request, validate_strictly

RECORDED_LOG = ROOT / "tests" / "fixtures" / "bench" / "job.log"
# The shapes tests/fixtures/bench/record.py ran the pinned client with.
RECORDED_SHAPES = {
    "shapes": [
        {"name": "chat", "input_tokens": 64, "output_tokens": 16, "concurrencies": [1, 4], "requests_per_client": 2},
        {
            "name": "agent",
            "input_tokens": 128,
            "output_tokens": 8,
            "shared_prefix_tokens": 96,
            "concurrencies": [2],
            "requests_per_client": 2,
        },
    ]
}


@pytest.fixture(scope="module")
def dev_config():
    return load_environment("dev")


@pytest.fixture(scope="module")
def job(dev_config):
    (model,) = dev_config.models
    return yaml.safe_load(side_files(dev_config)[f"{BENCHMARK_DIR}/{model.name}.yaml"])


def write_env(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data.update(changes)
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_the_job_validates_and_is_bounded(job, dev_config):
    validate_strictly(job)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["activeDeadlineSeconds"] == dev_config.benchmark.deadline_minutes * 60 == 3600
    assert job["spec"]["backoffLimit"] == 0, "a retried benchmark mixes two runs"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_the_job_never_lands_on_a_gpu_node(job):
    pod = job["spec"]["template"]["spec"]
    assert gpu_request(pod) == 0
    assert GPU_TAINT.toleration() not in pod.get("tolerations", [])
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": key, "operator": "NotIn", "values": [value]} for key, value in GPU_NODE_LABELS.items()
    ]


def test_the_api_key_comes_from_the_model_servers_secret_and_never_from_the_spec(job, dev_config):
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (script,) = container["args"]
    assert f'OPENAI_API_KEY="$(cat {SECRETS_MOUNT}/{API_KEY_FILE})"' in script
    assert "OPENAI_API_KEY" not in json.dumps(container.get("env", []))
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
    assert volume["csi"]["volumeAttributes"]["secretProviderClass"] == SECRET_PROVIDER_CLASS
    provider_class = find(documents(environment_charts(dev_config)["vllm"]), "SecretProviderClass")
    objects = json.loads(provider_class["spec"]["parameters"]["objects"])
    assert {"objectName": dev_config.api_key_secret_name, "objectAlias": API_KEY_FILE} in [
        {key: entry[key] for key in ("objectName", "objectAlias")} for entry in objects
    ]
    assert (
        pod["serviceAccountName"]
        == find(documents(environment_charts(dev_config)["vllm"]), "ServiceAccount")["metadata"]["name"]
    ), "the account whose Pod Identity role reads the secrets"


def test_the_client_is_the_pinned_vllm_and_targets_the_models_service(job, dev_config):
    (model,) = dev_config.models
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == dev_config.image("vllm").ref
    (script,) = container["args"]
    runs = bench_runs(dev_config.benchmark, model)
    assert len(runs) == 6
    for run in runs:
        assert " ".join(["vllm", *client_args(model, run, base_url=service_url(model))]) in script
    assert f"--base-url http://vllm-{model.name}.{NAMESPACE}.svc:80 " in script
    assert job["metadata"]["name"] == job_name(model)


def test_a_run_sends_exact_lengths_at_its_concurrency(dev_config):
    """agent at 8 in flight: 4096 prompt tokens = 3072 shared + 1024 random, 128 out, 8 x 4 requests."""
    (model,) = dev_config.models
    run = next(
        run for run in bench_runs(dev_config.benchmark, model) if (run.shape.name, run.concurrency) == ("agent", 8)
    )
    args = " ".join(client_args(model, run, base_url="http://x"))
    for expected in (
        "--random-input-len 1024 --random-prefix-len 3072 --random-output-len 128 --random-range-ratio 0 --ignore-eos",
        "--max-concurrency 8 --num-prompts 32",
        "--endpoint /v1/completions",
        f"--model {model.model_id} --served-model-name {model.served_name}",
        "--save-result --result-dir /bench/results --result-filename agent-c8.json",
    ):
        assert expected in args


def test_every_client_flag_is_one_the_pinned_client_parsed():
    """The recorded log holds the Namespace the pinned vllm bench serve parsed from the Job's own arguments."""
    config = load_environment("dev")
    (model,) = config.models
    parsed = [line for line in RECORDED_LOG.read_text().splitlines() if line.startswith("Namespace(subparser='bench'")]
    assert len(parsed) == 3
    for run in bench_runs(config.benchmark, model):
        for flag in (arg for arg in client_args(model, run, base_url="http://x") if arg.startswith("--")):
            assert f" {flag[2:].replace('-', '_')}=" in parsed[0], f"{flag} is not an argument of the pinned client"


def test_the_vllm_network_policy_admits_the_benchmark_pod(job, dev_config):
    policy = find(documents(environment_charts(dev_config)["exposure"]), "NetworkPolicy", "vllm-ingress")
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["spec"]["ingress"]
    same_namespace_peers = [peer["podSelector"]["matchLabels"] for peer in rule["from"] if "podSelector" in peer]
    assert same_namespace_peers == [{"app.kubernetes.io/name": BENCH_APP}]
    assert pod_labels["app.kubernetes.io/name"] == BENCH_APP
    assert job["metadata"]["namespace"] == policy["metadata"]["namespace"]


def test_the_recorded_output_of_the_pinned_client_parses():
    log = RECORDED_LOG.read_text()
    results = parse_results(log)
    assert [(r.shape, r.concurrency, r.completed, r.failed) for r in results] == [
        ("chat", 1, 2, 0),
        ("chat", 4, 8, 0),
        ("agent", 2, 4, 0),
    ]
    # The JSON line and the client's own printed summary agree.
    printed = [float(v) for v in re.findall(r"Output token throughput \(tok/s\):\s+([\d.]+)", log)]
    assert printed == [round(r.output_tokens_per_second, 2) for r in results]
    ttft = [float(v) for v in re.findall(r"P99 TTFT \(ms\):\s+([\d.]+)", log)]
    assert ttft == [round(r.ttft_ms[99], 2) for r in results]


def test_the_jobs_own_report_line_is_what_the_script_parses(job, tmp_path):
    """The Job prints each result with the python3 line of its script's report() function; run that exact line on
    a result file like the pinned client's and read its output back as make bench-endpoint does."""
    (script,) = job["spec"]["template"]["spec"]["containers"][0]["args"]
    (definition,) = [line for line in script.splitlines() if line.startswith("report() {")]
    words = shlex.split(definition)
    code = words[words.index("-c") + 1]
    result = {
        "shape": "chat",
        "max_concurrency": 4,
        "completed": 8,
        "failed": 0,
        "output_throughput": 301.5,
        "request_throughput": 0.6,
        **{f"p{p}_{m}_ms": float(p) for p in (50, 90, 99) for m in ("ttft", "itl")},
    }
    (tmp_path / "chat-c4.json").write_text(json.dumps(result))
    printed = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "chat-c4.json")], capture_output=True, text=True, check=True
    )
    (parsed,) = parse_results(f"run chat at concurrency 4\n{printed.stdout}")
    assert (parsed.shape, parsed.concurrency, parsed.completed, parsed.output_tokens_per_second) == (
        "chat",
        4,
        8,
        301.5,
    )


def test_a_result_line_is_read_whatever_surrounds_it():
    line = RESULT_MARKER + json.dumps(
        {
            "shape": "chat",
            "max_concurrency": 8,
            "completed": 30,
            "failed": 2,
            "output_throughput": 512.5,
            "request_throughput": 1.5,
            **{f"p{p}_{m}_ms": float(p) for p in (50, 90, 99) for m in ("ttft", "itl")},
        }
    )
    (result,) = parse_results(f"noise\n{line}\nWARNING {RESULT_MARKER.strip()} mentioned mid-line\n")
    assert result == RunResult(
        "chat", 8, 30, 2, 512.5, 1.5, {50: 50.0, 90: 90.0, 99: 99.0}, {50: 50.0, 90: 90.0, 99: 99.0}
    )


def test_the_report_puts_each_run_next_to_the_planners_prediction(tmp_path):
    config = load_environment("env", config_dir=write_env(tmp_path, benchmark=RECORDED_SHAPES))
    (plan,) = plan_environment(config)
    results = parse_results(RECORDED_LOG.read_text())
    console = Console(record=True, width=160)
    assert report(console, config, config.models[0], plan.sizing, results) is True
    text = console.export_text()
    chat_4 = results[1]
    expected = plan.sizing.throughput_at(4, input_tokens=64, output_tokens=16)
    row = rf"│ chat\s+│\s+4 │\s+8/0 │\s+{chat_4.output_tokens_per_second:.0f} │\s+{expected:.0f} │\s+"
    assert re.search(row + re.escape(f"{chat_4.output_tokens_per_second / expected:.2f}"), text), text
    assert "agent: 128 prompt tokens (96 of them shared" in text


def test_a_missing_run_or_a_failed_request_is_exit_1(tmp_path, capsys):
    """dev's shapes were not the recorded ones: five runs are missing, so the benchmark is not complete."""
    code = bench_endpoint.main(["--env", "dev", "--logs", str(RECORDED_LOG)])
    assert code == 1
    assert capsys.readouterr().out.count("not run") == 5
    config_dir = write_env(tmp_path, benchmark=RECORDED_SHAPES)
    assert bench_endpoint.main(["--env", "env", "--config-dir", str(config_dir), "--logs", str(RECORDED_LOG)]) == 0
    failed = RECORDED_LOG.read_text().replace('"failed":0', '"failed":1', 1)
    (tmp_path / "failed.log").write_text(failed)
    assert (
        bench_endpoint.main(["--env", "env", "--config-dir", str(config_dir), "--logs", str(tmp_path / "failed.log")])
        == 1
    )


class ScriptedJobs:
    """The cluster's side of a benchmark, scripted: a state and a log per poll."""

    def __init__(self, states: list[str], logs: list[str], waits: list[str | None] | None = None) -> None:
        self.states, self.logs, self.applied = states, logs, []
        self.waits = waits or [None]
        self.polls = 0

    def replace_job(self, manifest):
        self.applied.append(manifest)

    def job_state(self, namespace, name):
        self.polls += 1
        return self.states[min(self.polls, len(self.states)) - 1]

    def job_log(self, namespace, name):
        return self.logs[min(self.polls, len(self.logs)) - 1]

    def pod_waiting(self, namespace, name):
        return self.waits[min(self.polls, len(self.waits)) - 1]


def test_run_job_applies_waits_and_shows_each_run_once(job):
    log = RECORDED_LOG.read_text()
    runner = ScriptedJobs(["running", "running", "succeeded"], ["", log[: log.index("run chat at concurrency 4")], log])
    console = Console(record=True, width=120)
    state, final_log = run_job(runner, job, deadline_seconds=3600, console=console, sleep=lambda _: None)
    assert (state, final_log, runner.applied) == ("succeeded", log, [job])
    shown = console.export_text()
    assert shown.count("run chat at concurrency 1") == 1 and "run agent at concurrency 2" in shown


def test_run_job_gives_up_after_the_deadline(job):
    clock = iter(range(0, 100_000, 600))
    runner = ScriptedJobs(["running"], [""])
    state, _ = run_job(
        runner, job, deadline_seconds=600, console=Console(record=True), sleep=lambda _: None, clock=lambda: next(clock)
    )
    assert state.startswith("failed: still running")


def test_a_failed_job_is_exit_1_with_the_command_to_read_its_log(capsys):
    runner = ScriptedJobs(["failed: DeadlineExceeded: Job was active longer than specified deadline"], [""])
    assert bench_endpoint.main(["--env", "dev"], runner=runner, sleep=lambda _: None) == 1
    out = capsys.readouterr().out
    assert "DeadlineExceeded" in out and "kubectl -n vllm logs job/vllm-bench-llama3-8b" in out


def test_an_unknown_model_is_a_usage_error_naming_the_choices(capsys):
    assert bench_endpoint.main(["--env", "dev", "--model", "nope", "--render"]) == 2
    out = capsys.readouterr().out
    assert "config/dev.yaml has no model named 'nope'" in out and "MODEL=llama3-8b" in out
    assert "make kubeconfig" not in out, "the kubeconfig fix is for cluster access only"


def test_render_prints_the_same_job_as_dist(capsys, job):
    assert bench_endpoint.main(["--env", "dev", "--render"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == job


def test_a_default_shape_longer_than_max_model_len_is_left_out_not_refused(tmp_path, capsys):
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    data["models"][0]["max_model_len"] = 768  # chat's 512 + 256 exactly: still run
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(data))
    config = load_environment("env", config_dir=tmp_path)
    (model,) = config.models
    assert [run.shape.name for run in bench_runs(config.benchmark, model)] == ["chat", "chat", "chat"]
    assert "agent" not in side_files(config)[f"{BENCHMARK_DIR}/{model.name}.yaml"].replace("vllm-benchmark", "")
    bench_endpoint.main(["--env", "env", "--config-dir", str(tmp_path), "--logs", str(RECORDED_LOG)])
    assert "agent: not run, 4096 + 128 tokens is more than max_model_len 768" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            {"input_tokens": 8000, "output_tokens": 512},
            "benchmark.shapes[0] (long): 8000 + 512 tokens exceed models[0]",
        ),
        ({"input_tokens": 512, "output_tokens": 64, "shared_prefix_tokens": 512}, "must be below input_tokens 512"),
        ({"input_tokens": 512, "output_tokens": 64, "concurrencies": [8, 1]}, "distinct and ascending"),
    ],
)
def test_a_shape_vllm_would_refuse_is_refused_at_load(tmp_path, shape, message):
    shapes = {"shapes": [{"name": "long", "concurrencies": [1], **shape}]}
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_environment("env", config_dir=write_env(tmp_path, benchmark=shapes))


def test_the_client_fits_a_system_node_beside_its_add_ons(job, dev_config):
    """m6i.large: 2 vCPU, 1930m allocatable before the add-ons' DaemonSets; a 2-core request would never schedule."""
    assert dev_config.cluster.system_node_group.instance_types == ["m6i.large"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    requests = container["resources"]["requests"]
    assert int(requests["cpu"].removesuffix("m")) <= 1000 and requests["memory"] == "2Gi"
    assert "cpu" not in container["resources"]["limits"], "a throttled client would show up as server latency"


def test_an_unreachable_cluster_is_a_usage_error_with_the_fix(tmp_path, capsys):
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "vllm-dev", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "vllm-dev",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    assert bench_endpoint.main(["--env", "dev", "--kubeconfig", str(tmp_path / "kubeconfig")]) == 2
    out = capsys.readouterr().out
    assert "cannot reach the Kubernetes API" in out and "make kubeconfig ENV=dev" in out and "Traceback" not in out


def test_why_the_pod_is_not_running_is_shown_once_per_change(job):
    waits = ["no pod yet", "ContainerCreating", "ContainerCreating", None]
    runner = ScriptedJobs(["running"] * 4 + ["succeeded"], ["", "", "", "", ""], waits)
    console = Console(record=True, width=200)
    run_job(runner, job, deadline_seconds=3600, console=console, sleep=lambda _: None)
    shown = console.export_text()
    assert shown.count("pod: ContainerCreating") == 1 and "pod: no pod yet" in shown


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu."}]},
            "not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.",
        ),
        (
            {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}], "containerStatuses": [
                {"state": {"waiting": {"reason": "ErrImagePull", "message": "toomanyrequests"}}}]},
            "ErrImagePull: toomanyrequests",
        ),
        ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}, "Pending"),
        ({"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}, None),
    ],
)  # fmt: skip
def test_the_waiting_reason_is_read_from_the_pod_as_the_api_returns_it(status, reason):
    assert waiting_reason({"status": status}) == reason
