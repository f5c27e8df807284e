# cuda-kernels: the hand-written CUDA kernels (lib/kernels/cuda/*.cu), built two ways, and
# their checks (docs/cuda-kernels.md).
#   CUDA_KERNEL_OBJ  nvcc objects for the real binaries; ptxas -v output kept beside each
#   CUDASIM_OBJ      the same sources through g++ and the CPU test runtime (tests only; link
#                    with -pthread)
#   check-cuda-kernels  budget check + kernel tests under 3 thread orders + ASan/UBSan

NVCC      ?= $(shell command -v nvcc)
CUDA      ?= $(if $(NVCC),1,0)
CUDA_ARCH ?= sm_90
CXX_SIM   ?= g++

CUDA_SRC  = $(wildcard lib/kernels/cuda/*.cu)
CUDA_HDR  = $(wildcard lib/kernels/cuda/*.h lib/kernels/*.h)
NVCCFLAGS ?= -arch=$(CUDA_ARCH) -O3 -std=c++17 -Ilib -Xptxas -v -Werror all-warnings \
             -Xcompiler -Wall,-Wextra,-Werror
CUDA_KERNEL_OBJ = $(CUDA_SRC:lib/kernels/cuda/%.cu=$(B)/cuda/%.o)

# ptxas -v reports on stderr: keep it for scripts/check-cuda-budget, show anything else.
$(B)/cuda/%.o: lib/kernels/cuda/%.cu $(CUDA_HDR)
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	@$(NVCC) $(NVCCFLAGS) -c $< -o $@ 2> $(@:.o=.ptxas) || { cat $(@:.o=.ptxas); rm -f $@; exit 1; }
	@grep -v -e '^ptxas info' -e '^    [0-9]* bytes stack frame' $(@:.o=.ptxas) >&2 || true

CUDASIM_FLAGS = -std=c++17 -Wall -Wextra -Werror -Ilib -Itests/cudasim -O2 -g -pthread \
                -fno-exceptions -fno-rtti $(SAN)
CUDASIM_OBJ = $(CUDA_SRC:lib/kernels/cuda/%.cu=$(B)/cudasim/%.o) $(B)/cudasim/cudasim.o

$(B)/cudasim/%.o: lib/kernels/cuda/%.cu $(CUDA_HDR) tests/cudasim/cudasim.h
	@mkdir -p $(dir $@)
	@echo "  SIMCXX  $<"
	@$(CXX_SIM) $(CUDASIM_FLAGS) -x c++ -include tests/cudasim/cudasim.h -c $< -o $@

$(B)/cudasim/cudasim.o: tests/cudasim/cudasim.cc tests/cudasim/cudasim.h lib/kernels/cuda/cuda_kernels.h
	@mkdir -p $(dir $@)
	@echo "  SIMCXX  $<"
	@$(CXX_SIM) $(CUDASIM_FLAGS) -include tests/cudasim/cudasim.h -c $< -o $@

# Kernel tests: C programs comparing each kernel, run through the runtime, with the CPU
# kernels of libpicotron.a. test_harness also links kernels compiled only for it.
CUDASIM_TEST_SRC  = $(wildcard tests/cudasim/test_*.c)
CUDASIM_TEST_BINS = $(CUDASIM_TEST_SRC:tests/cudasim/%.c=$(B)/tests/cudasim/%)
CUDASIM_TEST_HDR  = $(wildcard tests/cudasim/*.h)

$(B)/cudasim/harness_kernels.o: tests/cudasim/harness_kernels.cu $(CUDA_HDR) tests/cudasim/cudasim.h
	@mkdir -p $(dir $@)
	@echo "  SIMCXX  $<"
	@$(CXX_SIM) $(CUDASIM_FLAGS) -x c++ -include tests/cudasim/cudasim.h -c $< -o $@

$(B)/tests/cudasim/test_harness: $(B)/cudasim/harness_kernels.o
$(B)/tests/cudasim/%: tests/cudasim/%.c $(CUDASIM_TEST_HDR) $(CUDASIM_OBJ) $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -Itests/unit -Itests/cudasim $< $(filter $(B)/cudasim/harness_kernels.o,$^) \
	  $(CUDASIM_OBJ) $(B)/libpicotron.a $(CHECKLIBS) $(LDLIBS) -o $@

.PHONY: check-cuda-kernels check-cuda-kernels-sim check-cuda-budget
check-cuda-budget: $(CUDA_KERNEL_OBJ)
	@scripts/check-cuda-budget $(B)/cuda $(CUDA_SRC)
	@tests/cudasim/test_check_budget.sh

# The kernel tests under three thread orders (one of them random with a fixed seed); the
# sanitizer build, ~10x slower, under one more random order.
CUDASIM_ORDERS ?= forward reverse random:7
check-cuda-kernels-sim: $(CUDASIM_TEST_BINS)
	@for order in $(CUDASIM_ORDERS); do \
	  echo "  thread order $$order"; \
	  CUDASIM_ORDER=$$order scripts/run-unit $(CUDASIM_TEST_BINS) || exit 1; \
	done

ifeq ($(CUDA),1)
check-cuda-kernels: check-cuda-budget check-cuda-kernels-sim
	@$(MAKE) --no-print-directory B=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  CUDASIM_ORDERS=random:11 check-cuda-kernels-sim
else
check-cuda-kernels:
	@echo "check-cuda-kernels: skipped: no nvcc"
endif

# objects made only through pattern rules are kept (make would delete them as intermediates)
.SECONDARY: $(CUDASIM_OBJ) $(CUDA_KERNEL_OBJ) $(B)/cudasim/harness_kernels.o

# The same kernel tests built natively (-DKERNEL_TEST_NATIVE) against the nvcc objects and the
# CUDA runtime, for a GPU machine: make check-gpu runs check-cuda-kernels-gpu. Without a
# device each test prints "skipped: no CUDA device" and exits 77. test_harness is about the
# CPU runtime only.
NVCC_ROOT = $(abspath $(dir $(realpath $(NVCC)))..)
CUDA_NATIVE_TEST_BINS = $(filter-out %/test_harness,$(CUDASIM_TEST_SRC:tests/cudasim/%.c=$(B)/tests/cuda-native/%))

$(B)/tests/cuda-native/%: tests/cudasim/%.c $(CUDASIM_TEST_HDR) $(CUDA_KERNEL_OBJ) $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -DKERNEL_TEST_NATIVE -I$(NVCC_ROOT)/include -Itests/unit -Itests/cudasim $< \
	  $(CUDA_KERNEL_OBJ) $(B)/libpicotron.a $(CHECKLIBS) $(LDLIBS) \
	  -L$(NVCC_ROOT)/lib64 -Wl,-rpath,$(NVCC_ROOT)/lib64 -lcudart -lstdc++ -o $@

.PHONY: check-cuda-kernels-gpu
check-cuda-kernels-gpu: $(CUDA_NATIVE_TEST_BINS)
	@status=0; for t in $(CUDA_NATIVE_TEST_BINS); do \
	  printf '%-40s ' "$$(basename $$t)"; out=$$($$t 2>&1); rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "$$out" | tail -1; \
	  elif [ $$rc -ne 0 ]; then echo "FAILED (exit $$rc)"; echo "$$out" | tail -40; status=1; \
	  else echo "$$out" | grep -E '^[0-9]+%: Checks' | tail -1; fi; \
	done; exit $$status
