# Bark Studio: the web UI and the REST API on port 7860.
#
#   docker build --target cpu  -t bark-studio:cpu  .
#   docker build --target cuda -t bark-studio:cuda .
#   docker run -p 7860:7860 -v bark-hf:/root/.cache/huggingface -v "$PWD/prompts:/app/prompts" \
#       -v "$PWD/outputs:/app/outputs" bark-studio:cpu
#   docker run --gpus all -p 7860:7860 -v bark-hf:/root/.cache/huggingface bark-studio:cuda
#
# The models (about 13 GB, or 5 GB with --small-models) download into the Hugging Face cache on
# first use: keep it in a volume. Arguments after the image name replace the command, e.g.
#   docker run ... bark-studio:cpu bark-studio --listen --port 7860 --api-only --small-models
# The voice library (/app/prompts) and the history of outputs (/app/outputs) are volumes: they outlive
# the container. ffmpeg is in the image, so the web UI streams each segment as it is made.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/root/.cache/huggingface
WORKDIR /app
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# PyTorch first, in its own layer: the CPU build from PyTorch's index, or PyPI's default Linux
# build, which bundles CUDA (the host needs only the NVIDIA driver and container toolkit).
FROM base AS torch-cpu
ARG TORCH_VERSION=2.13.0
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

FROM base AS torch-cuda
ARG TORCH_VERSION=2.13.0
RUN pip install "torch==${TORCH_VERSION}"

FROM torch-cuda AS cuda
COPY requirements-pip.txt ./
RUN pip install -r requirements-pip.txt
COPY . .
RUN pip install --no-deps .
VOLUME ["/root/.cache/huggingface", "/app/prompts", "/app/outputs", "/app/projects"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/health', timeout=4)"
CMD ["bark-studio", "--listen", "--port", "7860"]

# The default target (last stage): runs anywhere.
FROM torch-cpu AS cpu
COPY requirements-pip.txt ./
RUN pip install -r requirements-pip.txt
COPY . .
RUN pip install --no-deps .
VOLUME ["/root/.cache/huggingface", "/app/prompts", "/app/outputs", "/app/projects"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/health', timeout=4)"
CMD ["bark-studio", "--listen", "--port", "7860"]
