/* SPDX-License-Identifier: MIT */
/*
 * The default set-up (DESIGN.md §4): when no endpoint gsnd answers,
 * start a private one and wait until its link is up.
 *
 *  - One starter at a time per device name: an flock on RUNDIR/NAME.lock;
 *    whoever gets it second finds the first one's gsnd answering.
 *  - Detached: fork, setsid, fork again, so gsnd belongs to no terminal
 *    or process of the caller and outlives it; the intermediate child is
 *    reaped at once.  The child only calls async-signal-safe functions
 *    before exec (the caller may have threads).
 *  - A close-on-exec pipe tells the starter gsnd's pid and, if exec
 *    failed, why; EOF means exec happened.  stdin is /dev/null, stdout and
 *    stderr go to RUNDIR/NAME.log; no other fd of the caller is inherited.
 *  - gsnd gets the caller's environment without LD_PRELOAD: it is the
 *    NIC, not part of the application, and a preload meant for the
 *    application (an interposer, a sanitizer runtime) must not load into
 *    it — an ASan runtime preloaded into an instrumented gsnd stops it.
 *  - Ready: the socket accepts and LINK_WAIT answers 0.  If gsnd exits
 *    first (bad arguments...), the wait ends with -ECHILD.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gsn_priv.h"

#ifndef GSN_SBINDIR
#define GSN_SBINDIR "/usr/local/sbin"
#endif

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

int gsn_probe(const char *rundir, const char *name, char *version, size_t vlen)
{
	static const char hello[] = "libgsn";
	struct gsn_ctl_conn *c;
	struct gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;
	char role[16];
	int err = gsn_ctl_connect(rundir, name, &c);

	if (err)
		return err;
	err = gsn_ctl_call(c, GSN_CTL_HELLO, hello, sizeof(hello) - 1, &h, &body, &len,
			   GSN_PROBE_TIMEOUT_MS);
	if (!err)
		err = h.status;
	if (!err)
		err = gsn_ctl_text_check(body, len);
	if (!err)
		err = gsn_ctl_kv_get(body, len, "role", role, sizeof(role));
	if (!err && strcmp(role, "endpoint") != 0)
		err = -ENODEV;
	if (!err && version && vlen && gsn_ctl_kv_get(body, len, "version", version, vlen) != 0)
		version[0] = '\0';
	gsn_ctl_close(c);
	return err;
}

/* ---- finding gsnd ---- */

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static bool try_path(char *out, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", dir, rel);

	return n > 0 && (size_t)n < len && executable(out);
}

/*
 * $GSND, next to the program, ../sbin from it, the build tree this libgsn
 * was built in (so examples and tests work before installation), the
 * installed sbin, PATH.
 */
static int find_gsnd(char *out, size_t len, const struct gsn_log *log)
{
	const char *env = getenv("GSND");
	char self[PATH_MAX];

	if (env && *env) {
		if (strlen(env) < len && executable(env)) {
			strcpy(out, env);
			return 0;
		}
		GSN_ERR(log, COMP, "GSND=%s is not an executable file", env);
		return -ENOENT;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');

		if (slash) {
			*slash = '\0';
			if (try_path(out, len, self, "gsnd") || try_path(out, len, self, "../sbin/gsnd"))
				return 0;
		}
	}
#ifdef GSN_BUILD_GSND_DIR
	if (try_path(out, len, GSN_BUILD_GSND_DIR, "gsnd"))
		return 0;
#endif
	if (try_path(out, len, GSN_SBINDIR, "gsnd"))
		return 0;
	const char *path = getenv("PATH");

	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		char dir[PATH_MAX];

		if (dl > 0 && dl < sizeof(dir)) {
			memcpy(dir, path, dl);
			dir[dl] = '\0';
			if (try_path(out, len, dir, "gsnd"))
				return 0;
		}
		path = colon ? colon + 1 : NULL;
	}
	GSN_ERR(log, COMP, "no gsnd program found (set GSND, or install gsnd)");
	return -ENOENT;
}

/* ---- starting it ---- */

/* What travels on the start pipe. */
struct start_msg {
	int kind; /* START_PID or START_ERRNO */
	int value;
};
enum { START_PID = 1, START_ERRNO = 2 };

static void report(int fd, int kind, int value)
{
	struct start_msg m = {kind, value};

	if (write(fd, &m, sizeof(m)) < 0) {
		/* the starter is gone: nothing to tell */
	}
}

/* In the grandchild: closes every fd from `from` on (async-signal-safe). */
static void close_from(int from, int limit)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0)
		return;
#endif
	for (int fd = from; fd < limit; fd++)
		close(fd);
}

/* In the grandchild: default signal dispositions, nothing blocked. */
static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL); /* EINVAL for the libc-reserved ones */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Never returns: runs in the intermediate child. */
static void detach_and_exec(const char *prog, char *const argv[], char *const envp[], int pw,
			    int nullfd, int logfd, int fd_limit)
{
	if (setsid() < 0) {
		report(pw, START_ERRNO, errno);
		_exit(127);
	}
	pid_t pid = fork();

	if (pid < 0) {
		report(pw, START_ERRNO, errno);
		_exit(127);
	}
	if (pid > 0) {
		report(pw, START_PID, (int)pid);
		_exit(0);
	}
	reset_signals();
	int p = fcntl(pw, F_DUPFD_CLOEXEC, 10);
	int n = fcntl(nullfd, F_DUPFD, 10);
	int l = fcntl(logfd, F_DUPFD, 10);

	if (p < 0 || n < 0 || l < 0 || dup2(n, 0) < 0 || dup2(l, 1) < 0 || dup2(l, 2) < 0 ||
	    dup3(p, 3, O_CLOEXEC) < 0) {
		report(p >= 0 ? p : pw, START_ERRNO, errno);
		_exit(127);
	}
	close_from(4, fd_limit);
	execve(prog, argv, envp);
	report(3, START_ERRNO, errno);
	_exit(127);
}

/* The environment for gsnd: ours without LD_PRELOAD (built before fork). */
static char **gsnd_environment(void)
{
	extern char **environ;
	size_t n = 0;

	while (environ && environ[n])
		n++;
	char **envp = calloc(n + 1, sizeof(*envp));

	if (!envp)
		return NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			envp[k++] = environ[i];
	return envp;
}

/* Starts prog detached; *pid is gsnd's pid. */
static int spawn(const char *prog, char *const argv[], const char *logpath, pid_t *pid)
{
	struct rlimit rl;
	int fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur
										   : 65536;
	int pfd[2];
	int err = 0;
	char **envp = NULL;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (nullfd < 0 || logfd < 0) {
		err = -errno;
		goto out;
	}
	envp = gsnd_environment();
	if (!envp) {
		err = -ENOMEM;
		goto out;
	}
	pid_t child = fork();

	if (child < 0) {
		err = -errno;
		goto out;
	}
	if (child == 0) {
		close(pfd[0]);
		detach_and_exec(prog, argv, envp, pfd[1], nullfd, logfd, fd_limit);
	}
	close(pfd[1]);
	pfd[1] = -1;
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
	}
	/* ECHILD (SIGCHLD ignored: reaped already) is fine. */
	struct start_msg m;
	ssize_t r;

	*pid = 0;
	while ((r = read(pfd[0], &m, sizeof(m))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(m)) {
			err = -EIO;
			break;
		}
		if (m.kind == START_PID)
			*pid = m.value;
		else if (m.kind == START_ERRNO)
			err = -m.value;
	}
	if (!err && *pid <= 0)
		err = -ECHILD;
out:
	if (pfd[1] >= 0)
		close(pfd[1]);
	close(pfd[0]);
	if (nullfd >= 0)
		close(nullfd);
	if (logfd >= 0)
		close(logfd);
	free(envp);
	return err;
}

/* True once pid has exited (a zombie nobody reaped yet counts as gone). */
static bool exited(pid_t pid)
{
	char path[32], buf[256];

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')'); /* "pid (comm) S ..." */

	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Waits until rundir/name answers LINK_WAIT, or pid dies, or the deadline. */
static int wait_ready(const char *rundir, const char *name, pid_t pid, uint64_t deadline)
{
	unsigned nap = 2;

	for (;;) {
		struct gsn_ctl_conn *c;
		uint64_t now = mono_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		int err = gsn_ctl_connect(rundir, name, &c);

		if (!err) {
			struct gsn_ctl_timeout t = {.timeout_ms = (uint32_t)(deadline - now)};
			uint8_t body[GSN_CTL_TIMEOUT_LEN];
			struct gsn_ctl_hdr h;
			const uint8_t *resp;
			size_t len;

			gsn_ctl_timeout_encode(&t, body);
			err = gsn_ctl_call(c, GSN_CTL_LINK_WAIT, body, sizeof(body), &h, &resp, &len,
					   (int)(deadline - now) + 1000);
			gsn_ctl_close(c);
			return err ? err : h.status;
		}
		if (err != -ENOENT && err != -ECONNREFUSED)
			return err;
		if (exited(pid))
			return -ECHILD;
		sleep_ms(nap);
		if (nap < 50)
			nap *= 2;
	}
}

static int lock_file(const char *path, uint64_t deadline, int *out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	for (unsigned nap = 2;; nap = nap < 50 ? nap * 2 : nap) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*out = fd;
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (mono_ms() >= deadline) {
			close(fd);
			return -ETIMEDOUT;
		}
		sleep_ms(nap);
	}
}

int gsn_autostart(const char *rundir, const char *name, const struct gsn_log *log)
{
	uint64_t deadline =
		mono_ms() + (uint64_t)gsn_env_int("GSN_AUTOSTART_TIMEOUT_MS", GSN_AUTOSTART_TIMEOUT_MS);
	char lockpath[GSN_RUNDIR_MAX + GSN_DEV_NAME_MAX + 8];
	char logpath[sizeof(lockpath)];
	char prog[PATH_MAX];
	char sockpath[GSN_SOCK_PATH_MAX];
	int lockfd = -1;
	pid_t pid = 0;
	int err = gsn_ctl_sock_path(rundir, name, sockpath, sizeof(sockpath));

	if (err)
		return err;
	if ((size_t)snprintf(lockpath, sizeof(lockpath), "%s/%s.lock", rundir, name) >=
		    sizeof(lockpath) ||
	    (size_t)snprintf(logpath, sizeof(logpath), "%s/%s.log", rundir, name) >= sizeof(logpath))
		return -ENAMETOOLONG;
	err = gsn_ctl_rundir_ensure(rundir);
	if (err) {
		GSN_ERR(log, COMP, "run directory %s: %s", rundir, strerror(-err));
		return err;
	}
	err = lock_file(lockpath, deadline, &lockfd);
	if (err) {
		GSN_ERR(log, COMP, "%s: %s", lockpath, strerror(-err));
		return err;
	}
	if (gsn_probe(rundir, name, NULL, 0) == 0)
		goto out; /* somebody else started it */
	err = find_gsnd(prog, sizeof(prog), log);
	if (err)
		goto out;
	char *argv[] = {"gsnd", "--role", "endpoint", "--name", (char *)name,
			"--ula", GSN_AUTOSTART_ULA, "--rundir", (char *)rundir,
			"--cable", "0=loopback", "--private", NULL};

	GSN_INFO(log, COMP, "starting %s --name %s --rundir %s (log %s)", prog, name, rundir,
		 logpath);
	err = spawn(prog, argv, logpath, &pid);
	if (err) {
		GSN_ERR(log, COMP, "starting %s: %s", prog, strerror(-err));
		goto out;
	}
	err = wait_ready(rundir, name, pid, deadline);
	if (err)
		GSN_ERR(log, COMP, "gsnd %s (pid %d) did not come up: %s; see %s", name, (int)pid,
			err == -ECHILD ? "it exited" : strerror(-err), logpath);
out:
	close(lockfd); /* releases the flock */
	return err;
}
