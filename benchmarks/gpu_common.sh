# Sourced by the run_gpu_*.sh scripts: the one preamble of a GPU check.
#
#   source "$(dirname "$0")/gpu_common.sh"
#   gpu_setup LOG        # python, the checkout on PYTHONPATH, a cache outside the data, a log
#   step SECONDS TITLE COMMAND...   # one step with its own time limit and its exit code
#
# Runs from the repository root with whatever python3 holds torch ($PYTHON to choose another;
# nothing is installed: the engine is imported from the checkout).

py=${PYTHON:-python3}

gpu_setup() {  # gpu_setup LOG: everything after it goes to the terminal and to LOG
    export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    export CNNLAB_CACHE=${CNNLAB_CACHE:-/tmp/cnnlab-cache}
    exec > >(tee -a "$1") 2>&1
}

step() {  # step SECONDS TITLE COMMAND...
    local limit=$1 title=$2
    shift 2
    echo; echo "===== $title ($(date +%T), limit ${limit}s)"
    local began=$SECONDS
    timeout "$limit" "$@"
    echo "===== $title: exit $? in $((SECONDS - began)) s"
}
