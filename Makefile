# SPDX-License-Identifier: GPL-2.0
#
# p2p_pgmap top-level Makefile.
#
#   make                      modules for $(KERNEL) and the userspace tools
#   make KERNEL=debian-7.3    modules for a kernel of the test matrix
#   make KDIR=/path/to/build  modules for any kernel build tree
#   make deps                 install the packages (apt, as root), fetch the
#                             kernels of $(KERNELS) and the 7.3 source
#   make deps KERNELS="debian-7.3"     the same for a subset
#   make check                every test on every kernel of the matrix
#   make check KERNELS="debian-6.12"   the same on a subset
#   make check T=rdma/003     one test (T=rdma: an area; see README, Tests)
#   make demo                 the main job, in a VM (see README)
#   make stress               100 unplug cycles under RDMA traffic (debug kernel)
#   make bench                benchmarks: JSON and PNG in build/bench/
#   make lint                 checkpatch --strict, sparse and W=1
#
# Objects are built in build/<kernel>/, never in the source tree, so builds
# for several kernels can coexist. The build targets only compile: they
# neither install nor download, and a kernel missing from the cache stops
# them with the command that fetches it. deps and every target that runs
# tests (check, demo, stress, bench, lint) install and fetch first.

# The matrix and every other setting of the tests: tests/settings.
KERNELS ?= $(shell bash -c '. tests/settings && echo $$KERNELS')
KERNEL ?= debian-6.12
VM := tests/vm

# KMAKE runs make in the kernel's build tree, with the compiler that
# built the kernel (Debian's 7.x need gcc-14, from a trixie build root).
ifdef KDIR
  BUILD := build/custom
  KMAKE := $(MAKE) -C $(KDIR)
else
  BUILD := build/$(KERNEL)
  KMAKE := $(VM)/kmake $(KERNEL)
endif

KSRC := VERSION Kbuild drivers include tests/kunit tests/vm/modules

# The build targets run tests/vm/kernel with P2P_KERNEL_FETCH=0, so that
# it downloads nothing. A goal that fetches exports 1 instead, which the
# makes its scripts run for their builds (tests/check, the demo...) inherit.
FETCH_GOALS := deps check stress demo bench lint
ifneq ($(filter $(FETCH_GOALS),$(MAKECMDGOALS)),)
  P2P_KERNEL_FETCH ?= 1
  # Even under -j, build only once deps has fetched.
  modules userspace: | deps-fetch
else
  P2P_KERNEL_FETCH ?= 0
endif
export P2P_KERNEL_FETCH

.PHONY: all modules userspace check stress demo bench lint deps deps-fetch deb clean

all: modules userspace

# The 7.3 source: checkpatch, and the selftests' kselftest harness.
# deps-fetch gets all but the debug kernels, which deps then builds. make
# check needs only deps-fetch: tests/check builds a debug kernel in its
# own lane (about 35 min on a fresh 2-core machine) while the other
# lane's guests run the Debian kernels' tests.
DEBUG_KERNELS := $(filter p2pdma-%,$(KERNELS))
deps: deps-fetch
	@for k in $(DEBUG_KERNELS); do \
		P2P_KERNEL_FETCH=1 $(VM)/kernel $$k >/dev/null || exit 1; \
	done

deps-fetch:
	@$(VM)/deps
	@for k in $(sort $(filter-out $(DEBUG_KERNELS),$(KERNELS)) source-7.3); do \
		P2P_KERNEL_FETCH=1 $(VM)/kernel $$k >/dev/null || exit 1; \
	done

# Copy the kernel sources into the build folder and build them there; then
# stage a module tree (the kernel's own modules plus ours in updates/) that
# the test VM mounts as /lib/modules/<release>.
modules:
	@mkdir -p $(BUILD)/src
	@rsync -aR --delete --exclude='*.o' --exclude='*.ko' --exclude='*.cmd' \
		--exclude='*.mod*' --exclude='modules.order' --exclude='Module.symvers' \
		$(wildcard $(KSRC)) $(BUILD)/src/
	@$(KMAKE) -s M=$(CURDIR)/$(BUILD)/src modules
ifndef KDIR
	@$(VM)/stage-modules $(KERNEL) $(BUILD)
endif

userspace:
	@$(MAKE) -s -C tests/selftests O=$(CURDIR)/build/bin
	@$(MAKE) -s -C tests/rdma O=$(CURDIR)/build/bin
	@if [ -f userspace/Makefile ]; then $(MAKE) -s -C userspace O=$(CURDIR)/build/bin; fi

check: deps-fetch userspace
	@tests/check $(KERNELS)

stress: deps userspace
	@tests/unplug/stress

demo: deps
	@$(VM)/demo

bench: deps
	@userspace/bench/run

lint: deps
	@tests/lint

# Two Debian packages in build/deb/: p2p-pgmap-dkms (all) and
# p2p-pgmap-tools (amd64), built by debian/rules from a copy of the tree
# whose changelog carries VERSION; lintian checks them.
deb:
	@$(VM)/deps --deb
	@debian/make-deb

clean:
	rm -rf build
