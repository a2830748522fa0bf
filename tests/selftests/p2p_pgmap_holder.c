// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_holder - a user of device memory for hot-unplug tests.
 *
 *   p2p_pgmap_holder [--dev PATH] [--pages N]
 *                    [--pin | --mr] [--closed] [--release-after SECONDS] | --touch
 *                    | --mr --odp | --mr --writes  [--mrs N]
 *
 * Maps N pages (default 4) of the device, writes them, and pins them: with
 * --pin through the test-only /dev/p2p_test_pin, with --mr by registering
 * them as an RDMA memory region (first RDMA device; ibv_reg_mr), then prints
 * "huge: B of L bytes mapped huge (large folios yes|no)" (as
 * p2p_pgmap_print_huge() says, like p2p_dio and p2p_rdma_rw) and
 * "ready PID".
 * From then on it reports, one line each:
 *   "pollhup"   poll() on the device fd reported the device going away;
 *   "state S"   just before it drops the pin: the device's state then
 *               (live, dying, gone; from the info ioctl), so a test can
 *               tell that remove was still waiting when the pin went,
 *               however late the test itself gets to look;
 *   "unpinned"  the pin was dropped (the MR deregistered), on SIGUSR1 or
 *               --release-after SECONDS after the hang-up;
 *   "sigbus"    after the hang-up (and the unpin, with --pin), touching the
 *               revoked mapping raised SIGBUS, as the driver promises.
 * It exits 0 after "sigbus", 1 when the mapping could still be touched.
 *
 * With --closed (and --pin or --mr) it fills the pages with 0xa5 before
 * pinning them, then unmaps them and closes the device, prints "ready PID"
 * and holds the pin alone: a departed user whose memory only the pin keeps.
 * It drops the pin on SIGUSR1 ("unpinned") and exits 0.
 *
 * With --mr --odp (see rdma_writer()) the MR is an on-demand-paging one (no
 * pin), and the holder itself keeps RDMA WRITEs going into it, before and
 * after the device goes away, until SIGUSR1; then it deregisters and closes
 * everything, saying how each step went. --mr --writes does the same with a
 * plain (pinned) MR, for kernels where remove revokes such pins.
 *
 * With --mrs N (and --mr), N MRs are registered over the same pages, not
 * one: the first is the one the modes above use, the others are only held,
 * and all are deregistered where the first is (a remove then has N MRs to
 * revoke, as under many users; make bench measures it).
 *
 * With --touch it instead writes and checks every page in a loop, counting
 * rounds ("rounds N" on SIGUSR1), until the device goes away under it: then
 * it must get SIGBUS ("sigbus ROUNDS") and poll() must report the hang-up
 * ("pollhup"); a page that does not read back what was written ("corrupt")
 * exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <infiniband/verbs.h>
#include <fcntl.h>
#include <poll.h>
#include <rdma/ib_user_verbs.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/p2p_pgmap.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "p2p_pgmap_huge.h"
#include "p2p_pgmap_placement.h"
#include "p2p_rc_pair.h"

static sigjmp_buf touch_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(touch_env, 1);
}

static void die(const char *what)
{
	fprintf(stderr, "p2p_pgmap_holder: %s: %s\n", what, strerror(errno));
	exit(2);
}

static struct ibv_context *ib_ctx;
static struct ibv_pd *ib_pd;
static struct ibv_mr *ib_mr;
/* --mrs N: the N - 1 MRs held beside ib_mr */
static struct ibv_mr **extra_mrs;
static long nr_extra;

/* Deregister the --mrs extras: 0, or -1 after saying which failed. */
static int dereg_extras(void)
{
	int rc = 0;

	for (long i = 0; i < nr_extra; i++) {
		if (extra_mrs[i] && ibv_dereg_mr(extra_mrs[i])) {
			fprintf(stderr, "p2p_pgmap_holder: ibv_dereg_mr of MR %ld: %s\n",
				i + 2, strerror(errno));
			rc = -1;
		}
		extra_mrs[i] = NULL;
	}
	return rc;
}

static int ib_mr_access(int odp)
{
	return IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
	       IBV_ACCESS_REMOTE_READ | (odp ? IBV_ACCESS_ON_DEMAND : 0);
}

/*
 * Register [addr, addr + len) with the first RDMA device; odp: as an
 * on-demand-paging MR (IBV_ACCESS_ON_DEMAND), which holds no pin.
 */
static void register_mr(void *addr, size_t len, int odp)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	if (!list || !list[0]) {
		errno = ENODEV;
		die("no RDMA device");
	}
	ib_ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	ib_pd = ib_ctx ? ibv_alloc_pd(ib_ctx) : NULL;
	if (!ib_pd)
		die("RDMA device/PD");
	ib_mr = ibv_reg_mr(ib_pd, addr, len, ib_mr_access(odp));
	if (!ib_mr)
		die(odp ? "ibv_reg_mr (on demand)" : "ibv_reg_mr");
	for (long i = 0; i < nr_extra; i++) {
		extra_mrs[i] = ibv_reg_mr(ib_pd, addr, len, ib_mr_access(odp));
		if (!extra_mrs[i])
			die("ibv_reg_mr (--mrs)");
	}
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* "state S": the device's state as the info ioctl reports it now. */
static void say_state(int fd)
{
	static const char * const names[] = {
		[P2P_PGMAP_STATE_LIVE] = "live",
		[P2P_PGMAP_STATE_DYING] = "dying",
		[P2P_PGMAP_STATE_GONE] = "gone",
	};
	struct p2p_pgmap_info info = { 0 };

	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &info))
		die("P2P_PGMAP_IOC_INFO");
	printf("state %s\n", info.state < 3 ? names[info.state] : "unknown");
	fflush(stdout);
}

/*
 * --touch: write and check every page, round after round, until SIGBUS.
 * The byte written depends on the round and the page, so a page that
 * silently stopped being device memory (or got another page) shows.
 */
static int touch_loop(volatile char *map, long pages, long page, int fd,
		      int sfd)
{
	static volatile unsigned long rounds;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char line[64];

	if (sigsetjmp(touch_env, 1)) {
		snprintf(line, sizeof(line), "sigbus %lu", rounds);
		say(line);
		if (poll(&pfd, 1, 10000) == 1 && (pfd.revents & POLLHUP))
			say("pollhup");
		return 0;
	}
	for (;; rounds++) {
		struct signalfd_siginfo si;

		/* Non-blocking: a SIGUSR1 asks how far we got. */
		if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			snprintf(line, sizeof(line), "rounds %lu", rounds);
			say(line);
		}
		for (long i = 0; i < pages; i++) {
			char want = (char)(rounds * 31 + i);

			map[i * page] = want;
			if (map[i * page] != want) {
				say("corrupt");
				return 1;
			}
		}
	}
}

/*
 * --closed: unmap, close the device, and hold only the pin until SIGUSR1.
 * Prints "ready PID" once closed, "unpinned" once the pin is dropped.
 */
static int hold_closed(volatile char *map, size_t len, int fd, int pin_fd,
		       sigset_t *set)
{
	int sig;

	if (munmap((void *)map, len))
		die("munmap");
	close(fd);
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (sigwait(set, &sig))
		die("sigwait");
	if (pin_fd >= 0)
		close(pin_fd);
	if ((ib_mr && ibv_dereg_mr(ib_mr)) || dereg_extras())
		die("ibv_dereg_mr");
	say("unpinned");
	return 0;
}

/*
 * --mr --odp (or --mr --writes): the RDMA side of an on-demand-paging (or
 * revocable pinned) MR, in this process.
 * Two RC queue pairs of port 1, connected to each other, carry RDMA WRITEs
 * from a host buffer into the MR over the device memory, one at a time,
 * each waited for (at most WRITER_WAIT_MS), about every 10 ms:
 *
 *   "placement: ..."  where the memory sits in the BAR (as p2p_rdma_rw);
 *   "ready PID"       registered, connected;
 *   "writing"         the first WRITE completed: traffic flows;
 *   "pollhup"         the device is going away; from now on the host
 *                     buffer holds WRITER_AFTER bytes instead of WRITER_BEFORE,
 *                     so any of them in the BAR was written after this;
 *   "after pollhup: STATUS"
 *                     how the first WRITE posted after the hang-up ended
 *                     (an ibv_wc_status_str(), or "no completion");
 *   "retries N ok K"  about every second after the hang-up: WRITEs tried
 *                     (each on a new pair of queue pairs, as a failed one
 *                     leaves its pair in the error state), and
 *                     how many of them succeeded; after the hang-up a
 *                     WRITE is tried about every WRITER_RETRY_MS only;
 *   then on SIGUSR1: "state S"; with a plain (pinned) MR after the
 *   hang-up, "rereg refused: ERROR" or "rereg accepted" (a rereg of the
 *   revoked MR, its access flags unchanged, sent to the kernel as
 *   ibv_rereg_mr() would; "rereg live: ok" before "writing" says the same
 *   rereg of the live MR succeeded) and "after rereg: STATUS" (a WRITE
 *   into it after that); "dereg ok", "verbs closed",
 *   "sigbus" (touching the revoked mapping), "closed" (munmap and close of
 *   the device file), each only if that step succeeded.
 *
 * It exits 0 when every step did, the first WRITE after the hang-up failed
 * with an error completion and no later one succeeded, and a revoked
 * pinned MR could not be re-registered nor written after the attempt; 1
 * otherwise.
 */
#define WRITER_WAIT_MS	10000
#define WRITER_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)
#define WRITER_BEFORE	0xa1
#define WRITER_AFTER	0xb2
/*
 * Retrying sooner proves nothing more, and under emulation each retry
 * (two new queue pairs, a failed WRITE) costs the guest ~0.2 s of CPU:
 * retried back to back, they took a whole vCPU from the checks running
 * beside them.
 */
#define WRITER_RETRY_MS	300

static struct ibv_qp *writer_qp[2];

/*
 * A new pair of queue pairs, connected to each other (those of a WRITE
 * that failed are in the error state). 0, or -1 with errno, after saying
 * which step failed.
 */
static int writer_new_pair(struct ibv_cq *cq, union ibv_gid *gid, int gid_index)
{
	struct ibv_qp_init_attr qpa = {
		.qp_type = IBV_QPT_RC, .send_cq = cq, .recv_cq = cq,
		.cap = { .max_send_wr = 2, .max_recv_wr = 2, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	const char *step = "ibv_destroy_qp";

	for (int i = 0; i < 2; i++) {
		if (writer_qp[i] && ibv_destroy_qp(writer_qp[i]))
			goto fail;
		writer_qp[i] = NULL;
	}
	step = "ibv_create_qp";
	for (int i = 0; i < 2; i++)
		if (!(writer_qp[i] = ibv_create_qp(ib_pd, &qpa)))
			goto fail;
	/* Few retries: a WRITE into a revoked MR should fail, not linger. */
	step = "ibv_modify_qp";
	errno = p2p_rc_connect(writer_qp[0], writer_qp[1]->qp_num, gid, gid_index,
			       IBV_MTU_1024, WRITER_ACCESS, 1);
	if (!errno)
		errno = p2p_rc_connect(writer_qp[1], writer_qp[0]->qp_num, gid,
				       gid_index, IBV_MTU_1024, WRITER_ACCESS, 1);
	if (errno)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "p2p_pgmap_holder: a new pair of queue pairs: %s: %s\n", step,
		strerror(errno));
	return -1;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * One RDMA WRITE of the whole buffer into the MR, waited for: its status,
 * or -1 when it did not complete within WRITER_WAIT_MS (or could not be
 * posted).
 */
static int writer_write(struct ibv_cq *cq, struct ibv_mr *src, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)src->addr, (uint32_t)len, src->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { (uintptr_t)ib_mr->addr, ib_mr->rkey },
	}, *bad;
	struct ibv_wc wc;

	if (ibv_post_send(writer_qp[0], &wr, &bad))
		return -1;
	for (int waited = 0; waited < WRITER_WAIT_MS; waited++) {
		int n = ibv_poll_cq(cq, 1, &wc);

		if (n < 0)
			return -1;
		if (n)
			return wc.status;
		nap_ms(1);
	}
	return -1;
}

static const char *writer_status(int status)
{
	return status < 0 ? "no completion" : ibv_wc_status_str(status);
}

/*
 * Re-register @mr with its access flags unchanged, through the kernel: 0,
 * or -1 with the kernel's errno. rdma-core's rxe provider has no
 * ibv_rereg_mr() (it fails with EOPNOTSUPP without asking the kernel), so
 * this sends the verbs command itself, in the uverbs write ABI.
 */
static int kernel_rereg_access(struct ibv_mr *mr, int access)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req;
	struct ib_uverbs_rereg_mr_resp resp;

	memset(&req, 0, sizeof(req));
	req.hdr.command = IB_USER_VERBS_CMD_REREG_MR;
	req.hdr.in_words = sizeof(req) / 4;
	req.hdr.out_words = sizeof(resp) / 4;
	req.cmd.response = (uintptr_t)&resp;
	req.cmd.mr_handle = mr->handle;
	req.cmd.flags = IBV_REREG_MR_CHANGE_ACCESS;
	req.cmd.access_flags = access;
	return write(mr->context->cmd_fd, &req, sizeof(req)) == (ssize_t)sizeof(req) ? 0 : -1;
}

/*
 * A revoked MR must stay dead: re-registering it (here only its access
 * flags, as they were; the same rereg of the live MR succeeded, "rereg
 * live") fails, and its rkey still reaches nothing.
 */
static int writer_rereg(struct ibv_cq *cq, struct ibv_mr *src_mr, size_t len,
			union ibv_gid *gid, int gid_index)
{
	int status = -1, bad = 0;
	char line[96];

	if (kernel_rereg_access(ib_mr, ib_mr_access(0))) {
		snprintf(line, sizeof(line), "rereg refused: %s", strerror(errno));
	} else {
		snprintf(line, sizeof(line), "rereg accepted");
		bad++;
	}
	say(line);
	if (!writer_new_pair(cq, gid, gid_index))
		status = writer_write(cq, src_mr, len);
	snprintf(line, sizeof(line), "after rereg: %s", writer_status(status));
	say(line);
	if (status == IBV_WC_SUCCESS)
		bad++;
	return bad;
}

static int rdma_writer(volatile char *map, size_t len, int fd, int sfd,
		       int pinned)
{
	long writes = 0, retries = 0, retries_ok = 0;
	volatile long bad = 0;	/* kept across the SIGBUS longjmp */
	struct timespec last = { 0 }, now;
	struct ibv_mr *src_mr;
	union ibv_gid gid;
	struct ibv_cq *cq;
	char line[96];
	int gid_index, hup = 0, after = 0, status;
	unsigned char *src;

	if (p2p_pgmap_print_placement(stdout, fd, 0, len))
		die("P2P_PGMAP_IOC_PLACEMENT");
	src = aligned_alloc(4096, len);
	if (!src)
		die("host buffer");
	memset(src, WRITER_BEFORE, len);
	src_mr = ibv_reg_mr(ib_pd, src, len, IBV_ACCESS_LOCAL_WRITE);
	cq = src_mr ? ibv_create_cq(ib_ctx, 4, NULL, NULL, 0) : NULL;
	if (!cq)
		die("host MR/CQ");
	gid_index = p2p_rc_pick_gid(ib_ctx, -1, &gid);
	if (gid_index < 0)
		die("no usable GID on port 1");
	if (writer_new_pair(cq, &gid, gid_index))
		die("queue pairs");
	printf("ready %d\n", getpid());
	fflush(stdout);

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = hup ? -1 : fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(pfd, 2, hup ? WRITER_RETRY_MS : 10) < 0 && errno != EINTR)
			die("poll");
		if (pfd[1].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si))
			break;
		if (!hup && (pfd[0].revents & POLLHUP)) {
			hup = 1;
			memset(src, WRITER_AFTER, len);
			say("pollhup");
		}
		status = writer_write(cq, src_mr, len);
		if (!hup) {
			/* A failure here raced with the revoke: see the next round. */
			if (status == IBV_WC_SUCCESS && !writes++) {
				/* The control of writer_rereg(): a live MR rereg's. */
				if (pinned) {
					snprintf(line, sizeof(line), "rereg live: %s",
						 kernel_rereg_access(ib_mr, ib_mr_access(0)) ?
						 strerror(errno) : "ok");
					say(line);
				}
				say("writing");
			}
			else if (status != IBV_WC_SUCCESS && writer_new_pair(cq, &gid, gid_index))
				die("queue pairs");
			continue;
		}
		if (!after++) {
			snprintf(line, sizeof(line), "after pollhup: %s", writer_status(status));
			say(line);
			if (status == IBV_WC_SUCCESS || status < 0)
				bad++;
		}
		retries++;
		if (status == IBV_WC_SUCCESS)
			retries_ok++;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec != last.tv_sec) {
			last = now;
			snprintf(line, sizeof(line), "retries %ld ok %ld", retries, retries_ok);
			say(line);
		}
		if (status < 0) {
			/* A WRITE that never completes: stop, and say so. */
			bad++;
			break;
		}
		if (status != IBV_WC_SUCCESS && writer_new_pair(cq, &gid, gid_index)) {
			say("no new queue pairs");
			bad++;
			break;
		}
	}
	snprintf(line, sizeof(line), "retries %ld ok %ld", retries, retries_ok);
	say(line);
	if (!hup || retries_ok)
		bad++;

	say_state(fd);
	if (hup && pinned)
		bad += writer_rereg(cq, src_mr, len, &gid, gid_index);
	if (ibv_dereg_mr(ib_mr) || dereg_extras()) {
		perror("p2p_pgmap_holder: ibv_dereg_mr");
		bad++;
	} else {
		say("dereg ok");
	}
	ib_mr = NULL;
	if ((writer_qp[1] && ibv_destroy_qp(writer_qp[1])) || (writer_qp[0] && ibv_destroy_qp(writer_qp[0])) ||
	    ibv_destroy_cq(cq) ||
	    ibv_dereg_mr(src_mr) || ibv_dealloc_pd(ib_pd) || ibv_close_device(ib_ctx)) {
		perror("p2p_pgmap_holder: closing the RDMA device");
		bad++;
	} else {
		say("verbs closed");
	}
	free(src);
	if (hup) {
		if (sigsetjmp(touch_env, 1)) {
			say("sigbus");
		} else {
			map[0] = 1;
			say("the revoked mapping could still be written");
			bad++;
		}
	}
	if (munmap((void *)map, len) || close(fd)) {
		perror("p2p_pgmap_holder: munmap/close");
		bad++;
	} else {
		say("closed");
	}
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/p2p_pgmap0";
	long page = sysconf(_SC_PAGESIZE), pages = 4, release_after = -1;
	int pin = 0, mr = 0, odp = 0, writes = 0, touch = 0, closed = 0;
	long mrs = 1;
	int fd, pin_fd = -1, sfd, hup = 0;
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile char *map;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dev") && i + 1 < argc)
			dev = argv[++i];
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--pin"))
			pin = 1;
		else if (!strcmp(argv[i], "--mr"))
			mr = 1;
		else if (!strcmp(argv[i], "--odp"))
			odp = writes = 1;
		else if (!strcmp(argv[i], "--writes"))
			writes = 1;
		else if (!strcmp(argv[i], "--mrs") && i + 1 < argc)
			mrs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--touch"))
			touch = 1;
		else if (!strcmp(argv[i], "--closed"))
			closed = 1;
		else if (!strcmp(argv[i], "--release-after") && i + 1 < argc)
			release_after = atol(argv[++i]);
		else
			pages = 0;
	}
	if (pages <= 0 || (touch && (pin || mr || closed || release_after >= 0)) ||
	    (closed && !pin && !mr) ||
	    (writes && (!mr || pin || closed || release_after >= 0)) ||
	    mrs < 1 || (mrs > 1 && !mr)) {
		fprintf(stderr, "usage: %s [--dev PATH] [--pages N] [--pin | --mr] [--closed] [--release-after SECONDS] | --touch | --mr --odp | --mr --writes  [--mrs N]\n",
			argv[0]);
		return 2;
	}
	nr_extra = mrs - 1;
	extra_mrs = calloc(nr_extra ? nr_extra : 1, sizeof(*extra_mrs));
	if (!extra_mrs)
		die("calloc");

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(dev);
	map = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	if (closed)
		memset((void *)map, 0xa5, pages * page);
	else
		for (long i = 0; i < pages; i++)
			map[i * page] = (char)i;
	if (pin) {
		char req[64];
		int n = snprintf(req, sizeof(req), "%lx %lx", (unsigned long)map,
				 (unsigned long)(pages * page));

		pin_fd = open("/dev/p2p_test_pin", O_WRONLY | O_CLOEXEC);
		if (pin_fd < 0)
			die("/dev/p2p_test_pin");
		if (write(pin_fd, req, n) != n)
			die("pin");
	}
	if (mr)
		register_mr((void *)map, pages * page, odp);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	sigaction(SIGBUS, &sa, NULL);

	if (closed)
		return hold_closed(map, pages * page, fd, pin_fd, &set);
	if (p2p_pgmap_print_huge(stdout, fd, (void *)map, pages * page))
		die("P2P_PGMAP_IOC_INFO");
	if (writes)
		return rdma_writer(map, pages * page, fd, sfd, !odp);
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (touch)
		return touch_loop(map, pages, page, fd, sfd);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = hup ? -1 : fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		int timeout = hup && release_after >= 0 ?
			      (int)release_after * 1000 : -1;
		int n;
		bool release = false;

		if (hup && pin_fd < 0 && !ib_mr)
			break;
		n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents & POLLHUP) {
			hup = 1;
			say("pollhup");
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				release = true;
		}
		if (n == 0)
			release = true;
		if (release && (pin_fd >= 0 || ib_mr))
			say_state(fd);
		if (release) {
			if (pin_fd >= 0) {
				close(pin_fd);
				pin_fd = -1;
				say("unpinned");
			}
			if (ib_mr) {
				if (ibv_dereg_mr(ib_mr) || dereg_extras())
					die("ibv_dereg_mr");
				ib_mr = NULL;
				say("unpinned");
			}
		}
	}

	if (sigsetjmp(touch_env, 1)) {
		say("sigbus");
		return 0;
	}
	map[0] = 1;
	say("the revoked mapping could still be written");
	return 1;
}
