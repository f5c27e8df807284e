#!/bin/sh
# test_cuda_backend [STUB]: the CUDA backend's host code end to end without a GPU. STUB
# (default build/cudastub/picotron-train, make cudastub) is
# picotron-train linked against the stand-ins (tests/cudastub: cudart and cuBLASLt over host
# memory, checked) and the kernels run by the CPU test runtime (tests/cudasim); its
# environment.device=cpu is the CPU backend of the product, bit for bit. Checks:
#   1. training on device=cuda matches the CPU backend (same binary, same config);
#   2. a checkpoint written on CUDA resumes on the CPU and the other way round;
#   3. dp, ZeRO-1, tp, pp and cp meshes on CUDA against one CPU process;
#   4. device selection: auto without a device, a local rank beyond the devices, a discrete
#      GPU under several ranks, out of memory at allocation and in the memory check;
#   5. the real binary (bin/picotron-train, real cudart) on this machine without a GPU.
# Tolerances (relative, on the printed loss / grad_norm after 1-4 steps): 2e-5 / 2e-4. The two
# backends compute the same fp32 math in another order: cuBLASLt's stand-in sums in double
# where OpenBLAS sums fp32 in blocks, the kernels reduce in their own fixed order (fp32
# rounding 6e-8 per operation, ~1e-6 relative on a loss after a few AdamW steps, as the mesh
# suites measure for reordered sums); grad_norm, a sum of squares of gradients taken through
# every layer, moves ~10x more. A wrong operand (an unscaled clip, a transposed weight, a
# missed beta = 1 accumulation) moves the loss by >= 1e-3.
# timeout: 600
STUB=${1:-$(dirname "$0")/../../build/cudastub/picotron-train}
STUB=$(cd "$(dirname "$STUB")" && pwd)/$(basename "$STUB")
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"

LOSS_TOL=2e-5
NORM_TOL=2e-4
# the stand-in GEMM is loops: a small peak GEMM, and one runtime thread (2 cores shared)
export PICOTRON_PEAK_GEMM_N=64 CUDASIM_THREADS=1 OMP_WAIT_POLICY=passive
ONE="--set environment.OMP_NUM_THREADS=1 --no-metrics --set logging.log_frequency=1"

# ---- 1. device=cuda against the CPU backend ----
# bench-10m's shape (6 layers, C 384, GQA 6/2, F 1024) with 1 x 64 tokens a step: its 10M
# parameters at full batch take minutes through loop GEMMs; the GEMM shapes and every kernel
# are the same.
B10="--config $ROOT/examples/bench-10m.json --set training.micro_batch_size=1 --set training.seq_length=64 --set training.total_train_steps=2 --set optimizer.warmup_steps=1"
begin "bench-10m shape, 2 steps, cuda vs cpu"
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $B10 $ONE --set environment.device=cpu && cp "$OUT" b10.cpu
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $B10 $ONE --set environment.device=cuda && cp "$OUT" b10.cuda
assert_contains "$ERR" "picotron-train: cuda cudastub device 0"
check "loss within $LOSS_TOL" columns_close b10.cuda b10.cpu loss "$LOSS_TOL"
check "grad_norm within $NORM_TOL" columns_close b10.cuda b10.cpu grad_norm "$NORM_TOL"
check "the loss moved (the update reached the weights)" [ "$(loss_at b10.cuda 1)" != "$(loss_at b10.cuda 2)" ]

begin "tiny with grad_acc 2, clipping, TF32 allowed (fp32 in the stand-in), cuda vs cpu"
TA="--config $TINY --set training.gradient_accumulation_steps=2 --set optimizer.grad_clip=0.5 --set environment.allow_tf32=true"
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $TA $ONE --steps 4 --set environment.device=cpu && cp "$OUT" ta.cpu
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $TA $ONE --steps 4 --set environment.device=cuda && cp "$OUT" ta.cuda
check "loss within $LOSS_TOL" columns_close ta.cuda ta.cpu loss "$LOSS_TOL"
check "grad_norm within $NORM_TOL" columns_close ta.cuda ta.cpu grad_norm "$NORM_TOL"

# ---- 2. resume across backends ----
# 4 steps straight on the CPU; then 2 steps on one backend with a checkpoint, resumed for
# steps 3-4 on the other: same losses within the tolerance (the checkpoint holds fp32
# weights and moments in one format whatever wrote it).
R="--config $TINY --set training.total_train_steps=4 --set optimizer.warmup_steps=2 --set checkpoint.save_frequency=2"
begin "resume: straight run on the CPU"
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $R $ONE --set environment.device=cpu --set checkpoint.save_dir=ck-straight && cp "$OUT" straight.out
for pair in "cuda cpu" "cpu cuda"; do
    # shellcheck disable=SC2086 # two words: the devices
    set -- $pair
    begin "resume: 2 steps on $1, 2 more on $2"
    # shellcheck disable=SC2086
    expect_exit 0 "$STUB" $R $ONE --steps 2 --set environment.device="$1" --set checkpoint.save_dir="ck-$1"
    check "step_00000002 written by $1" test -d "ck-$1/step_00000002"
    # shellcheck disable=SC2086
    expect_exit 0 "$STUB" $R $ONE --set environment.device="$2" --set checkpoint.save_dir="ck-$1" --set checkpoint.resume=auto
    assert_contains "$ERR" "resumed from"
    check "steps 3 and 4 only" [ "$(steps "$OUT" | tr '\n' ' ')" = "3 4 " ]
    awk '$1 == "step" && $2 > 2' straight.out >straight.34
    check "losses of steps 3-4 within $LOSS_TOL of the straight run" \
        columns_close "$OUT" straight.34 loss "$LOSS_TOL"
done

# ---- 3. meshes on CUDA against one CPU process ----
# Each rank on its own stand-in device (local rank = device), comm through MPI on the
# stand-in's host-addressable memory; 3 steps at the same global batch as the single process.
# The full mesh-equivalence suites (weights and replicas too) on the stand-ins: make
# check-cuda-mesh.
M="--config $TINY --set training.total_train_steps=3 --set optimizer.warmup_steps=1"
begin "meshes: the CPU reference (grad_acc 2)"
# shellcheck disable=SC2086
expect_exit 0 "$STUB" $M $ONE --set environment.device=cpu --set training.gradient_accumulation_steps=2 && cp "$OUT" mesh.ref
for mesh in "dp_size=2" "dp_size=2 zero_stage=1" "tp_size=2 gradient_accumulation_steps=2" \
            "pp_size=2 gradient_accumulation_steps=2" "cp_size=2 gradient_accumulation_steps=2"; do
    begin "mesh $mesh on cuda"
    sets=""
    for kv in $mesh; do
        case $kv in
        gradient_accumulation_steps=*) sets="$sets --set training.$kv" ;;
        *) sets="$sets --set distributed.$kv" ;;
        esac
    done
    # shellcheck disable=SC2086
    PICOTRON_CUDASTUB_DEVICES=2 expect_exit 0 "$STUB" $M $ONE $sets --set environment.device=cuda
    check "3 steps" [ "$(steps "$OUT" | tr '\n' ' ')" = "1 2 3 " ]
    check "loss within $LOSS_TOL of one CPU process" columns_close "$OUT" mesh.ref loss "$LOSS_TOL"
    check "grad_norm within $NORM_TOL of one CPU process" columns_close "$OUT" mesh.ref grad_norm "$NORM_TOL"
done

# ---- 4. device selection, memory ----
begin "auto without a device runs on the CPU and says why in one line"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_DEVICES=0 expect_exit 0 "$STUB" --config "$TINY" $ONE --steps 2
check "one 'no CUDA device' line" [ "$(grep -c 'no CUDA device' "$ERR")" -eq 1 ]
assert_contains "$ERR" "picotron-train: no CUDA device: cudaGetDeviceCount: no CUDA-capable device is detected (100) — running on the CPU"
cp "$OUT" auto.out
# shellcheck disable=SC2086
expect_exit 0 "$STUB" --config "$TINY" $ONE --steps 2 --set environment.device=cpu
check "bitwise the CPU backend's step lines (loss, lr, grad_norm)" \
    [ "$(cut -d' ' -f1-8 auto.out)" = "$(cut -d' ' -f1-8 "$OUT")" ]

begin "device=cuda without a device: exit 2, one line"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_DEVICES=0 expect_exit 2 "$STUB" --config "$TINY" $ONE --steps 1 --set environment.device=cuda
assert_one_line "$ERR"
assert_contains "$ERR" "environment.device is cuda but no CUDA device: cudaGetDeviceCount"
assert_no_run_dir

begin "each rank takes the GPU of its local rank: rank 1 of 2 on a node with 1 device"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_DEVICES=1 expect_exit 2 "$STUB" --config "$TINY" $ONE --steps 1 \
    --set environment.device=cuda --set distributed.dp_size=2
assert_contains "$ERR" "environment.device is cuda but no CUDA device: local rank 1 but 1 CUDA device on this node"

begin "a discrete GPU under several ranks needs NCCL: cuda refuses, auto falls back"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_DISCRETE=1 PICOTRON_CUDASTUB_DEVICES=2 expect_exit 2 "$STUB" --config "$TINY" \
    $ONE --steps 1 --set environment.device=cuda --set distributed.dp_size=2
assert_contains "$ERR" "environment.device is cuda but 2 ranks on CUDA need a device-aware comm (NCCL)"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_DISCRETE=1 PICOTRON_CUDASTUB_DEVICES=2 expect_exit 0 "$STUB" --config "$TINY" \
    $ONE --steps 1 --set distributed.dp_size=2
assert_contains "$ERR" "need a device-aware comm (NCCL), which picotron does not have yet — running on the CPU"

begin "the memory check counts the GPU's memory (40 MiB, 32 of them the workspace)"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_MEM_MIB=40 expect_exit 2 "$STUB" $B10 $ONE --set environment.device=cuda
assert_one_line "$ERR"
assert_contains "$ERR" "per GPU (params "
assert_contains "$ERR" "but the GPU has 8.4 MB available"

begin "out of GPU memory at allocation: one line with what was asked and what is free, exit 1"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_MEM_MIB=40 expect_exit 1 "$STUB" $B10 $ONE --set environment.device=cuda \
    --set training.skip_memory_check=true
assert_one_line "$ERR"
assert_contains "$ERR" "picotron: out of GPU memory on cudastub device 0 (host memory) (sm_90, 0 GiB) (device 0): asked for "
assert_contains "$ERR" "MiB, 8.0 MiB free of 40.0 MiB"
# shellcheck disable=SC2086
PICOTRON_CUDASTUB_MEM_MIB=20 expect_exit 1 "$STUB" --config "$TINY" $ONE --steps 1 --set environment.device=cuda
assert_contains "$ERR" "asked for 32.0 MiB, 20.0 MiB free of 20.0 MiB"

# ---- 5. the real binary here ----
begin "the real binary without a GPU"
if [ -e /dev/nvidia0 ] || [ -e /dev/nvidiactl ]; then
    pass "skipped: this machine has a GPU driver (make check-gpu covers it)"
else
    # shellcheck disable=SC2086
    expect_exit 0 "$TRAIN" --config "$TINY" $ONE --steps 1
    check "one fallback line" [ "$(grep -c 'running on the CPU' "$ERR")" -eq 1 ]
    assert_contains "$ERR" "picotron-train: no CUDA device: cudaGetDeviceCount: "
    # shellcheck disable=SC2086
    expect_exit 2 "$TRAIN" --config "$TINY" $ONE --steps 1 --set environment.device=cuda
    assert_one_line "$ERR"
    assert_contains "$ERR" "environment.device is cuda but no CUDA device: cudaGetDeviceCount: "
fi

finish
