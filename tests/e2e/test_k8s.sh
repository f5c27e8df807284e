#!/bin/sh
# test_k8s: picotron-submit --k8s as a user drives it. Bad flags (Slurm-only options, --k8s-*
# without --k8s, names Kubernetes refuses, ranks that do not divide over the nodes, a save_dir
# off the volume) are one line, exit 2, nothing written. A run renders RUN_DIR/k8s.json (twice
# the same bytes, no temporary file left); --dry-run prints the same text and writes nothing;
# a config on stdin renders too; a hostile directory name gets a name Kubernetes accepts.
# With kubectl on PATH: every rendering (one pod, Indexed Job + Service, MPIJob) is read by
# kubectl (`kubectl label --local`, which needs no cluster: `apply/create --dry-run=client`
# ask the API server for its resource list even then) as exactly the objects expected, and the
# ConfigMap's config, taken out by kubectl, trains in a directory standing for the volume and
# resumes there from its checkpoint (resume "auto").
# shellcheck disable=SC2016  # jsonpath text is literal
. "$(dirname "$0")/lib.sh"

SUBMIT=$BIN/picotron-submit
[ -x "$SUBMIT" ] || { echo "not ok - $SUBMIT is missing (run 'make all' first)"; exit 1; }

# run_config DIR DP: a tiny run of DP ranks (dp) with its checkpoints in DIR/ckpt
run_config() {
    mkdir -p "$1"
    cat >"$1/config.json" <<EOF
{
    "distributed": {"dp_size": $2},
    "model": {"name": "tiny"},
    "training": {"total_train_steps": 6, "seq_length": 64, "micro_batch_size": 4},
    "dataset": {"name": "synthetic"},
    "checkpoint": {"save_dir": "$1/ckpt", "save_frequency": 3},
    "logging": {"log_frequency": 1}
}
EOF
}

run_config runs/a 4
begin "help"
expect_exit 0 "$SUBMIT" --help
assert_contains "$OUT" "--k8s-mpi-operator"

# refused EXPECTED_TEXT ARGS...: exit 2, one line holding the text, no k8s.json anywhere
refused() {
    text=$1
    shift
    begin "refused: $*"
    expect_exit 2 "$SUBMIT" "$@"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$text"
    if [ -z "$(find . -name 'k8s.json*')" ]; then
        pass "no k8s.json written"
    else
        fail "a k8s.json was written: $(find . -name 'k8s.json*')"
    fi
}
refused "--time is a Slurm option" --k8s --time 1:00:00 runs/a
refused "--chain is a Slurm option" --k8s --chain 2 runs/a
refused "--sbatch-arg is a Slurm option" --k8s --sbatch-arg=--mem=0 runs/a
refused "the --k8s-* options go with --k8s" --k8s-pvc data runs/a
refused '--k8s-pvc "Data_1": not a Kubernetes name' --k8s --k8s-pvc Data_1 runs/a
refused '--job-name "9lives": not a Kubernetes name' --k8s --job-name 9lives runs/a
refused '--k8s-namespace "ml-"' --k8s --k8s-namespace ml- runs/a
refused "--k8s-image" --k8s --k8s-image "pico tron" runs/a
refused "--k8s-mpi-operator is for several nodes" --k8s --k8s-mpi-operator runs/a
refused "the MPI Operator makes the ssh keys" --k8s --nodes 2 --k8s-mpi-operator \
    --k8s-ssh-secret keys runs/a
refused "4 ranks (dp*pp*cp*tp) do not divide evenly over 3 nodes" --k8s --nodes 3 runs/a
refused "--ntasks-per-node 1 = 2 ranks" --k8s --nodes 2 --ntasks-per-node 1 runs/a
refused "needs --run-dir DIR" --k8s -
run_config runs/b 1
refused "checkpoint.save_dir: /elsewhere/ckpt is outside" --k8s \
    --set checkpoint.save_dir=/elsewhere/ckpt runs/b
refused "dataset.name" --k8s --set dataset.name=roneneldan/TinyStories runs/b

begin "render"
expect_exit 0 "$SUBMIT" --k8s runs/a
printf 'runs/a %s/runs/a/k8s.json\n' "$TMP" >want
assert_same_text "$OUT" want "stdout: RUN PATH"
cp runs/a/k8s.json first.json
expect_exit 0 "$SUBMIT" --k8s runs/a
assert_same_text runs/a/k8s.json first.json "a second rendering"
check "no temporary file left" test "$(find runs/a | sort | tr '\n' ' ')" = \
    "runs/a runs/a/config.json runs/a/k8s.json "
expect_exit 0 "$SUBMIT" --k8s --dry-run runs/a
assert_same_text "$OUT" first.json "--dry-run's text"
run_config runs/c 1
expect_exit 0 "$SUBMIT" --k8s --dry-run runs/c
check "--dry-run writes nothing" test ! -e runs/c/k8s.json
expect_exit 0 "$SUBMIT" --k8s --run-dir runs/stdin - <runs/c/config.json
check "a config on stdin: its run directory and manifests" test -s runs/stdin/k8s.json
mkdir 'runs/My Run "x"'
cp runs/c/config.json 'runs/My Run "x"/'
expect_exit 0 "$SUBMIT" --k8s 'runs/My Run "x"'
assert_contains 'runs/My Run "x"/k8s.json' '"name": "my-run-x-'

if ! command -v kubectl >/dev/null 2>&1; then
    echo "# kubectl not on PATH: the kubectl checks are left out"
    finish
fi

# objects FILE: "kind/name" of every object kubectl reads from FILE, one a line (on stdin:
# kubectl reads -f's value as CSV, where a '"' in a path is a parse error)
objects() {
    kubectl label --local -f - picotron.test=1 -o name <"$1" 2>"$TMP/kubectl.err"
}

begin "kubectl: one pod"
objects runs/a/k8s.json >got
printf 'configmap/a-config\njob.batch/a\n' >want
assert_same_text got want "objects"
begin "kubectl: Indexed Job and Service"
"$SUBMIT" --k8s --nodes 2 --dry-run runs/a >indexed.json
objects indexed.json >got
printf 'configmap/a-config\nservice/a\njob.batch/a\n' >want
assert_same_text got want "objects"
begin "kubectl: MPIJob"
"$SUBMIT" --k8s --nodes 2 --k8s-mpi-operator --k8s-namespace ml --dry-run runs/a >mpi.json
objects mpi.json >got
printf 'configmap/a-config\nmpijob.kubeflow.org/a\n' >want
assert_same_text got want "objects"
kubectl label --local -f mpi.json x=y -o jsonpath='{.metadata.namespace} ' >got
check "namespace on every object" test "$(cat got)" = "ml ml "
begin "kubectl: hostile directory name"
objects 'runs/My Run "x"/k8s.json' >got
check "two objects" test "$(wc -l <got)" -eq 2

# The pod's config as kubectl reads it from the ConfigMap, run in a directory standing for the
# volume (relative paths resolve there): 6 steps in two pods' lives, the second resuming.
begin "the ConfigMap's config trains and resumes"
"$SUBMIT" --k8s runs/b >/dev/null
kubectl label --local -f runs/b/k8s.json x=y -o jsonpath='{.data.config\.json}' >pod.json
check "resume auto in the pod's config" grep -q '"resume": "auto"' pod.json
check "save_dir relative to the volume" grep -q '"save_dir": "runs/b/ckpt"' pod.json
mkdir vol
(cd vol && "$TRAIN" --config ../pod.json --steps 3 >../life1.out 2>../life1.err)
check "first life: 3 steps" test "$(grep -c '^step ' life1.out)" -eq 3
check "first life: checkpoint on the volume" test -s vol/runs/b/ckpt/latest
(cd vol && "$TRAIN" --config ../pod.json >../life2.out 2>../life2.err)
check "second life resumes at step 4" \
    test "$(awk '$1 == "step" { print $2; exit }' life2.out)" = 4
check "second life ends at step 6" \
    test "$(awk '$1 == "step" { s = $2 } END { print s }' life2.out)" = 6
finish
