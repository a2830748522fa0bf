# SPDX-License-Identifier: GPL-2.0
#
# p2p_pgmap top-level Makefile: a front for the scripts of tools/ and
# tests/, which never call it back. `make help` lists the targets.
#
# Objects are built in build/<kernel>/, never in the source tree, so builds
# for several kernels can coexist. The build targets only compile: they
# neither install nor download, and a kernel missing from the cache stops
# them with the command that fetches it. deps and every target that runs
# tests (check, demo, stress, bench, lint) install and fetch first.

# The matrix and every other setting of the tests: tests/settings; the
# kernels themselves: tools/kernels.
KERNELS ?= $(shell bash -c '. tests/settings && echo $$KERNELS')
KERNEL ?= debian-6.12
TOOLS := tools

# The build targets run tools/kernel with P2P_KERNEL_FETCH=0, so that it
# downloads nothing. A goal that fetches exports 1 instead, which the
# scripts it runs (tests/check, the demo...) pass on to their builds.
# make check HOST=1 runs on this machine's kernel: it fetches nothing.
FETCH_GOALS := deps stress demo bench lint $(if $(filter 1,$(HOST)),,check)
ifneq ($(filter $(FETCH_GOALS),$(MAKECMDGOALS)),)
  P2P_KERNEL_FETCH ?= 1
  # Even under -j, build only once deps has fetched.
  modules userspace: | deps-fetch
else
  P2P_KERNEL_FETCH ?= 0
endif
export P2P_KERNEL_FETCH

.PHONY: all help modules userspace check stress demo bench lint deps deps-fetch deb clean

all: modules userspace

help:
	@echo 'make                      modules for KERNEL (default $(KERNEL)) and the userspace programs'
	@echo 'make KERNEL=debian-7.3    modules for a kernel of the matrix (tools/kernels)'
	@echo 'make KDIR=/path/to/build  modules for any kernel build tree'
	@echo 'make userspace            library, CLI, examples and test programs in build/bin'
	@echo 'make deps                 install the apt packages (as root), fetch the kernels of KERNELS'
	@echo 'make check                every test on every kernel of the matrix, then one line'
	@echo '                          "N passed, N failed[, N skipped]". KERNELS="..." a subset,'
	@echo '                          T=area/NNN one test, T=area an area, HOST=1 this machine'
	@echo 'make demo                 the main job in a VM: bind, register with RDMA, move data'
	@echo 'make stress               unplug cycles under RDMA traffic (debug kernel)'
	@echo 'make bench                benchmarks: a table, JSON and a PNG plot in build/bench/'
	@echo 'make lint                 checkpatch --strict, sparse, W=1, the series against the module'
	@echo 'make deb                  the Debian packages (DKMS and tools) in build/deb/'
	@echo 'make clean                remove build/'
	@echo 'Settings: tests/settings. Kernels: tools/kernels. Docs: Documentation/p2p_pgmap/.'

# The 7.3 source: checkpatch, and the selftests' kselftest harness.
# deps-fetch gets all but the kernels built here (the debug kernel, the
# 6.12 stand-in), which deps then builds. For make check it gets the
# packages and the source only: tests/check starts those builds in one
# lane at once, and the other lane fetches the Debian kernels (downloads,
# the build root) beside them, so a fresh machine's CPUs compile while it
# downloads.
BUILT_KERNELS := $(if $(strip $(KERNELS)),$(shell $(TOOLS)/kernels --where kind=built $(KERNELS)) \
	$(shell $(TOOLS)/kernels --where kind=ours $(KERNELS)))
PREFETCH := $(if $(filter check,$(MAKECMDGOALS)),source-7.3,\
	$(sort $(filter-out $(BUILT_KERNELS),$(KERNELS)) source-7.3))
deps: deps-fetch
	@for k in $(BUILT_KERNELS); do \
		P2P_KERNEL_FETCH=1 $(TOOLS)/kernel $$k >/dev/null || exit 1; \
	done

deps-fetch:
	@$(TOOLS)/deps
	@for k in $(PREFETCH); do \
		P2P_KERNEL_FETCH=1 $(TOOLS)/kernel $$k >/dev/null || exit 1; \
	done

# Modules for $(KERNEL), or for any build tree with KDIR=.
modules:
ifdef KDIR
	@$(TOOLS)/build-modules --kdir $(KDIR)
else
	@$(TOOLS)/build-modules $(KERNEL)
endif

userspace:
	@$(TOOLS)/build-userspace

ifeq ($(HOST),1)
check: userspace
	@tests/check
else
check: deps-fetch userspace
	@tests/check $(KERNELS)
endif

stress: deps userspace
	@tests/unplug/stress

demo: deps
	@tests/vm/demo

bench: deps
	@userspace/bench/run

lint: deps
	@$(TOOLS)/lint

# Two Debian packages in build/deb/: p2p-pgmap-dkms (all) and
# p2p-pgmap-tools (amd64), built by debian/rules from a copy of the tree
# whose changelog carries VERSION; lintian checks them.
deb:
	@$(TOOLS)/deps --deb
	@debian/make-deb

clean:
	rm -rf build
