#!/bin/sh
# test_checkpoint: checkpoints written by picotron-train, end to end (docs/checkpoint.md,
# docs/training.md "Checkpoints and preemption"):
#  - exact resume: 6 straight steps = 3 + resume "auto" + 3, on dp2·tp2 and dp2·pp2 (1f1b),
#    both ZeRO-1: the loss, lr and grad_norm columns text-equal;
#  - reshard and continue: 3 steps on mesh A, then 3 on mesh B (loaded directly — load_path of a
#    step directory, load_path of a save_dir, resume "auto" — and through picotron-shard-ckpt)
#    = 6 steps on A within the mesh-equivalence tolerance; five (A, B) pairs changing tp, pp,
#    dp (ZeRO-1, constant global batch), cp, and to the single process;
#  - preemption: SIGTERM (and SIGUSR1) during step 4 of a 4-rank self-launched run → exit 75,
#    `latest` names the step it stopped at, and the resumed run prints the uninterrupted
#    run's step lines;
#  - crash safety: every process of a 2-rank job SIGKILLed while a checkpoint is being written
#    leaves `latest` naming a complete, loadable checkpoint;
#  - bad input → exit 2, one line: another global batch (and allow_batch_change), other model
#    dimensions, a load_path that is not a checkpoint, `latest` naming a missing directory, a
#    rank file with corrupt tensor data (also found by `picotron-shard-ckpt verify`).
# POSIX sh (like lib.sh). Two groups of cases run side by side (see "The run" below): a run
# here is mostly process start-up, so they overlap well. Measured back to back with the same
# cases one after the other, on 2 cores shared with other test runs (load 4.6-6.5): 15-21 s
# wall against 24-27 s, 19-21 s CPU (user + sys) against 18-21 s. The runner limit below
# leaves room for a busier machine.
# timeout: 180
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# picotron-train must decide for itself: no launcher variables from whoever runs this test.
unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_SIZE OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK \
    SLURM_STEP_ID SLURM_PROCID PICOTRON_SELF_LAUNCHED

command -v mpirun >/dev/null || { echo "not ok - mpirun is missing (scripts/install-deps)"; exit 1; }

SHARD=$BIN/picotron-shard-ckpt
[ -x "$SHARD" ] || { echo "not ok - $SHARD is missing (run 'make all' first)"; exit 1; }

# ck_json FILE DP PP CP TP ZERO ACC [SEQ [MBS]]: a tiny-mesh config (L5 C64 H8 K4 F128 V300,
# synthetic data, 6 steps, a step line every step, no checkpoints unless --set) on the given
# mesh. The global batch is MBS·ACC·DP: every mesh below keeps it at 8 (2·2·2 or 2·4·1).
ck_json() {
    cat >"$1" <<EOF
{
    "distributed": {"dp_size": $2, "pp_size": $3, "cp_size": $4, "tp_size": $5,
                    "zero_stage": $6, "pp_engine": "1f1b"},
    "model": {"name": "tiny-mesh", "dtype": "float32"},
    "training": {"seed": 42, "learning_rate": 3e-3, "total_train_steps": 6,
                 "seq_length": ${8:-32}, "micro_batch_size": ${9:-2},
                 "gradient_accumulation_steps": $7},
    "optimizer": {"grad_clip": 1.0, "lr_schedule": "cosine", "warmup_steps": 2, "min_lr": 1e-4},
    "dataset": {"name": "synthetic"},
    "checkpoint": {"save_frequency": 0},
    "logging": {"run_dir": "$RUN", "log_frequency": 1}
}
EOF
}

# train CODE ARGS...: picotron-train ARGS under `timeout 60` (a hang fails as 124), expecting
# exit CODE; stdout in $OUT, stderr in $ERR.
train() {
    want=$1
    shift
    expect_exit "$want" timeout 60 "$TRAIN" "$@"
}

# keycols FILE: "step loss lr grad_norm" of every step line (tok/s and mfu are timings).
keycols() { awk '$1 == "step" { print $2, $4, $6, $8 }' "$1"; }

# lines_from FILE N: the step lines of FILE with step >= N.
lines_from() { awk -v n="$2" '$1 == "step" && $2 + 0 >= n + 0' "$1"; }

# lines_to FILE N: the step lines of FILE with step <= N.
lines_to() { awk -v n="$2" '$1 == "step" && $2 + 0 <= n + 0' "$1"; }

# same_cols A B WHAT: the step, loss, lr and grad_norm columns of A and B are text-equal.
same_cols() {
    keycols "$1" >"$TMP/colsA"
    keycols "$2" >"$TMP/colsB"
    if [ -s "$TMP/colsA" ] && cmp -s "$TMP/colsA" "$TMP/colsB"; then
        pass "$3"
    else
        fail "$3 differ:"
        diff "$TMP/colsA" "$TMP/colsB" | head -n 10 | sed 's/^/    | /'
    fi
}

# columns_abs A B KEY TOL: the KEY columns of step-line files A and B have the same steps and
# values within TOL absolute (as in test_parallel.sh).
# shellcheck disable=SC2317  # called through check
columns_abs() {
    column "$1" "$3" >"$TMP/colA"
    column "$2" "$3" >"$TMP/colB"
    [ -s "$TMP/colA" ] || return 1
    [ "$(cut -d' ' -f1 "$TMP/colA")" = "$(cut -d' ' -f1 "$TMP/colB")" ] || return 1
    paste -d' ' "$TMP/colA" "$TMP/colB" | while read -r _ a _ b; do
        if ! is_number "$a" || ! is_number "$b" ||
            ! awk -v a="$a" -v b="$b" -v t="$4" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'
        then
            echo "    | $3 $a vs $b"
            exit 1
        fi
    done
}

# mesh_equal A REF WHAT: A's step lines equal REF's to the mesh-equivalence tolerance of
# test_parallel.sh (docs/design.md, Invariants: at the same global batch every mesh gives the same loss to
# fp32 reduction order): the same steps, lr text-equal, loss within 1e-5 relative, grad_norm
# within 1.5e-4 absolute (printed with 4 decimals).
mesh_equal() {
    check "$3: steps $(steps "$2" | tr '\n' ' ')" [ "$(steps "$1")" = "$(steps "$2")" ]
    column "$1" lr >lrA.txt
    column "$2" lr >lrB.txt
    assert_same_text lrA.txt lrB.txt "$3: lr column (text)"
    check "$3: loss within 1e-5 relative" columns_close "$1" "$2" loss 1e-5
    check "$3: grad_norm within 1.5e-4" columns_abs "$1" "$2" grad_norm 1.5e-4
}

# latest_step DIR: the step number `DIR/latest` names (no leading zeros), or nothing.
latest_step() {
    sed -n 's/^step_0*\([0-9][0-9]*\)$/\1/p' "$1/latest" 2>/dev/null
}

# job_pids PID: PID and all its descendants (parent, mpirun, the ranks), one per line.
job_pids() {
    echo "$1"
    for c in $(pgrep -P "$1"); do job_pids "$c"; done
}

# wait_job PID PIDS...: wait up to 30 s for the background job PID to end (then SIGKILL PIDS,
# the whole job); returns its exit status.
wait_job() {
    i=0
    while [ "$i" -lt 600 ]; do
        s=$(ps -o stat= -p "$1" 2>/dev/null) || break
        case $s in Z*) break ;; esac
        sleep 0.05
        i=$((i + 1))
    done
    [ "$i" -lt 600 ] || kill -KILL "$@" 2>/dev/null
    wait "$1"
}


# complete_ckpt DIR: DIR holds meta.h5 and every rank file meta.h5 lists, and
# picotron-shard-ckpt info reads it.
# shellcheck disable=SC2317  # called through check
complete_ckpt() {
    [ -f "$1/meta.h5" ] && "$SHARD" info "$1" >"$TMP/info.txt" 2>"$TMP/info.err"
}

# Independent groups of cases run side by side: each run is mostly process start-up (mpirun,
# 2-4 ranks, a few ms of steps), so two jobs overlap well on 2 cores; a third lane only adds
# CPU (ranks yielding to each other).
# lane NAME FUNC: run FUNC in the background in $TMP/NAME, which becomes its $TMP (so its $OUT,
# $ERR, $RUN, scratch files and failures are its own); its output goes to $TMP/NAME.log.
LANES=""
lane() {
    mkdir "$TMP/$1"
    lane_run "$1" "$2" >"$TMP/$1.log" 2>&1 &
    LANES="$LANES $1:$!"
}

# lane_run NAME FUNC: the body of a lane (a background subshell: what it sets stays there).
lane_run() {
    TMP=$TMP/$1
    OUT=$TMP/stdout ERR=$TMP/stderr RUN=$TMP/run NCHECKS=0 NFAILS=0
    cd "$TMP" || exit 2
    "$2"
    echo "$NCHECKS $NFAILS" >"$TMP/tally"
}

# join_lanes: wait for every lane; print its output and add its checks and failures.
join_lanes() {
    for l in $LANES; do
        wait "${l#*:}"
        name=${l%%:*}
        cat "$TMP/$name.log"
        [ -s "$TMP/$name/failures" ] && cat "$TMP/$name/failures" >>"$TMP/failures"
        if read -r n f <"$TMP/$name/tally"; then
            NCHECKS=$((NCHECKS + n))
            NFAILS=$((NFAILS + f))
        else
            CASE="lane $name"
            fail "ended without its tally (killed?)"
        fi
    done
}

# =============================================================================================
# Exact resume. Reference: docs/training.md — "a run stopped after step k and resumed prints
# bit for bit the losses of the uninterrupted run on the same mesh": text-equal columns.
exact_resume() {
    m=$1
    begin "exact resume $m zero1"
    # The straight run saves at step 3 too: its step_00000003 is mesh A's checkpoint below.
    train 0 --config "$m.json" --no-metrics --set checkpoint.save_dir="$TMP/full_$m" \
        --set checkpoint.save_frequency=3
    cp "$OUT" "full_$m.txt"
    check "6 steps straight" [ "$(steps "full_$m.txt" | tr '\n' ' ')" = "1 2 3 4 5 6 " ]
    R="--config $m.json --no-metrics --set checkpoint.save_dir=$TMP/res_$m
        --set checkpoint.save_frequency=3 --set checkpoint.resume=auto"
    # shellcheck disable=SC2086  # $R is a list of words on purpose
    train 0 $R --steps 3
    assert_contains "$ERR" "checkpoint.resume auto: no $TMP/res_$m/latest yet, starting at step 0"
    cp "$OUT" part1.txt
    check "after --steps 3, latest names step 3" [ "$(latest_step "$TMP/res_$m")" = 3 ]
    # shellcheck disable=SC2086
    train 0 $R
    cp "$OUT" part2.txt
    assert_contains "$ERR" "resumed from $TMP/res_$m/step_00000003 at step 3"
    cat part1.txt part2.txt >resumed.txt
    same_cols resumed.txt "full_$m.txt" "3 + resume + 3 vs 6 straight (step loss lr grad_norm)"
}

# =============================================================================================
# Reshard and continue: 3 steps on A, 3 more on B = 6 steps on A, to the mesh-equivalence
# tolerance (mesh_equal). "3 steps on A" is A's straight 6-step run's step_00000003: the
# exact-resume checks above show it is the state after 3 steps (the LR schedule follows
# total_train_steps, not --steps). Through picotron-shard-ckpt B loads the same values into the
# same mesh, so that run is text-equal to the direct load.

# configs: the meshes of exact resume, the reshard pairs and the bad input.
configs() {
    ck_json dp2tp2.json 2 1 1 2 1 2
    ck_json dp2pp2.json 2 2 1 1 1 2
    ck_json tp2.json 1 1 1 2 0 4
    ck_json pp2.json 1 2 1 1 0 4
    ck_json cp2pp2.json 1 2 2 1 0 4
    ck_json pp2tp2.json 1 2 1 2 0 4
    ck_json cp2.json 1 1 2 1 0 4
    ck_json tp4.json 1 1 1 4 0 4
    ck_json one.json 1 1 1 1 0 4
}

# reshard A B TO HOW: A's checkpoint at step 3 continued on B; TO is picotron-shard-ckpt's
# --to; HOW is how B loads it directly: path (load_path = the step directory), savedir
# (load_path = a save_dir whose latest names it) or auto (resume "auto" from such a save_dir).
reshard() {
    a=$1 b=$2 to=$3 how=$4
    begin "reshard $a -> $b ($how, and shard-ckpt --to $to)"
    ck=$TMP/full_$a/step_00000003
    if [ ! -f "full_$a.txt" ]; then
        train 0 --config "$a.json" --no-metrics --set checkpoint.save_dir="$TMP/full_$a" \
            --set checkpoint.save_frequency=3
        cp "$OUT" "full_$a.txt"
    fi
    lines_from "full_$a.txt" 4 >ref.txt
    sd=$TMP/sd_${a}_$b
    mkdir -p "$sd"
    cp -r "$ck" "$sd/"
    echo step_00000003 >"$sd/latest"
    case $how in
        path) load="--set checkpoint.load_path=$ck" ;;
        savedir) load="--set checkpoint.load_path=$sd" ;;
        *) load="--set checkpoint.save_dir=$sd --set checkpoint.resume=auto" ;;
    esac
    # shellcheck disable=SC2086  # $load is a list of words on purpose
    train 0 --config "$b.json" --no-metrics $load
    cp "$OUT" direct.txt
    assert_contains "$ERR" "step_00000003 at step 3 (mesh then"
    mesh_equal direct.txt ref.txt "direct load on $b vs 6 steps on $a"
    expect_exit 0 "$SHARD" --in "$ck" --to "$to" --out "$TMP/sh_${a}_$b" -q
    train 0 --config "$b.json" --no-metrics --set checkpoint.load_path="$TMP/sh_${a}_$b"
    cp "$OUT" sharded.txt
    assert_contains "$ERR" "sh_${a}_$b at step 3 (mesh then"
    mesh_equal sharded.txt ref.txt "shard-ckpt then load on $b vs 6 steps on $a"
    same_cols sharded.txt direct.txt "shard-ckpt then load vs direct load (text)"
}

# =============================================================================================
# Preemption. Reference: docs/training.md — SIGTERM or SIGUSR1 (to a self-launched run's
# parent, which passes them to the ranks) → every rank agrees at the next step boundary, saves,
# exits 75; resume "auto" then continues with the uninterrupted run's losses (text-equal).
# Slow steps so that the signal, sent as soon as "step 3" is on stdout (polled every 10 ms),
# lands during step 4: seq 256, mbs 4 (global batch 16 x 256 tokens), ~0.35 s a step on 2
# cores; measured: it stops at step 4 every time.
preemption() {
    ck_json slow.json 2 1 1 2 1 2 256 4
    begin "preemption: uninterrupted reference"
    train 0 --config slow.json --no-metrics
    cp "$OUT" slow_ref.txt
    check "6 steps" [ "$(steps slow_ref.txt | tr '\n' ' ')" = "1 2 3 4 5 6 " ]

    for sig in TERM USR1; do
        begin "preemption: SIG$sig during step 4"
        sd=$TMP/pre_$sig
        # Fresh output files: the background job truncates its stdout only once it runs, so a
        # reused name could show the previous run's "step 3" before that.
        "$TRAIN" --config slow.json --no-metrics --set checkpoint.save_dir="$sd" \
            >"pre_$sig.out" 2>"pre_$sig.err" &
        pid=$!
        check "step 3 appeared" wait_step "pre_$sig.out" 3
        pids=$(job_pids "$pid")
        kill "-$sig" "$pid"
        # shellcheck disable=SC2086  # a list of PIDs
        wait_job $pids
        rc=$?
        check "exit $rc is 75 (saved, requeue me)" [ "$rc" -eq 75 ]
        n=$(latest_step "$sd")
        echo "# $CASE: stopped after step ${n:-none}"
        check "latest names step ${n:-none} >= 3" [ "${n:-0}" -ge 3 ]
        check "step_$n is complete" complete_ckpt "$sd/$(cat "$sd/latest" 2>/dev/null)"
        check "the last step line printed is step $n" [ "$(steps "pre_$sig.out" | tail -n 1)" = "$n" ]
        assert_contains "pre_$sig.err" "stopped by a signal at step $n: checkpoint saved in $sd"
        lines_to slow_ref.txt "$n" >ref.txt
        same_cols "pre_$sig.out" ref.txt "steps 1..$n before the signal vs uninterrupted"
        train 0 --config slow.json --no-metrics --set checkpoint.save_dir="$sd" \
            --set checkpoint.resume=auto
        cp "$OUT" post.txt
        assert_contains "$ERR" "resumed from $sd/$(printf 'step_%08d' "$n") at step $n"
        lines_from slow_ref.txt "$((n + 1))" >ref.txt
        same_cols post.txt ref.txt "resumed steps $((n + 1))..6 vs uninterrupted"
    done
}

# =============================================================================================
# Crash safety. Reference: docs/checkpoint.md "Commit protocol" — a process killed at any point
# leaves `latest` naming the previous complete checkpoint; a leftover step_N.tmp/ is ignored and
# removed by the next save of that step. A 2-rank tp=2 job of a wider model (C256 F768 L4,
# 3.3M params: 38 MB per checkpoint) saves every step; as soon as the checkpoint of step 1 is
# committed we poll for the next step_*.tmp/ and SIGKILL every process of the job at once (a
# node crash), after a delay of 0, 20 or 60 ms. Then: latest names a complete checkpoint that
# picotron-shard-ckpt info reads, and resume "auto" from it runs (exit 0), commits the next
# step and leaves no .tmp behind. Where the kill lands, measured over 6 rounds of each delay on
# 2 busy cores: 0 ms — always while the rank files were written (step_00000002.tmp/ left with
# 0-15 of 38 MB); 20 ms — always before the commit (30-38 MB written, no meta.h5); 60 ms —
# 2 of 6 in the commit (meta.h5 written, not yet renamed), 4 of 6 after it (latest = step 2).
# So every round checks the state a crash leaves; the log says where each kill landed.
crash_safety() {
    ck_json tp2.json 1 1 1 2 0 4
    BIG="--config tp2.json --no-metrics --set model.hidden_size=256 --set model.intermediate_size=768
        --set model.num_hidden_layers=4 --set training.total_train_steps=1000
        --set checkpoint.save_frequency=1"
    MIDWRITE=0
    for delay in 0 0.02 0.06; do
        begin "crash safety: SIGKILL during a save (delay $delay s)"
        sd=$TMP/crash_$delay
        # shellcheck disable=SC2086  # $BIG is a list of words on purpose
        "$TRAIN" $BIG --set checkpoint.save_dir="$sd" >crash.out 2>crash.err &
        pid=$!
        i=0
        while [ ! -f "$sd/latest" ] && [ "$i" -lt 3000 ]; do
            sleep 0.01
            i=$((i + 1))
        done
        pids=$(job_pids "$pid")
        i=0
        found=""
        while [ -z "$found" ] && [ "$i" -lt 5000 ]; do
            for d in "$sd"/step_*.tmp; do [ -d "$d" ] && found=$d; done
            [ -n "$found" ] || sleep 0.002
            i=$((i + 1))
        done
        [ "$delay" = 0 ] || sleep "$delay"
        # shellcheck disable=SC2086  # a list of PIDs
        kill -KILL $pids 2>/dev/null
        wait "$pid" 2>/dev/null
        check "a save was in progress (${found:-no step_*.tmp seen})" [ -n "$found" ]
        left=""
        for d in "$sd"/step_*.tmp; do [ -d "$d" ] && left=$d; done
        if [ -n "$left" ]; then
            MIDWRITE=$((MIDWRITE + 1))
            echo "# $CASE: killed before the commit: $left holds $(cd "$left" && echo *) ($(du -sk "$left" | cut -f1) KiB)"
        else
            echo "# $CASE: the kill landed after the commit"
        fi
        n=$(latest_step "$sd")
        check "latest names a step (${n:-none})" [ -n "$n" ]
        name=$(cat "$sd/latest" 2>/dev/null)
        check "latest's $name is complete and picotron-shard-ckpt info reads it" \
            complete_ckpt "$sd/$name"
        check "info says step $n" grep -q "^step ${n:-x}\$" "$TMP/info.txt"
        # shellcheck disable=SC2086
        train 0 $BIG --set checkpoint.save_dir="$sd" --set checkpoint.resume=auto --steps 1
        assert_contains "$ERR" "resumed from $sd/$name at step $n"
        check "the resumed run printed step $((n + 1))" [ "$(steps "$OUT")" = "$((n + 1))" ]
        check "latest now names step $((n + 1))" [ "$(latest_step "$sd")" = "$((n + 1))" ]
        left=""
        for d in "$sd"/step_*.tmp; do [ -d "$d" ] && left=$d; done
        check "no step_*.tmp left after the next save (${left:-none})" [ -z "$left" ]
        rm -rf "$sd"
    done
    echo "# crash safety: $MIDWRITE of 3 kills landed before the commit"
}

# The timing-bound cases (slow steps, signals, kills), one after the other.
timing_lane() {
    preemption
    crash_safety
}

# =============================================================================================
# The run, in two lanes of about equal length: the timing-bound cases in the background; here
# exact resume, the reshard pairs (which start from the exact-resume runs' checkpoints) and the
# bad input (which loads full_dp2tp2's checkpoint).
lane timing timing_lane
configs
exact_resume dp2tp2
exact_resume dp2pp2
# tp and pp change, dp 2 → 1 with ZeRO-1 → none: grad_acc doubled
reshard dp2tp2 pp2tp2 dp=1,pp=2,tp=2,zero=0 path
# tp → cp
reshard tp2 cp2 tp=1,cp=2 auto
# pp → dp·tp with ZeRO-1: grad_acc halved
reshard pp2 dp2tp2 dp=2,pp=1,tp=2,zero=1 savedir
# cp·pp → tp
reshard cp2pp2 tp4 cp=1,pp=1,tp=4 path
# to the single process
reshard dp2pp2 one dp=1,pp=1,zero=0 auto

# =============================================================================================
# Bad input: one line, exit 2, nothing written. Reference: docs/checkpoint.md "Loading",
# docs/training.md (any checkpoint loads under any mesh that keeps the global batch).
CK=$TMP/full_dp2tp2/step_00000003

begin "bad input: another global batch (4 ranks)"
train 2 --config dp2tp2.json --set training.micro_batch_size=1 --set checkpoint.load_path="$CK"
assert_one_line "$ERR"
assert_contains "$ERR" "allow_batch_change"
assert_contains "$ERR" "global batch of 8 samples, this config has 4"
assert_no_run_dir
begin "another global batch with checkpoint.allow_batch_change=true"
train 0 --config dp2tp2.json --set training.micro_batch_size=1 --set checkpoint.load_path="$CK" \
    --set checkpoint.allow_batch_change=true --no-metrics --steps 1
assert_contains "$ERR" "at step 3"
check "it trains step 4" [ "$(steps "$OUT")" = 4 ]

begin "bad input: model.intermediate_size differs from the checkpoint's"
train 2 --config one.json --set model.intermediate_size=256 --set checkpoint.load_path="$CK"
assert_one_line "$ERR"
assert_contains "$ERR" "mlp"
assert_contains "$ERR" "has shape [128, 64] but the model expects [256, 64]"
assert_no_run_dir

begin "bad input: load_path is not a checkpoint"
mkdir empty
train 2 --config one.json --set checkpoint.load_path="$TMP/empty"
assert_one_line "$ERR"
assert_contains "$ERR" "checkpoint.load_path"
assert_contains "$ERR" "meta.h5 missing"
assert_no_run_dir
train 2 --config one.json --set checkpoint.load_path="$TMP/one.json"
assert_one_line "$ERR"
assert_contains "$ERR" "checkpoint.load_path"
assert_no_run_dir

begin "bad input: latest names a missing directory, resume auto"
# docs/checkpoint.md: "`latest` naming a missing directory: the error names both". Only a
# save_dir without `latest` is a fresh start; before the fix in checkpoint_source
# (lib/trainer.c), any ckpt_latest error was taken for that: the run restarted at step 0 and
# wrote its own checkpoints and `latest` over the dangling one.
mkdir dangling
echo step_00000009 >dangling/latest
train 2 --config one.json --set checkpoint.save_dir="$TMP/dangling" \
    --set checkpoint.resume=auto --set checkpoint.save_frequency=1
assert_one_line "$ERR"
assert_contains "$ERR" "$TMP/dangling/latest"
assert_contains "$ERR" "step_00000009"
assert_no_run_dir
check "no checkpoint written beside it" [ "$(cd dangling && echo *)" = latest ]

begin "bad input: a corrupt tensor in a rank file"
# docs/checkpoint.md "Checksums": 64 bytes overwritten inside the stored data of one tensor
# -> the load refuses it, naming the rank file and the tensor; shard-ckpt verify finds it
# offline. Before checksums the resume exited 0 with the altered weights.
T=model.layers.0.mlp.down_proj.weight
cp -R "$CK" corrupt
check "overwrote bytes of /weights/$T in rank_00000.h5" \
    corrupt_tensor corrupt/rank_00000.h5 "/weights/$T"
train 2 --config dp2tp2.json --set checkpoint.load_path="$TMP/corrupt"
assert_one_line "$ERR"
assert_contains "$ERR" "corrupt/rank_00000.h5: tensor /weights/$T: stored data fails its checksum"
assert_no_run_dir
expect_exit 2 "$SHARD" verify -q corrupt
assert_one_line "$ERR"
assert_contains "$ERR" "corrupt/rank_00000.h5: tensor /weights/$T: stored data fails its checksum"
expect_exit 0 "$SHARD" verify -q "$CK"
assert_contains "$OUT" "checksums hold"
assert_not_contains "$OUT" "without checksums"

begin "bad input: checkpoints but no latest, resume auto"
# docs/checkpoint.md "Resuming": a fresh start here would train from step 0 and point `latest`
# at the new run's steps, past the checkpoint left there; refused, naming it.
mkdir nolatest
cp -r "$CK" nolatest/
mkdir nolatest/step_00000005.tmp
train 2 --config one.json --set checkpoint.save_dir="$TMP/nolatest" \
    --set checkpoint.resume=auto --set checkpoint.save_frequency=1
assert_one_line "$ERR"
assert_contains "$ERR" "no \`latest\`"
assert_contains "$ERR" "set checkpoint.load_path to $TMP/nolatest/step_00000003"
assert_no_run_dir
check "nothing written beside it" [ "$(cd nolatest && echo *)" = "step_00000003 step_00000005.tmp" ]

join_lanes
finish
