#!/usr/bin/env bash
# Install Triton's perf_analyzer (a C++ load generator) in its own virtual environment.
#
#   scripts/install_perf_analyzer.sh [VENV]      # default ./.perf-venv
#
# As ../shared/BENCHMARKING.md describes: the PyPI package perf-analyzer is an empty placeholder
# here, but tritonclient[grpc]==2.41.0 ships the perf_analyzer binary. It needs libb64 (Debian
# package libb64-0d) and libcudart from the PyPI wheel nvidia-cuda-runtime-cu12 (it runs on the
# CPU; the library only has to load). tritonclient lives in its own venv because its protobuf
# modules clash with driftgate's in one process.
#
# The venv gets a .gitignore of '*', so git ignores it wherever it is created. The script writes
# VENV/bin/pa, a wrapper that sets LD_LIBRARY_PATH and runs perf_analyzer.
set -euo pipefail

VENV="${1:-${PERF_VENV:-./.perf-venv}}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
printf '*\n' > "$VENV/.gitignore"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "tritonclient[grpc]==2.41.0" nvidia-cuda-runtime-cu12

if ! ldconfig -p 2>/dev/null | grep -q 'libb64\.so\.0d'; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libb64-0d
fi

CUDART_LIB="$("$VENV/bin/python" - <<'EOF'
import os
import nvidia.cuda_runtime as m
print(os.path.join(list(m.__path__)[0], "lib"))
EOF
)"
PA="$VENV/bin/perf_analyzer"
if [ ! -x "$PA" ]; then
  echo "perf_analyzer not found in $VENV/bin: tritonclient[grpc]==2.41.0 did not ship it here" >&2
  exit 1
fi

cat > "$VENV/bin/pa" <<EOF
#!/usr/bin/env bash
# perf_analyzer with the CUDA runtime's lib folder on LD_LIBRARY_PATH (written by install_perf_analyzer.sh)
export LD_LIBRARY_PATH="$CUDART_LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$(cd "$(dirname "$PA")" && pwd)/perf_analyzer" "\$@"
EOF
chmod +x "$VENV/bin/pa"

if ! "$VENV/bin/pa" --version >/dev/null 2>&1 && ! "$VENV/bin/pa" --help >/dev/null 2>&1; then
  echo "perf_analyzer does not start; missing libraries:" >&2
  LD_LIBRARY_PATH="$CUDART_LIB" ldd "$PA" | grep 'not found' >&2 || true
  exit 1
fi

cat <<EOF
perf_analyzer installed in $VENV. Run it with the wrapper (it sets LD_LIBRARY_PATH):

  $VENV/bin/pa -m fraud -u 127.0.0.1:8001 -i grpc -b 1 --concurrency-range 16 \\
      -s 30 --max-trials 8 -p 2000 --percentile=99

or by hand:

  LD_LIBRARY_PATH=$CUDART_LIB $PA ...

The server must answer ModelMetadata and ModelConfig (perf_analyzer exits with
"failed to get model config" otherwise). See bench/README.md.
EOF
