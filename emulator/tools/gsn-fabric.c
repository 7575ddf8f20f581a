/* SPDX-License-Identifier: MIT */
/*
 * gsn-fabric: starts the fabric a description file describes (docs/fabric.md,
 * gsn-fabric(1)).  Creates every cable, starts one gsnd per element with its
 * cable ends as inherited fds, waits until every element reports its links
 * up, prints the elements' ULAs, then runs a command (or waits for SIGINT/
 * SIGTERM) and stops everything.  It never leaves a gsnd behind: children
 * die with it (PR_SET_PDEATHSIG), and every exit path stops and reaps them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <gsn/message.h>

#include "cable.h"
#include "ctl.h"
#include "fabric.h"
#include "log.h"
#include "loop.h"

#define MAX_ARGS 512
#define MAX_KEEP_FDS (4 * GSN_FABRIC_PORTS_MAX)
#define STOP_GRACE_NS (5ull * 1000000000)
#define POLL_NS (20ull * 1000000)

enum el_state { EL_STARTING, EL_WAIT_LINK, EL_WAIT_STATUS, EL_UP };

struct run;

struct element_proc {
	struct run *r;
	size_t index;
	pid_t pid;
	bool exited;
	int status;
	enum el_state state;
	struct gsn_ctl_conn *conn;
	bool conn_watched;
	uint32_t seq;
	char ula[GSN_ULA_STRLEN];
};

struct cable_fds {
	int fd[2];                      /* udp: the two sockets */
	struct gsn_cable_shm_pair shm;  /* shm */
};

enum phase { PH_STARTING, PH_RUNNING, PH_STOPPING };

struct run {
	struct gsn_fabric *fab;
	struct gsn_log log;
	struct gsn_loop *loop;
	char rundir[PATH_MAX];
	bool created_rundir;
	char gsnd[PATH_MAX];
	struct cable_fds *cables;
	struct element_proc *el;
	pid_t cmd_pid;
	int cmd_status;
	bool cmd_done;
	enum phase phase;
	bool failed;
	bool interrupted;
	int signals_seen;
	uint64_t deadline_ns;
	struct gsn_timer poll, stop_timer;
	char **cmd;
	pid_t self;
	int exit_code;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gsn-fabric [-d RUNDIR] [-t SECONDS] [-v] FILE [-- COMMAND [ARG...]]\n");
}

/* ---- paths ---- */

static int find_gsnd(struct run *r)
{
	const char *env = getenv("GSND");
	char self[PATH_MAX];

	if (env && *env) {
		snprintf(r->gsnd, sizeof(r->gsnd), "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n <= 0)
			return -errno;
		self[n] = '\0';
		char *slash = strrchr(self, '/');

		*slash = '\0';
		if (snprintf(r->gsnd, sizeof(r->gsnd), "%s/gsnd", self) >= (int)sizeof(r->gsnd))
			return -ENAMETOOLONG;
	}
	if (access(r->gsnd, X_OK) < 0) {
		fprintf(stderr, "gsn-fabric: cannot run gsnd at %s (set GSND): %s\n", r->gsnd,
			strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static int make_rundir(struct run *r, const char *given)
{
	if (given) {
		snprintf(r->rundir, sizeof(r->rundir), "%s", given);
		r->created_rundir = access(given, F_OK) < 0;
		return gsn_ctl_rundir_ensure(r->rundir);
	}
	char base[PATH_MAX - 64];
	int err = gsn_ctl_rundir(base, sizeof(base));

	if (!err)
		err = gsn_ctl_rundir_ensure(base);
	if (err) {
		fprintf(stderr, "gsn-fabric: run directory %s: %s\n", base, strerror(-err));
		return err;
	}
	snprintf(r->rundir, sizeof(r->rundir), "%s/%s.XXXXXX", base, r->fab->name);
	if (!mkdtemp(r->rundir))
		return -errno;
	r->created_rundir = true;
	return 0;
}

static void remove_rundir(struct run *r)
{
	if (!r->created_rundir || !r->rundir[0])
		return;
	DIR *d = opendir(r->rundir);

	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			if (e->d_type != DT_DIR)
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	if (rmdir(r->rundir) < 0)
		fprintf(stderr, "gsn-fabric: cannot remove %s: %s\n", r->rundir, strerror(errno));
}

/* ---- cables ---- */

static void close_cables(struct run *r)
{
	for (size_t i = 0; r->cables && i < r->fab->n_cables; i++) {
		for (int j = 0; j < 2; j++)
			if (r->cables[i].fd[j] >= 0)
				close(r->cables[i].fd[j]);
		gsn_cable_shm_pair_close(&r->cables[i].shm);
		r->cables[i].fd[0] = r->cables[i].fd[1] = -1;
	}
}

static int make_cables(struct run *r)
{
	r->cables = calloc(r->fab->n_cables ? r->fab->n_cables : 1, sizeof(*r->cables));
	if (!r->cables)
		return -ENOMEM;
	for (size_t i = 0; i < r->fab->n_cables; i++) {
		struct cable_fds *c = &r->cables[i];

		c->fd[0] = c->fd[1] = -1;
		c->shm.memfd = c->shm.evfd[0] = c->shm.evfd[1] = -1;
	}
	for (size_t i = 0; i < r->fab->n_cables; i++) {
		struct cable_fds *c = &r->cables[i];
		int err = r->fab->cables[i].type == GSN_FABRIC_UDP
				  ? gsn_cable_udp_create_pair(c->fd)
				  : gsn_cable_shm_create_pair(&c->shm, 0, 0);

		if (err) {
			fprintf(stderr, "gsn-fabric: cable on line %u: %s\n", r->fab->cables[i].line,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The spec of end j of cable i, and the fds it names. */
static void cable_spec(struct run *r, size_t i, int j, char *buf, size_t len, int *fds,
		       size_t *nfds)
{
	struct cable_fds *c = &r->cables[i];

	if (r->fab->cables[i].type == GSN_FABRIC_UDP) {
		snprintf(buf, len, "udp-fd:%d", c->fd[j]);
		fds[(*nfds)++] = c->fd[j];
		return;
	}
	snprintf(buf, len, "shm-fd:%d,%d,%d,%d", c->shm.memfd, j, c->shm.evfd[j],
		 c->shm.evfd[1 - j]);
	fds[(*nfds)++] = c->shm.memfd;
	fds[(*nfds)++] = c->shm.evfd[j];
	fds[(*nfds)++] = c->shm.evfd[1 - j];
}

/* ---- gsnd command lines ---- */

struct argv_buf {
	char *argv[MAX_ARGS];
	size_t argc;
	int keep[MAX_KEEP_FDS];
	size_t nkeep;
	bool overflow;
};

static void arg(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (a->argc + 1 >= MAX_ARGS) {
		a->overflow = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		a->overflow = true;
		return;
	}
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
}

static void argv_free(struct argv_buf *a)
{
	for (size_t i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

static void harp_servers_arg(struct run *r, struct argv_buf *a)
{
	char list[GSN_FABRIC_HARP_MAX * 32] = "";
	size_t off = 0;

	for (size_t i = 0; i < r->fab->n_harp_servers; i++) {
		const struct gsn_fabric_element *s = &r->fab->elements[r->fab->harp_servers[i]];
		char ula[GSN_ULA_STRLEN];

		if (s->has_ula)
			gsn_ula_format(s->ula, ula);
		gsn_ctl_textf(list, sizeof(list), &off, "%s%s", i ? "," : "",
			      s->has_ula ? ula : s->name);
	}
	arg(a, "--harp-servers");
	arg(a, "%s", list);
}

static void element_args(struct run *r, size_t e, struct argv_buf *a)
{
	const struct gsn_fabric_element *el = &r->fab->elements[e];

	arg(a, "%s", r->gsnd);
	arg(a, "--role");
	arg(a, "%s", gsn_fabric_role_name(el->role));
	arg(a, "--name");
	arg(a, "%s", el->name);
	arg(a, "--ports");
	arg(a, "%u", el->ports);
	if (el->has_ula) {
		char ula[GSN_ULA_STRLEN];

		gsn_ula_format(el->ula, ula);
		arg(a, "--ula");
		arg(a, "%s", ula);
	}
	if (el->has_ip) {
		arg(a, "--ip");
		arg(a, "%u.%u.%u.%u", el->ip[0], el->ip[1], el->ip[2], el->ip[3]);
	}
	if (el->harp_server)
		arg(a, "--harp-server");
	if (el->role == GSN_FABRIC_ENDPOINT && r->fab->n_harp_servers)
		harp_servers_arg(r, a);
	arg(a, "--broadcast");
	arg(a, "%s", r->fab->broadcast ? "on" : "off");
	arg(a, "--rundir");
	arg(a, "%s", r->rundir);
	for (size_t i = 0; i < r->fab->n_cables; i++)
		for (int j = 0; j < 2; j++) {
			const struct gsn_fabric_cable *c = &r->fab->cables[i];
			char spec[GSN_CABLE_SPEC_MAX];

			if (c->end[j].element != e)
				continue;
			cable_spec(r, i, j, spec, sizeof(spec), a->keep, &a->nkeep);
			arg(a, "--cable");
			arg(a, "%u=%s", c->end[j].port, spec);
			if (j == 0 && c->filter) {
				arg(a, "--filter");
				arg(a, "%u=%s", c->end[j].port, c->filter);
			}
		}
}

/* ---- children ---- */

/* In a child: die with the parent, take the default signal mask. */
static void child_setup(pid_t parent)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static pid_t spawn_gsnd(struct run *r, struct argv_buf *a)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid < 0 ? -errno : pid;
	child_setup(r->self);
	setpgid(0, 0); /* the terminal's ^C goes to gsn-fabric, which stops us in order */
	for (size_t i = 0; i < a->nkeep; i++)
		fcntl(a->keep[i], F_SETFD, 0);
	execv(a->argv[0], a->argv);
	fprintf(stderr, "gsn-fabric: exec %s: %s\n", a->argv[0], strerror(errno));
	_exit(127);
}

static int start_elements(struct run *r)
{
	for (size_t e = 0; e < r->fab->n_elements; e++) {
		struct argv_buf a = {.argc = 0};

		element_args(r, e, &a);
		if (a.overflow) {
			argv_free(&a);
			fprintf(stderr, "gsn-fabric: %s: command line too long\n",
				r->fab->elements[e].name);
			return -E2BIG;
		}
		if (r->log.level >= GSN_LOG_INFO) {
			fprintf(stderr, "gsn-fabric: start");
			for (size_t i = 0; i < a.argc; i++)
				fprintf(stderr, " %s", a.argv[i]);
			fputc('\n', stderr);
		}
		pid_t pid = spawn_gsnd(r, &a);

		argv_free(&a);
		if (pid < 0) {
			fprintf(stderr, "gsn-fabric: fork: %s\n", strerror((int)-pid));
			return (int)pid;
		}
		r->el[e].pid = pid;
	}
	return 0;
}

static pid_t spawn_command(struct run *r)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid < 0 ? -errno : pid;
	child_setup(r->self);
	setenv("GSN_RUNDIR", r->rundir, 1);
	execvp(r->cmd[0], r->cmd);
	fprintf(stderr, "gsn-fabric: %s: %s\n", r->cmd[0], strerror(errno));
	_exit(127);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

static size_t running_gsnds(const struct run *r)
{
	size_t n = 0;

	for (size_t e = 0; e < r->fab->n_elements; e++)
		if (r->el[e].pid > 0 && !r->el[e].exited)
			n++;
	return n;
}

static void describe_exit(const char *name, int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "gsnd for '%s' killed by signal %d", name, WTERMSIG(status));
	else
		snprintf(buf, len, "gsnd for '%s' exited with status %d", name,
			 WEXITSTATUS(status));
}

static void element_exited(struct run *r, size_t e, int status)
{
	char msg[128];

	r->el[e].exited = true;
	r->el[e].status = status;
	if (r->phase == PH_STOPPING)
		return;
	describe_exit(r->fab->elements[e].name, status, msg, sizeof(msg));
	fprintf(stderr, "gsn-fabric: %s\n", msg);
	r->failed = true;
	if (r->phase == PH_STARTING)
		gsn_loop_stop(r->loop);
}

static void reap(struct run *r)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			break;
		if (pid == r->cmd_pid) {
			r->cmd_done = true;
			r->cmd_status = status;
			gsn_loop_stop(r->loop);
			continue;
		}
		for (size_t e = 0; e < r->fab->n_elements; e++)
			if (r->el[e].pid == pid)
				element_exited(r, e, status);
	}
	if (r->phase == PH_STOPPING && running_gsnds(r) == 0)
		gsn_loop_stop(r->loop);
}

static void on_signal(struct gsn_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
	struct run *r = arg;

	if (si->ssi_signo == SIGCHLD) {
		reap(r);
		if (r->phase == PH_STOPPING && running_gsnds(r) == 0)
			gsn_loop_stop(loop);
		return;
	}
	r->interrupted = true;
	r->signals_seen++;
	if (r->cmd_pid > 0 && !r->cmd_done) {
		/* the command decides when it is done; a second signal insists */
		kill(r->cmd_pid, r->signals_seen > 1 ? SIGKILL : SIGTERM);
		return;
	}
	gsn_loop_stop(loop);
}

/* ---- waiting for the links ---- */

static void conn_readable(struct gsn_loop *loop, int fd, uint32_t events, void *arg);

static void element_fail(struct run *r, size_t e, const char *why)
{
	fprintf(stderr, "gsn-fabric: element '%s': %s\n", r->fab->elements[e].name, why);
	r->failed = true;
	gsn_loop_stop(r->loop);
}

static void conn_drop(struct run *r, size_t e)
{
	struct element_proc *p = &r->el[e];

	if (!p->conn)
		return;
	if (p->conn_watched)
		gsn_loop_del_fd(r->loop, gsn_ctl_conn_fd(p->conn));
	gsn_ctl_close(p->conn);
	p->conn = NULL;
	p->conn_watched = false;
}

static int ms_left(const struct run *r)
{
	uint64_t now = gsn_loop_now_ns(r->loop);

	return now >= r->deadline_ns ? 1 : (int)((r->deadline_ns - now) / 1000000 + 1);
}

static void try_connect(struct run *r, size_t e)
{
	struct element_proc *p = &r->el[e];
	struct gsn_ctl_timeout t = {(uint32_t)ms_left(r)};
	uint8_t body[GSN_CTL_TIMEOUT_LEN];

	if (gsn_ctl_connect(r->rundir, r->fab->elements[e].name, &p->conn) < 0) {
		p->conn = NULL;
		return; /* not listening yet */
	}
	gsn_ctl_timeout_encode(&t, body);
	if (gsn_ctl_send_request(p->conn, GSN_CTL_LINK_WAIT, body, sizeof(body), &p->seq, 1000) ||
	    gsn_loop_add_fd(r->loop, gsn_ctl_conn_fd(p->conn), EPOLLIN, conn_readable, p)) {
		conn_drop(r, e);
		return;
	}
	p->conn_watched = true;
	p->state = EL_WAIT_LINK;
}

static size_t elements_up(const struct run *r)
{
	size_t n = 0;

	for (size_t e = 0; e < r->fab->n_elements; e++)
		n += r->el[e].state == EL_UP;
	return n;
}

static void report_late(struct run *r)
{
	for (size_t e = 0; e < r->fab->n_elements; e++) {
		const char *why = r->el[e].state == EL_STARTING ? "no control socket"
				  : r->el[e].state == EL_WAIT_LINK ? "links not up"
								     : "no status";

		if (r->el[e].state != EL_UP)
			fprintf(stderr, "gsn-fabric: element '%s' not up in time (%s)\n",
				r->fab->elements[e].name, why);
	}
	r->failed = true;
	gsn_loop_stop(r->loop);
}

static void poll_tick(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)t;
	struct run *r = arg;

	if (gsn_loop_now_ns(loop) >= r->deadline_ns) {
		report_late(r);
		return;
	}
	for (size_t e = 0; e < r->fab->n_elements; e++)
		if (r->el[e].state == EL_STARTING && !r->el[e].exited)
			try_connect(r, e);
}

static void got_link(struct run *r, size_t e, const struct gsn_ctl_hdr *h)
{
	struct element_proc *p = &r->el[e];

	if (h->status) {
		element_fail(r, e, h->status == -ETIMEDOUT ? "links not up in time"
							  : strerror(-h->status));
		return;
	}
	if (gsn_ctl_send_request(p->conn, GSN_CTL_STATUS, NULL, 0, &p->seq, 1000)) {
		element_fail(r, e, "control socket closed");
		return;
	}
	p->state = EL_WAIT_STATUS;
}

static void got_status(struct run *r, size_t e, const struct gsn_ctl_hdr *h,
		       const uint8_t *body, size_t len)
{
	struct element_proc *p = &r->el[e];

	if (h->status || gsn_ctl_kv_get(body, len, "ula", p->ula, sizeof(p->ula)) < 0)
		snprintf(p->ula, sizeof(p->ula), "-");
	p->state = EL_UP;
	conn_drop(r, e);
	if (elements_up(r) == r->fab->n_elements)
		gsn_loop_stop(r->loop);
}

static void conn_readable(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct element_proc *p = arg;
	struct run *r = p->r;
	size_t e = p->index;

	while (p->conn) {
		struct gsn_ctl_hdr h;
		const uint8_t *body;
		size_t len;
		int err = gsn_ctl_recv(p->conn, &h, &body, &len, 0);

		if (err == -ETIMEDOUT)
			return;
		if (err) {
			element_fail(r, e, "control socket closed");
			conn_drop(r, e);
			return;
		}
		if (h.seq != p->seq)
			continue; /* not the answer we wait for */
		if (p->state == EL_WAIT_LINK && h.type == GSN_CTL_LINK_WAIT)
			got_link(r, e, &h);
		else if (p->state == EL_WAIT_STATUS && h.type == GSN_CTL_STATUS)
			got_status(r, e, &h, body, len);
		if (r->failed)
			return;
	}
}

static int wait_up(struct run *r, uint64_t timeout_ns)
{
	r->deadline_ns = gsn_loop_now_ns(r->loop) + timeout_ns;
	gsn_timer_init(&r->poll, poll_tick, r);
	gsn_loop_timer_in(r->loop, &r->poll, 0, POLL_NS);
	gsn_loop_run(r->loop);
	gsn_loop_timer_cancel(r->loop, &r->poll);
	for (size_t e = 0; e < r->fab->n_elements; e++)
		conn_drop(r, e);
	if (r->interrupted && !r->failed)
		fprintf(stderr, "gsn-fabric: interrupted while starting\n");
	return r->failed || r->interrupted ? -1 : 0;
}

static void print_up(const struct run *r)
{
	printf("fabric %s up: %zu elements\n", r->fab->name, r->fab->n_elements);
	for (size_t e = 0; e < r->fab->n_elements; e++) {
		const struct gsn_fabric_element *el = &r->fab->elements[e];

		printf("  %-12s %-8s ula=%s", el->name, gsn_fabric_role_name(el->role), r->el[e].ula);
		if (el->has_ip)
			printf(" ip=%u.%u.%u.%u", el->ip[0], el->ip[1], el->ip[2], el->ip[3]);
		putchar('\n');
	}
	printf("rundir %s\n", r->rundir);
	fflush(stdout);
}

/* ---- running and stopping ---- */

static void run_phase(struct run *r)
{
	r->phase = PH_RUNNING;
	if (r->cmd) {
		r->cmd_pid = spawn_command(r);
		if (r->cmd_pid < 0) {
			fprintf(stderr, "gsn-fabric: fork: %s\n", strerror((int)-r->cmd_pid));
			r->exit_code = 1;
			return;
		}
	}
	gsn_loop_run(r->loop);
	if (r->cmd)
		r->exit_code = r->cmd_done ? exit_code_of(r->cmd_status) : 1;
	else
		r->exit_code = r->failed ? 1 : 0;
}

static void stop_timeout(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	gsn_loop_stop(loop);
}

static void kill_all(struct run *r, int sig)
{
	for (size_t e = 0; e < r->fab->n_elements; e++)
		if (r->el[e].pid > 0 && !r->el[e].exited)
			kill(r->el[e].pid, sig);
}

/* SIGTERM, a grace period, SIGKILL; every child reaped. */
static void stop_all(struct run *r)
{
	r->phase = PH_STOPPING;
	if (r->cmd_pid > 0 && !r->cmd_done)
		kill(r->cmd_pid, SIGTERM);
	kill_all(r, SIGTERM);
	reap(r);
	if (running_gsnds(r) > 0 && r->loop) {
		gsn_timer_init(&r->stop_timer, stop_timeout, r);
		gsn_loop_timer_in(r->loop, &r->stop_timer, STOP_GRACE_NS, 0);
		gsn_loop_run(r->loop);
		gsn_loop_timer_cancel(r->loop, &r->stop_timer);
	}
	if (running_gsnds(r) > 0)
		fprintf(stderr, "gsn-fabric: %zu gsnd still running after %llu s: SIGKILL\n",
			running_gsnds(r), STOP_GRACE_NS / 1000000000ull);
	kill_all(r, SIGKILL);
	if (r->cmd_pid > 0 && !r->cmd_done)
		kill(r->cmd_pid, SIGKILL);
	for (size_t e = 0; e < r->fab->n_elements; e++)
		if (r->el[e].pid > 0 && !r->el[e].exited &&
		    waitpid(r->el[e].pid, &r->el[e].status, 0) == r->el[e].pid)
			r->el[e].exited = true;
	if (r->cmd_pid > 0 && !r->cmd_done && waitpid(r->cmd_pid, &r->cmd_status, 0) == r->cmd_pid)
		r->cmd_done = true;
}

/* ---- main ---- */

struct opts {
	const char *rundir;
	const char *file;
	uint64_t timeout_ns;
	int verbose;
	char **cmd;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	o->timeout_ns = 10ull * 1000000000;
	while ((c = getopt(argc, argv, "+d:t:vh")) != -1) {
		switch (c) {
		case 'd':
			o->rundir = optarg;
			break;
		case 't': {
			char *end;
			double s = strtod(optarg, &end);

			if (*end || !(s > 0) || s > 3600) {
				fprintf(stderr, "gsn-fabric: -t: want seconds (0..3600]\n");
				return -1;
			}
			o->timeout_ns = (uint64_t)(s * 1e9);
			break;
		}
		case 'v':
			o->verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return -1;
	}
	o->file = argv[optind++];
	if (optind < argc) {
		if (strcmp(argv[optind], "--") != 0 || optind + 1 >= argc) {
			usage(stderr);
			return -1;
		}
		o->cmd = argv + optind + 1;
	}
	return 0;
}

static int load(struct run *r, const char *file)
{
	struct gsn_fabric_error err;

	if (gsn_fabric_load(file, &r->fab, &err)) {
		if (err.line)
			fprintf(stderr, "%s:%u: %s\n", file, err.line, err.msg);
		else
			fprintf(stderr, "%s: %s\n", file, err.msg);
		return -1;
	}
	r->el = calloc(r->fab->n_elements, sizeof(*r->el));
	if (!r->el)
		return -1;
	for (size_t e = 0; e < r->fab->n_elements; e++) {
		r->el[e].r = r;
		r->el[e].index = e;
	}
	return 0;
}

static int check_paths(const struct run *r)
{
	for (size_t e = 0; e < r->fab->n_elements; e++) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

		if (gsn_ctl_sock_path(r->rundir, r->fab->elements[e].name, path, sizeof(path))) {
			fprintf(stderr, "gsn-fabric: %s: run directory path too long for a socket\n",
				r->rundir);
			return -1;
		}
	}
	return 0;
}

static int setup(struct run *r, const struct opts *o)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGCHLD};
	int err;

	if (load(r, o->file) || find_gsnd(r))
		return -1;
	err = gsn_loop_new(&r->loop, &r->log);
	if (!err)
		err = gsn_loop_signals(r->loop, sigs, 3, on_signal, r);
	if (err) {
		fprintf(stderr, "gsn-fabric: event loop: %s\n", strerror(-err));
		return -1;
	}
	err = make_rundir(r, o->rundir);
	if (err) {
		fprintf(stderr, "gsn-fabric: run directory: %s\n", strerror(-err));
		return -1;
	}
	if (check_paths(r) || make_cables(r))
		return -1;
	return 0;
}

static void cleanup(struct run *r)
{
	if (r->el && r->fab && r->loop)
		stop_all(r);
	close_cables(r);
	remove_rundir(r);
	free(r->cables);
	free(r->el);
	gsn_fabric_free(r->fab);
	gsn_loop_free(r->loop);
}

int main(int argc, char **argv)
{
	struct run r = {.exit_code = 1};
	struct opts o = {0};

	gsn_log_init(&r.log, "gsn-fabric");
	if (parse_opts(argc, argv, &o))
		return 2;
	if (o.verbose)
		r.log.level = o.verbose > 1 ? GSN_LOG_DEBUG : GSN_LOG_INFO;
	r.cmd = o.cmd;
	r.self = getpid();
	if (setup(&r, &o) == 0 && start_elements(&r) == 0) {
		close_cables(&r); /* the children have them */
		if (wait_up(&r, o.timeout_ns) == 0) {
			print_up(&r);
			run_phase(&r);
		}
	}
	cleanup(&r);
	return r.exit_code;
}
