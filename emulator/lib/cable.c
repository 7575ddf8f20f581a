/* SPDX-License-Identifier: MIT */
/* Cable specs, opening by spec, closing a stack, stats text. */
#include "cable.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gsn_cable_close(struct gsn_cable *c)
{
	if (c)
		c->ops->close(c);
}

/* Parses a decimal number in [0, max] spanning exactly s[0..n). */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_fd(const char *s, size_t n, int *fd)
{
	uint64_t v;
	int err = parse_u64(s, n, INT32_MAX, &v);

	if (!err)
		*fd = (int)v;
	return err;
}

/* "A.B.C.D:PORT" spanning s[0..n). */
static int parse_inet(const char *s, size_t n, struct sockaddr_in *sa)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = memchr(s, ':', n);
	uint64_t port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -EINVAL;
	if (parse_u64(colon + 1, n - (size_t)(colon - s) - 1, 65535, &port))
		return -EINVAL;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int parse_udp(const char *s, size_t n, struct gsn_cable_spec *out)
{
	const char *eq = memchr(s, '=', n);

	if (!eq)
		return -EINVAL;
	if (parse_inet(s, (size_t)(eq - s), &out->local))
		return -EINVAL;
	return parse_inet(eq + 1, n - (size_t)(eq - s) - 1, &out->remote);
}

/* "MEMFD,SIDE,EVFD_MINE,EVFD_PEER[,spin=NS]" */
static int parse_shm(const char *s, size_t n, struct gsn_cable_spec *out)
{
	int *ints[4] = {&out->memfd, &out->side, &out->evfd_mine, &out->evfd_peer};
	size_t field = 0;
	const char *end = s + n;

	while (s < end || field == 0) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t len = comma ? (size_t)(comma - s) : (size_t)(end - s);

		if (field < 4) {
			if (parse_fd(s, len, ints[field]))
				return -EINVAL;
		} else if (field == 4 && len > 5 && memcmp(s, "spin=", 5) == 0) {
			if (parse_u64(s + 5, len - 5, 10000000000ull, &out->spin_ns))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
		field++;
		if (!comma)
			break;
		s = comma + 1;
		if (s == end)
			return -EINVAL; /* trailing comma */
	}
	if (field < 4 || out->side > 1)
		return -EINVAL;
	return 0;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

int gsn_cable_spec_parse(const char *s, struct gsn_cable_spec *out)
{
	size_t n = s ? strnlen(s, GSN_CABLE_SPEC_MAX + 1) : 0;

	if (n == 0 || n > GSN_CABLE_SPEC_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->fd = out->memfd = out->evfd_mine = out->evfd_peer = -1;
	if (has_prefix(s, "udp-fd:")) {
		out->type = GSN_CABLE_SPEC_UDP_FD;
		return parse_fd(s + 7, n - 7, &out->fd);
	}
	if (has_prefix(s, "udp:")) {
		out->type = GSN_CABLE_SPEC_UDP;
		return parse_udp(s + 4, n - 4, out);
	}
	if (has_prefix(s, "shm-fd:")) {
		out->type = GSN_CABLE_SPEC_SHM_FD;
		return parse_shm(s + 7, n - 7, out);
	}
	return -EINVAL;
}

static int format_inet(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip)))
		return -EINVAL;
	int n = snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int gsn_cable_spec_format(const struct gsn_cable_spec *spec, char *buf, size_t len)
{
	int n;

	switch (spec->type) {
	case GSN_CABLE_SPEC_UDP_FD:
		n = snprintf(buf, len, "udp-fd:%d", spec->fd);
		break;
	case GSN_CABLE_SPEC_UDP: {
		char a[32], b[32];

		if (format_inet(&spec->local, a, sizeof(a)) < 0 ||
		    format_inet(&spec->remote, b, sizeof(b)) < 0)
			return -EINVAL;
		n = snprintf(buf, len, "udp:%s=%s", a, b);
		break;
	}
	case GSN_CABLE_SPEC_SHM_FD:
		n = snprintf(buf, len, "shm-fd:%d,%d,%d,%d", spec->memfd, spec->side,
			     spec->evfd_mine, spec->evfd_peer);
		if (n >= 0 && (size_t)n < len && spec->spin_ns)
			n += snprintf(buf + n, len - (size_t)n, ",spin=%" PRIu64, spec->spin_ns);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int gsn_cable_open_spec(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
			const struct gsn_log *log, struct gsn_cable **out)
{
	switch (spec->type) {
	case GSN_CABLE_SPEC_UDP_FD:
	case GSN_CABLE_SPEC_UDP:
		return gsn_cable_udp_open(loop, spec, log, out);
	case GSN_CABLE_SPEC_SHM_FD:
		return gsn_cable_shm_open(loop, spec, log, out);
	}
	return -EINVAL;
}

int gsn_cable_open(struct gsn_loop *loop, const char *spec, const struct gsn_log *log,
		   struct gsn_cable **out)
{
	struct gsn_cable_spec s;
	int err = gsn_cable_spec_parse(spec, &s);

	if (err) {
		GSN_ERR(log, "cable", "bad cable spec '%.*s'", (int)GSN_CABLE_SPEC_MAX,
			spec ? spec : "");
		return err;
	}
	return gsn_cable_open_spec(loop, &s, log, out);
}

size_t gsn_cable_stats_format(const struct gsn_cable_stats *s, const char *prefix, char *buf,
			      size_t len)
{
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
		{"frames_in", s->frames_in},   {"bytes_in", s->bytes_in},
		{"frames_out", s->frames_out}, {"bytes_out", s->bytes_out},
		{"send_full", s->send_full},   {"send_errors", s->send_errors},
		{"truncated", s->truncated},   {"rx_errors", s->rx_errors},
		{"no_rx", s->no_rx},           {"kicks_sent", s->kicks_sent},
		{"wakeups", s->wakeups},
	};
	size_t off = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		int n = snprintf(buf + off, len - off, "%s%s=%" PRIu64 "\n", prefix ? prefix : "",
				 f[i].name, f[i].v);

		if (n < 0 || (size_t)n >= len - off) {
			buf[off] = '\0';
			break;
		}
		off += (size_t)n;
	}
	return off;
}
