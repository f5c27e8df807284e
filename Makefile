# picotron — one Makefile: make, make check, make check-asan, make demo, make bench, make install
#
# Objects go to build/ (build-asan/ for the sanitizer build); executables to bin/.

CC       ?= gcc
ARCH     ?= -march=native
OPT      ?= -O3
PKGS      = jansson ompi-c hdf5-openmpi
# OpenBLAS built on OpenMP (Debian's libopenblas-openmp-dev), pinned by rpath: it shares one
# thread pool with our own OpenMP loops. The pthread build would spin against them.
BLASDIR   = /usr/lib/x86_64-linux-gnu/openblas-openmp
# -fno-math-errno: nothing reads errno after a math function, and without it every sqrt is a
# call behind a branch that keeps loops from vectorising (lib/rng.c's normal draws).
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -fno-math-errno -Ilib $(ARCH) $(OPT) -g $(SAN) \
            -I/usr/include/x86_64-linux-gnu/openblas-openmp $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null)
PREFIX   ?= /usr/local

LIB_SRC   = $(filter-out $(LIB_SRC_OFF),$(wildcard lib/*.c lib/kernels/cpu/*.c))
TOOLS     = train bench submit create_config convert_hf shard_ckpt metrics plot trace tokenize
TOOL_BINS = $(addprefix bin/picotron-,$(subst _,-,$(TOOLS)))
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
TEST_SUPPORT = $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))

B   = build
VG  = build-valgrind

# Slurm's PMI2 (libpmi2-0-dev) for MPI-free jobs under srun --mpi=pmi2 (lib/pmi.h): built in
# when its header is found, PMI2=0 leaves it out (pmi_init then says the build lacks it).
# --as-needed: only a binary that calls into lib/pmi loads libpmi2.
PMI2     ?= $(if $(wildcard /usr/include/slurm/pmi2.h),1,0)
ifeq ($(PMI2),1)
LDLIBS   += -Wl,--as-needed -lpmi2 -Wl,--no-as-needed
$(B)/lib/pmi.o: CFLAGS += -DPICOTRON_PMI2
endif

# The CUDA backend's host side, its stand-in build and check-cuda/check-gpu (before the rules:
# it decides which lib/ files and kernel objects go into libpicotron.a).
-include mk/cuda.mk

LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o) $(LIB_OBJ_EXTRA)

.PHONY: all deps check check-unit check-asan check-mpi check-e2e check-pmi check-nccl check-kernel-paths check-valgrind check-trace-timing demo bench bench-tokenize \
        install clean image image-deps image-repro check-image check-k8s-schema
all: bin/picotron $(TOOL_BINS) bin/text2shard

deps:
	@scripts/install-deps

$(B)/%.o: %.c $(wildcard lib/*.h lib/kernels/*.h lib/kernels/cpu/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/libpicotron.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

# The dispatcher needs only the option and process helpers: no MPI, HDF5 or BLAS to load.
DISPATCHER_OBJ = $(addprefix $(B)/lib/,cli.o error.o proc.o)
bin/picotron: tools/dispatcher/main.c $(DISPATCHER_OBJ)
	@mkdir -p bin
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(DISPATCHER_OBJ) -o $@

bin/picotron-%: $(B)/libpicotron.a $(wildcard tools/*/main.c)
	@mkdir -p bin
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) tools/$(subst -,_,$*)/main.c $(B)/libpicotron.a $(LDLIBS) -o $@

# Only picotron-tokenize (and its test) link the regex, Unicode and compression libraries.
TOKENIZE_LIBS = -lpcre2-8 -lutf8proc -lz -lzstd
bin/picotron-tokenize $(B)/tests/test_tokenizer $(VG)/bin/picotron-tokenize: LDLIBS += $(TOKENIZE_LIBS)

bin/text2shard: scripts/text2shard.c $(B)/libpicotron.a
	@mkdir -p bin
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(B)/libpicotron.a $(LDLIBS) -o $@

# Unit suites (Check), one executable per tests/unit/test_*.c.
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
$(B)/tests/%: tests/unit/%.c $(TEST_SUPPORT) $(wildcard tests/unit/*.h) $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -Itests/unit $< $(TEST_SUPPORT) $(B)/libpicotron.a $(CHECKLIBS) $(LDLIBS) -o $@

check-unit: $(UNIT_BINS)
	@scripts/run-unit $(UNIT_BINS)

# The same suites under AddressSanitizer + UndefinedBehaviorSanitizer (no -march tuning needed).
check-asan:
	@$(MAKE) --no-print-directory B=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  check-unit

# MPI suites: one executable per tests/mpi/test_*.c, each run by scripts/run-mpi under mpirun.
MPI_SRC  = $(wildcard tests/mpi/test_*.c)
MPI_BINS = $(MPI_SRC:tests/mpi/%.c=$(B)/tests/mpi/%)
$(B)/tests/mpi/%: tests/mpi/%.c $(TEST_SUPPORT) $(wildcard tests/unit/*.h tests/mpi/*.h) $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -Itests/unit $< $(TEST_SUPPORT) $(B)/libpicotron.a $(LDLIBS) -o $@

check-mpi: all $(MPI_BINS)
	@scripts/run-mpi $(MPI_BINS)

# The self-launch probe that tests/e2e/test_launch.sh drives.
$(B)/tests/launch_probe: tests/launch/launch_probe.c $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(B)/libpicotron.a $(LDLIBS) -o $@

# The PMI2 probe that tests/pmi/test_pmi_srun.sh runs under the local Slurm (no MPI); with
# NCCL, mk/cuda.mk adds the NCCL bootstrap probe it also runs.
$(B)/tests/pmi_probe: tests/pmi/pmi_probe.c $(B)/libpicotron.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(B)/libpicotron.a $(LDLIBS) -o $@

check-pmi: all $(B)/tests/pmi_probe
	@scripts/run-e2e tests/pmi/test_pmi_srun.sh

check-e2e: all $(B)/tests/launch_probe
	@scripts/run-e2e

# The numerics tests again under the other OpenBLAS kernel path(s) this CPU can run.
check-kernel-paths: all $(UNIT_BINS) $(MPI_BINS) $(B)/tests/launch_probe
	@scripts/check-kernel-paths

check: deps
	@timeout 300 $(MAKE) -j2 --no-print-directory all $(UNIT_BINS) $(MPI_BINS)
	@timeout 120 $(MAKE) --no-print-directory check-unit
	@timeout 240 $(MAKE) --no-print-directory check-asan
	@timeout 180 $(MAKE) --no-print-directory check-mpi
	@timeout 420 $(MAKE) --no-print-directory check-e2e
	@timeout 120 $(MAKE) --no-print-directory check-pmi
	@timeout 300 $(MAKE) --no-print-directory check-kernel-paths
	@timeout 300 $(MAKE) --no-print-directory check-cuda-kernels
	@timeout 600 $(MAKE) --no-print-directory check-cuda
	@timeout 120 $(MAKE) --no-print-directory check-nccl
	@echo "make check: all passed"

# The pp=2 trace's bubbles against the schedule's idle slots, asserted (a timing test: run it on
# a quiet machine; make check only prints the comparison).
check-trace-timing: all
	@PICOTRON_TIMING_TESTS=1 scripts/run-e2e test_trace.sh

# Every tool's normal path under valgrind's memcheck (a CI target, not part of check): built in
# its own directory for x86-64-v3 (valgrind runs no AVX-512), -O1, tools linked into
# $(VG)/bin so bin/ keeps the native build. scripts/check-valgrind says what runs.
VG_BINS = $(addprefix $(VG)/bin/picotron-,$(subst _,-,$(TOOLS))) $(VG)/bin/picotron
check-valgrind:
	@$(MAKE) --no-print-directory B=$(VG) CUDA=0 ARCH=-march=x86-64-v3 OPT=-O1 $(VG_BINS)
	@scripts/check-valgrind $(VG)/bin

$(VG)/bin/picotron-%: $(B)/libpicotron.a $(wildcard tools/*/main.c)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) tools/$(subst -,_,$*)/main.c $(B)/libpicotron.a $(LDLIBS) -o $@

$(VG)/bin/picotron: tools/dispatcher/main.c $(DISPATCHER_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $< $(DISPATCHER_OBJ) -o $@

demo: deps all
	@scripts/demo

bench: deps all
	@scripts/bench

# The container image (image/Containerfile), built with buildah from a debootstrap'd Debian 12
# kept in build/image/base.tar; not part of `make check` (network, root, ~1-2 min).
image-deps:
	@scripts/image deps

image: image-deps
	@scripts/image build

# Two builds and a diff of their file trees (mode, owner, size, mtime, sha256 of every file).
image-repro: image-deps
	@scripts/image repro

# picotron train examples/tiny.json inside the image, its loss line against this build's.
check-image: image all
	@scripts/image check

# The rendered manifests against the Kubernetes OpenAPI schema (kubernetes-validate from PyPI
# in build/k8s-venv: needs network once, and Python; not part of `make check`).
check-k8s-schema: bin/picotron-submit bin/picotron-train
	@scripts/check-k8s-schema

bench-tokenize: deps all
	@scripts/bench-tokenize

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bin/picotron $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin

clean:
	rm -rf build build-asan build-valgrind bin

# The hand-written CUDA kernels and their CPU-run tests.
-include mk/cuda-kernels.mk
