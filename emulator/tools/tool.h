/* SPDX-License-Identifier: MIT */
/*
 * What the gsn tools (gsnstat, gsnarp, gsnping, gsnmsg) share: the common
 * options (--rundir DIR, -e ELEMENT / GSN_ELEMENT), connecting to the
 * element's control socket, calling it, and errors printed as
 * "tool: message" (exit status 1).  Header-only, because every
 * emulator/tools/<name>.c is a program of its own.
 */
#ifndef GSN_TOOL_H
#define GSN_TOOL_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/message.h>

#include "ctl.h"

#define TOOL_CALL_MS 5000 /* how long a plain request may take */

struct tool {
	const char *prog;
	const char *rundir;  /* --rundir, or NULL: GSN_RUNDIR / the default */
	const char *element; /* -e, or GSN_ELEMENT */
	struct gsn_ctl_conn *conn;
};

static inline int tool_err(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int tool_err(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", t->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static inline void tool_init(struct tool *t, const char *prog)
{
	memset(t, 0, sizeof(*t));
	t->prog = prog;
	t->element = getenv("GSN_ELEMENT");
	if (t->element && !*t->element)
		t->element = NULL;
}

/* The run directory the tool uses, for messages and listings. */
static inline const char *tool_rundir(const struct tool *t, char *buf, size_t len)
{
	if (t->rundir)
		return t->rundir;
	if (gsn_ctl_rundir(buf, len))
		return ".";
	return buf;
}

/*
 * SIGINT and SIGTERM, blocked: a tool that runs until interrupted takes
 * them with sigtimedwait() between requests, so no handler and no global.
 */
static inline void tool_signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/*
 * Before exit: ignore further signals and unblock them, so none stays
 * pending (a blocked pending signal makes LeakSanitizer's exit check hang
 * in sanitizer builds; timeout(1) signals the whole process group twice).
 */
static inline void tool_signals_release(const sigset_t *set)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	sigprocmask(SIG_UNBLOCK, set, NULL);
}

/* Connects to element (t->element when NULL); 0 or 1 after the message. */
static inline int tool_connect_to(struct tool *t, const char *element)
{
	char dir[256];

	if (!element)
		return tool_err(t, "no element: use -e ELEMENT or set GSN_ELEMENT");
	int err = gsn_ctl_connect(t->rundir, element, &t->conn);

	if (err) {
		t->conn = NULL;
		return tool_err(t, "cannot reach element '%s' in %s: %s", element,
				tool_rundir(t, dir, sizeof(dir)), strerror(-err));
	}
	return 0;
}

static inline int tool_connect(struct tool *t)
{
	return tool_connect_to(t, t->element);
}

static inline void tool_close(struct tool *t)
{
	gsn_ctl_close(t->conn);
	t->conn = NULL;
}

/*
 * A request and its response.  Returns 0 with *body and *len set, else
 * the negative error (transport or the response's status); "what" names
 * the request in the message printed on error (NULL: print nothing).
 */
static inline int tool_call(struct tool *t, uint16_t type, const void *req, size_t req_len,
			    const uint8_t **body, size_t *len, int timeout_ms, const char *what)
{
	struct gsn_ctl_hdr h;
	const uint8_t *b = NULL;
	size_t n = 0;
	int err = gsn_ctl_call(t->conn, type, req, req_len, &h, &b, &n, timeout_ms);

	if (!err)
		err = h.status;
	if (err && what)
		tool_err(t, "%s: %s", what,
			 err == -ECONNRESET ? "the element went away" : strerror(-err));
	if (body)
		*body = b;
	if (len)
		*len = n;
	return err;
}

/* Parses a ULA argument; 0 or 1 after the message. */
static inline int tool_ula(const struct tool *t, const char *s, uint8_t ula[GSN_ULA_LEN])
{
	if (gsn_ula_parse(s, ula) != 0)
		return tool_err(t, "'%s' is not a ULA (xx:xx:xx:xx:xx:xx)", s);
	return 0;
}

/* Strict dotted quad into 4 network-order bytes; 0 or 1 after the message. */
static inline int tool_ipv4(const struct tool *t, const char *s, uint8_t ip[4])
{
	unsigned v[4];
	char tail;

	if (sscanf(s, "%3u.%3u.%3u.%3u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 ||
	    v[0] > 255 || v[1] > 255 || v[2] > 255 || v[3] > 255)
		return tool_err(t, "'%s' is not an IPv4 address", s);
	for (int i = 0; i < 4; i++)
		ip[i] = (uint8_t)v[i];
	return 0;
}

/* A number in [0, max]; 0 or 1 after the message. */
static inline int tool_uint(const struct tool *t, const char *opt, const char *s,
			    unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return tool_err(t, "%s: '%s' is not a number", opt, s);
	unsigned long long v = strtoull(s, &end, 0);

	if (errno || *end || v > max)
		return tool_err(t, "%s: '%s' is not a number up to %llu", opt, s, max);
	*out = v;
	return 0;
}

/* Seconds (decimal, > 0); 0 or 1 after the message. */
static inline int tool_seconds(const struct tool *t, const char *opt, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || !(v > 0) || v > 86400)
		return tool_err(t, "%s: '%s' is not a number of seconds", opt, s);
	*out = v;
	return 0;
}

#endif /* GSN_TOOL_H */
