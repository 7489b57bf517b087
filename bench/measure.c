/*
 * measure: run one command and report its wall time and peak resident set.
 *
 *   measure [-o FILE] [-p PRELOAD] [-t SECONDS] [--] COMMAND [ARG...]
 *
 * The command runs in a child process (its own process group) with
 * LD_PRELOAD set to PRELOAD, or with LD_PRELOAD removed when -p is not
 * given, so that measure itself always runs on the system's malloc.  The
 * wall time is taken with CLOCK_MONOTONIC around fork and wait4; the peak
 * resident set is wait4's ru_maxrss, which covers the command and every
 * descendant it waited for (gcc's cc1 and as, for instance), and so is
 * the CPU time (user plus system, all threads) and the count of minor page
 * faults (pages the kernel had to supply, often after the allocator gave
 * them back).  One line
 *
 *   wall=SECONDS cpu=SECONDS maxrss_kib=KIB minflt=N status=N timeout=0|1
 *
 * goes to FILE (or standard error).  status is the exit status, or 128 plus
 * the signal number; measure exits with that status too (or 75 when it
 * cannot fork for lack of processes, 126 on other errors).  With -t, a
 * command still running after SECONDS is killed (its whole process group)
 * and reported with timeout=1.
 *
 * GNU time would do most of this, but is not installed by default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t timed_out;
static volatile sig_atomic_t stop_signal;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child_pid > 0)
		kill(-child_pid, SIGKILL);
}

/* ^C or a kill of measure takes the command with it. */
static void on_stop(int sig)
{
	stop_signal = sig;
	if (child_pid > 0)
		kill(-child_pid, SIGKILL);
}

static void usage(void)
{
	fprintf(stderr, "usage: measure [-o FILE] [-p PRELOAD] [-t SECONDS] [--] COMMAND [ARG...]\n");
	exit(64);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *preload = NULL;
	unsigned timeout = 0;
	struct sigaction sa;
	struct rusage ru;
	double start, wall;
	int opt, wstatus, status;
	pid_t pid, r;
	FILE *f;

	while ((opt = getopt(argc, argv, "+o:p:t:")) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'p':
			preload = optarg;
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	start = now();
	pid = fork();
	if (pid < 0) {
		/* 75 (EX_TEMPFAIL): the machine is busy; bench/run tries again. */
		perror("measure: fork");
		return errno == EAGAIN ? 75 : 126;
	}
	if (pid == 0) {
		setpgid(0, 0);
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "measure: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	/* Also here: the child may not have run setpgid yet when we signal. */
	setpgid(pid, pid);
	child_pid = pid;
	if (timeout)
		alarm(timeout);
	do
		r = wait4(pid, &wstatus, 0, &ru);
	while (r < 0 && errno == EINTR);
	wall = now() - start;
	alarm(0);
	if (r < 0) {
		perror("measure: wait4");
		return 126;
	}
	if (stop_signal) {
		signal(stop_signal, SIG_DFL);
		raise(stop_signal);
	}

	if (WIFEXITED(wstatus))
		status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		status = 128 + WTERMSIG(wstatus);
	else
		status = 126;

	f = out ? fopen(out, "w") : stderr;
	if (!f) {
		perror(out);
		return 126;
	}
	fprintf(f, "wall=%.6f cpu=%.6f maxrss_kib=%ld minflt=%ld status=%d timeout=%d\n",
		wall, tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime),
		ru.ru_maxrss, ru.ru_minflt, status, timed_out ? 1 : 0);
	if (f != stderr && fclose(f) != 0) {
		perror(out);
		return 126;
	}
	return status;
}
