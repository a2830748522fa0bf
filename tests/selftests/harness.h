/* SPDX-License-Identifier: GPL-2.0 */
#define _GNU_SOURCE
/*
 * harness.h - a small TAP test harness for the p2p_pgmap selftests.
 *
 * TEST(name) { ... } defines a test. Every test runs in a child process of
 * its own, so a crash, a SIGBUS or a failed assertion fails that test only.
 * ASSERT_* print the file, line and values and end the test as failed;
 * SKIP(reason) ends it as skipped. The output is TAP:
 *
 *   ok 3 - name
 *   not ok 4 - name
 *   ok 5 - name # SKIP reason
 *
 * Arguments select tests by name; none runs them all.
 */
#ifndef P2P_PGMAP_HARNESS_H
#define P2P_PGMAP_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_SKIP_EXIT 4

struct harness_test {
	const char *name;
	void (*fn)(void);
	struct harness_test *next;
};

extern struct harness_test *harness_tests;
extern char *harness_skip_reason;	/* shared with the parent */
void harness_register(struct harness_test *t);

#define TEST(name)							\
	static void test_##name(void);					\
	static struct harness_test harness_##name = { #name, test_##name, NULL }; \
	__attribute__((constructor)) static void harness_reg_##name(void) \
	{ harness_register(&harness_##name); }				\
	static void test_##name(void)

#define FAIL(...) do {							\
	printf("# %s:%d: ", __FILE__, __LINE__);			\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
	_exit(1);							\
} while (0)

#define SKIP(...) do {							\
	snprintf(harness_skip_reason, 256, __VA_ARGS__);		\
	_exit(HARNESS_SKIP_EXIT);					\
} while (0)

#define ASSERT_TRUE(cond) do {						\
	if (!(cond))							\
		FAIL("expected %s (errno %d: %s)", #cond, errno, strerror(errno)); \
} while (0)

#define ASSERT_EQ(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	if (_a != _b)							\
		FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);		\
} while (0)

/* A call that must fail with the given errno. */
#define ASSERT_ERRNO(call, err) do {					\
	errno = 0;							\
	long long _r = (long long)(call);				\
	if (_r != -1 || errno != (err))					\
		FAIL("%s: returned %lld errno %d (%s), wanted errno %d (%s)", \
		     #call, _r, errno, strerror(errno), err, strerror(err)); \
} while (0)

#define ASSERT_MAP_FAILS(call, err) do {				\
	errno = 0;							\
	void *_p = (call);						\
	if (_p != MAP_FAILED || errno != (err))				\
		FAIL("%s: returned %p errno %d (%s), wanted MAP_FAILED errno %d (%s)", \
		     #call, _p, errno, strerror(errno), err, strerror(err)); \
} while (0)

#endif /* P2P_PGMAP_HARNESS_H */
