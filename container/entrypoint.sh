#!/bin/sh
# The image's entrypoint: CUDA forward compatibility for the GPU flavor, then `serve`.
#
# The GPU flavor's CUDA may be newer than the host's NVIDIA driver supports (SageMaker's
# inference AMIs ship drivers 535 and 550, and mount no forward-compatibility libraries).
# When the image carries NVIDIA's compat libraries (cuda-compat: a libcuda.so.1 made for
# a newer driver) and the host driver is older than the one they were made for, they go
# first on LD_LIBRARY_PATH, as the TEI DLC's entrypoint does; with a driver as new or
# newer, the host's own libcuda is the right one. The server then says whether CUDA works
# (and refuses to run the GPU image on CPU unless ALLOW_CPU_FALLBACK=true).
#
# Exec form all the way: `exec serve "$@"` makes the server PID 1, so SIGTERM from
# `docker stop` and SageMaker reaches it unchanged. The paths are variables so that a
# test can play an older or a newer driver.
set -eu

driver_file="${NVIDIA_DRIVER_VERSION_FILE:-/proc/driver/nvidia/version}"
compat_dir="${CUDA_COMPAT_DIR:-/usr/local/cuda/compat}"

# Whether version $1 sorts strictly before $2 (550.127.05 < 580.65.06).
older() {
    [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

if [ "${IMAGE_FLAVOR:-}" = gpu ]; then
    driver="$(sed -n 's/^NVRM version:.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*$/\1/p' \
        "$driver_file" 2>/dev/null | head -n 1)" || driver=""
    compat=""
    if [ -e "$compat_dir/libcuda.so.1" ]; then
        # libcuda.so.1 -> libcuda.so.580.65.06: the driver the compat libraries are for.
        compat="$(readlink "$compat_dir/libcuda.so.1" | sed -n 's/^.*libcuda\.so\.//p')"
    fi
    if [ -z "$driver" ]; then
        decision="no NVIDIA driver found"
    elif [ -z "$compat" ]; then
        decision="host libcuda (this image has no forward-compatibility libraries)"
    elif older "$driver" "$compat"; then
        export LD_LIBRARY_PATH="$compat_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        decision="forward-compatibility libraries first (driver older than $compat)"
    else
        decision="host libcuda (driver not older than $compat)"
    fi
    capability=""
    if command -v nvidia-smi >/dev/null 2>&1; then
        capability="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
            | head -n 1)" || capability=""
    fi
    echo "entrypoint: nvidia driver=${driver:-none} compat=${compat:-none}" \
        "compute_capability=${capability:-unknown}: $decision" >&2
fi

exec serve "$@"
