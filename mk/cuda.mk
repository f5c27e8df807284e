# cuda: the CUDA backend's host side (lib/backend_cuda.c over cudart and cuBLASLt), the
# stand-in build that runs it without a GPU, and its checks (docs/cuda.md).
#   CUDA=1 (default when nvcc is found): libpicotron.a holds lib/backend_cuda.c and the nvcc
#          kernel objects, every binary links cudart/cuBLAS/cuBLASLt (rpath to CUDA_HOME);
#   CUDA=0: lib/backend_nocuda.c instead, and device=cuda says the build lacks it.
#   check-cuda  the stand-in build (tests/cudastub + the kernels through tests/cudasim):
#               the stand-in's bf16 GEMMs against a double reference (test_lt_bf16);
#               training on device=cuda against the CPU backend, the mesh suites, resume
#               across backends, the real binary's fallback without a GPU
#   check-gpu   on a machine with a GPU: kernels, training and benchmarks natively

NVCC      ?= $(shell command -v nvcc)
CUDA      ?= $(if $(NVCC),1,0)
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(realpath $(NVCC))),/usr/local/cuda)

# the link of everything except the CUDA libraries (the stand-in build uses this)
LDLIBS_HOST := $(LDLIBS)

.PHONY: check-cuda check-cuda-mesh check-gpu cudastub check-nccl
# NCCL comes with the CUDA toolkit; lib/ncclboot is built only where its header is.
NCCL      ?= $(if $(wildcard $(CUDA_HOME)/include/nccl.h),$(CUDA),0)

ifeq ($(CUDA),1)
LIB_SRC_OFF   = lib/backend_nocuda.c $(if $(filter 1,$(NCCL)),,lib/ncclboot.c lib/ncclcomm.c)
LIB_OBJ_EXTRA = $(patsubst lib/kernels/cuda/%.cu,$(B)/cuda/%.o,$(wildcard lib/kernels/cuda/*.cu))
CUDA_CFLAGS   = -I$(CUDA_HOME)/include
CUDA_LIBDIR   = $(CUDA_HOME)/lib64
LDLIBS       += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublasLt -lcublas -lcudart -lstdc++

$(B)/lib/backend_cuda.o $(B)/lib/ncclboot.o $(B)/lib/ncclcomm.o: CFLAGS += $(CUDA_CFLAGS)

# ---- the stand-in build: the same host objects, cudart/cuBLASLt from tests/cudastub, the
# kernels through the CPU test runtime (tests only, never installed) ----
.SECONDEXPANSION:
STUB_DIR  = $(B)/cudastub
STUB_SRC  = $(filter-out tests/cudastub/test_%.c,$(wildcard tests/cudastub/*.c))
STUB_OBJ  = $(patsubst tests/cudastub/%.c,$(STUB_DIR)/%.o,$(STUB_SRC))
STUB_LINK = $(STUB_DIR)/libpicotron.a $(STUB_OBJ) $(CUDASIM_OBJ) $(LDLIBS_HOST) -lstdc++ -pthread
STUB_MESH = $(patsubst tests/mpi/%.c,$(STUB_DIR)/tests/mpi/%,$(wildcard tests/mpi/test_mesh_*.c))

$(STUB_DIR)/%.o: tests/cudastub/%.c tests/cudastub/cudastub.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(CUDA_CFLAGS) -c $< -o $@

$(STUB_DIR)/libpicotron.a: $(LIB_SRC:%.c=$(B)/%.o)
	@mkdir -p $(dir $@)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(STUB_DIR)/picotron-train: tools/train/main.c $(STUB_DIR)/libpicotron.a $(STUB_OBJ) $$(CUDASIM_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(STUB_LINK) -o $@

$(STUB_DIR)/tests/mpi/%: tests/mpi/%.c $(TEST_SUPPORT) $(wildcard tests/unit/*.h tests/mpi/*.h) \
                         $(STUB_DIR)/libpicotron.a $(STUB_OBJ) $$(CUDASIM_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -Itests/unit -DMESH_EQUIV_DEVICE='"cuda"' $< $(TEST_SUPPORT) $(STUB_LINK) -o $@

# The stand-in cuBLASLt's bf16 operands against a reference in double.
$(STUB_DIR)/test_lt_bf16: tests/cudastub/test_lt_bf16.c $(STUB_OBJ)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(CUDA_CFLAGS) -Itests/cudastub $< $(STUB_OBJ) $(LDLIBS_HOST) -o $@

cudastub: $(STUB_DIR)/picotron-train $(STUB_MESH)

check-cuda: all $(STUB_DIR)/picotron-train $(STUB_DIR)/test_lt_bf16
	@$(STUB_DIR)/test_lt_bf16
	@scripts/run-e2e tests/cudastub/test_cuda_backend.sh

# The mesh-equivalence suites with every mesh on the CUDA backend (stand-ins): slow (the
# kernels run through the CPU test runtime on 8 ranks), not part of make check.
check-cuda-mesh: cudastub
	@PICOTRON_CUDASTUB_DEVICES=8 CUDASIM_THREADS=1 MPI_TIMEOUT=1800 scripts/run-mpi $(STUB_MESH)

check-gpu: all
	@scripts/check-gpu

# lib/ncclboot on both launch paths (tests/pmi/test_nccl_boot.sh): the real NCCL, which
# without a GPU must refuse in one line on every rank, with one all-reduces.
ifeq ($(NCCL),1)
$(B)/tests/nccl_probe: tests/pmi/nccl_probe.c $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(CUDA_CFLAGS) $< $(B)/libpicotron.a $(LDLIBS) -lnccl -o $@

check-pmi: $(B)/tests/nccl_probe

# lib/ncclcomm over the NCCL stand-in (tests/ncclstub) and the cudart stand-in, 4 ranks (no
# kernels: the CPU test runtime is not linked).
NCCLSTUB_OBJ = $(patsubst tests/ncclstub/nccl.c,$(STUB_DIR)/ncclstub/nccl.o,tests/ncclstub/nccl.c)
$(STUB_DIR)/ncclstub/%.o: tests/ncclstub/%.c tests/cudastub/cudastub.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(CUDA_CFLAGS) -Itests/cudastub -c $< -o $@

$(STUB_DIR)/tests/test_ncclcomm: tests/ncclstub/test_ncclcomm.c tests/mpi/mpi_check.h \
                                 $(STUB_DIR)/libpicotron.a $(STUB_OBJ) $(NCCLSTUB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(CUDA_CFLAGS) -Itests/mpi $< $(NCCLSTUB_OBJ) $(STUB_DIR)/libpicotron.a $(STUB_OBJ) \
	  $(LDLIBS_HOST) -o $@

check-nccl: $(STUB_DIR)/tests/test_ncclcomm
	@timeout 120 mpirun $$( [ "$$(id -u)" = 0 ] && echo --allow-run-as-root) --oversubscribe \
	  -np 4 --mca btl_vader_single_copy_mechanism none $<
else
check-nccl:
	@echo "check-nccl: skipped: no nccl.h under $(CUDA_HOME)"
endif
else
LIB_SRC_OFF = lib/backend_cuda.c lib/ncclboot.c lib/ncclcomm.c

check-cuda check-cuda-mesh check-nccl:
	@echo "$@: skipped: built without CUDA (no nvcc, or CUDA=0)"

check-gpu:
	@echo "check-gpu: skipped: built without CUDA (no nvcc, or CUDA=0)"; exit 77
endif
