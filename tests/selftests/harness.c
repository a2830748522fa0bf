// SPDX-License-Identifier: GPL-2.0
/* harness.c - runs the tests harness.h registered; see harness.h. */
#include "harness.h"

struct harness_test *harness_tests;
char *harness_skip_reason;

void harness_register(struct harness_test *t)
{
	struct harness_test **p = &harness_tests;

	/* Constructors run in file order: keep that order. */
	while (*p)
		p = &(*p)->next;
	*p = t;
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, i = 0, failed = 0;
	struct harness_test *t;

	harness_skip_reason = mmap(NULL, 256, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (harness_skip_reason == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (t = harness_tests; t; t = t->next)
		n += selected(t->name, argc, argv);
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
	for (t = harness_tests; t; t = t->next) {
		int status;
		pid_t pid;

		if (!selected(t->name, argc, argv))
			continue;
		i++;
		harness_skip_reason[0] = '\0';
		pid = fork();
		if (pid == 0) {
			t->fn();
			fflush(stdout);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid) {
			printf("not ok %d - %s # cannot run: %s\n", i, t->name, strerror(errno));
			failed++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d - %s\n", i, t->name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_EXIT) {
			printf("ok %d - %s # SKIP %s\n", i, t->name, harness_skip_reason);
		} else {
			if (WIFSIGNALED(status))
				printf("# killed by signal %d\n", WTERMSIG(status));
			printf("not ok %d - %s\n", i, t->name);
			failed++;
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}
