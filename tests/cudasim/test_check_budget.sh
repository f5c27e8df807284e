#!/bin/sh
# test_check_budget: scripts/check-cuda-budget on captured ptxas output (tests/cudasim/budget):
# passes a kernel within its budget, and fails, naming the kernel, on a spill, registers or
# shared memory over budget, a kernel without a budget line, and a budget naming no kernel.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
fix=$top/tests/cudasim/budget
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect EXIT TEXT NAME PTXAS_DIR SOURCE: the check exits EXIT and prints TEXT
expect() {
    want=$1 text=$2 name=$3
    shift 3
    "$top/scripts/check-cuda-budget" "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -q -- "$text" "$tmp/out"; then
        echo "test_check_budget: $name: exit $rc (want $want), output:"
        cat "$tmp/out"
        fail=1
    fi
}

expect 0 "demo_kernel  *regs  40  smem   1024" "within budget" "$fix/ok" "$fix/demo.cu"
expect 1 "demo_kernel spills (.*180 bytes spill stores" "spill" "$fix/spill" "$fix/demo.cu"
sed 's/regs<=40/regs<=32/' "$fix/demo.cu" >"$tmp/demo.cu"
expect 1 "demo_kernel uses 40 registers.*over its budget" "registers" "$fix/ok" "$tmp/demo.cu"
sed 's/smem<=1024/smem<=1000/' "$fix/demo.cu" >"$tmp/demo.cu"
expect 1 "1024 bytes smem: over its budget" "shared memory" "$fix/ok" "$tmp/demo.cu"
grep -v '// budget:' "$fix/demo.cu" >"$tmp/demo.cu"
expect 1 "kernel demo_kernel states no budget" "no budget" "$fix/ok" "$tmp/demo.cu"
{ cat "$fix/demo.cu"; echo "// budget: gone_kernel regs<=8 smem<=0"; } >"$tmp/demo.cu"
expect 1 "budget for gone_kernel, which is no kernel" "stale budget" "$fix/ok" "$tmp/demo.cu"
sed 's/smem<=1024/shmem=1024/' "$fix/demo.cu" >"$tmp/demo.cu"
expect 1 "bad budget field" "malformed budget" "$fix/ok" "$tmp/demo.cu"
expect 2 "missing source or ptxas output" "no ptxas output" "$tmp" "$fix/demo.cu"

if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "test_check_budget: 8 cases passed"
