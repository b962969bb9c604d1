"""The pinned vLLM release and what it accepts: one place to change when vLLM is bumped.

The flag and parser tables below are read from that release (`vllm serve --help`); a bump must
re-check them, together with the log lines scripts/status.py reads.
"""

from config.images import Image

# vLLM 0.31.0 (2026-10): the newest release with a published, widely used image. Since 0.20 the
# unsuffixed image is built on CUDA 13, which needs NVIDIA driver >= 580: the EKS AL2023 NVIDIA
# AMI ships the 580 branch. Never `latest`: a model-server upgrade is a tested change.
VLLM_IMAGE = Image("docker.io", "vllm/vllm-openai", "v0.31.0")

# vLLM flags the chart sets from typed fields; passing them again in extra_args would be ambiguous.
MANAGED_VLLM_FLAGS = {
    "--model",
    "--served-model-name",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--tensor-parallel-size",
    "--port",
    "--host",
    "--api-key",
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "--quantization",
    "--kv-cache-dtype",
}
# Tool-call parsers built into the pinned vLLM release (`vllm serve --help=tool-call-parser`).
TOOL_CALL_PARSERS = {
    "deepseek_v3", "granite", "hermes", "internlm", "jamba", "llama3_json", "llama4_json",
    "llama4_pythonic", "mistral", "phi4_mini_json", "pythonic", "qwen3_coder", "qwen3_xml", "xlam",
}  # fmt: skip
# The parser for each model family, matched against the lower-cased model id.
FAMILY_TOOL_PARSERS = {
    r"llama-?3": "llama3_json",
    r"llama-?4": "llama4_pythonic",
    r"mi[sx]tral": "mistral",
    r"qwen": "hermes",
}
