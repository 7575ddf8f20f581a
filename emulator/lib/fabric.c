/* SPDX-License-Identifier: MIT */
/* Parser of fabric description files (fabric.h, docs/fabric.md). */
#include "fabric.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsn/message.h>

#include "filter.h"

struct parser {
	struct gsn_fabric *f;
	struct gsn_fabric_error *err;
	unsigned line;
	bool seen_fabric, seen_harp;
};

struct kv {
	char *key;
	char *val; /* NULL for a bare word */
	bool used;
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	p->err->line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *gsn_fabric_role_name(enum gsn_fabric_role r)
{
	return r == GSN_FABRIC_SWITCH ? "switch" : "endpoint";
}

const char *gsn_fabric_cable_type_name(enum gsn_fabric_cable_type t)
{
	return t == GSN_FABRIC_UDP ? "udp" : "shm";
}

long gsn_fabric_find(const struct gsn_fabric *f, const char *name)
{
	for (size_t i = 0; i < f->n_elements; i++)
		if (strcmp(f->elements[i].name, name) == 0)
			return (long)i;
	return -1;
}

const struct gsn_fabric_cable *gsn_fabric_port_cable(const struct gsn_fabric *f, size_t e,
						     unsigned p, int *end)
{
	for (size_t i = 0; i < f->n_cables; i++)
		for (int j = 0; j < 2; j++)
			if (f->cables[i].end[j].element == e && f->cables[i].end[j].port == p) {
				if (end)
					*end = j;
				return &f->cables[i];
			}
	return NULL;
}

void gsn_fabric_free(struct gsn_fabric *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_cables; i++)
		free(f->cables[i].filter);
	free(f->elements);
	free(f->cables);
	free(f);
}

/* ---- values ---- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > GSN_FABRIC_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int parse_small_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_onoff(const char *s, bool *out)
{
	if (s && strcmp(s, "on") == 0)
		*out = true;
	else if (s && strcmp(s, "off") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* ---- tokens ---- */

static size_t tokenize(char *line, char **tok, size_t max, bool *overflow)
{
	size_t n = 0;

	*overflow = false;
	for (char *save = NULL, *t = strtok_r(line, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save)) {
		if (n == max) {
			*overflow = true;
			break;
		}
		tok[n++] = t;
	}
	return n;
}

/* Splits tokens into key=value pairs; rejects a key given twice. */
static int to_kv(struct parser *p, char **tok, size_t n, struct kv *kv)
{
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(tok[i], '=');

		kv[i].key = tok[i];
		kv[i].val = NULL;
		kv[i].used = false;
		if (eq) {
			*eq = '\0';
			kv[i].val = eq + 1;
		}
		if (!*kv[i].key)
			return perr(p, "empty key in '=%s'", kv[i].val ? kv[i].val : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(kv[j].key, kv[i].key) == 0)
				return perr(p, "'%s' given twice", kv[i].key);
	}
	return 0;
}

static struct kv *kv_take(struct kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!kv[i].used && kv[i].val && strcmp(kv[i].key, key) == 0) {
			kv[i].used = true;
			return &kv[i];
		}
	return NULL;
}

static int kv_leftover(struct parser *p, struct kv *kv, size_t n, const char *stmt)
{
	for (size_t i = 0; i < n; i++)
		if (!kv[i].used)
			return perr(p, "%s: unknown %s '%s'", stmt, kv[i].val ? "property" : "word",
				    kv[i].key);
	return 0;
}

/* ---- statements ---- */

static int stmt_fabric(struct parser *p, char **tok, size_t n)
{
	struct kv kv[GSN_FABRIC_TOKENS_MAX];
	struct kv *v;

	if (p->seen_fabric)
		return perr(p, "second 'fabric' statement");
	p->seen_fabric = true;
	if (to_kv(p, tok, n, kv))
		return -EINVAL;
	if ((v = kv_take(kv, n, "name"))) {
		if (!valid_name(v->val))
			return perr(p, "fabric: bad name '%s'", v->val);
		strcpy(p->f->name, v->val);
	}
	if ((v = kv_take(kv, n, "broadcast")) && parse_onoff(v->val, &p->f->broadcast))
		return perr(p, "fabric: broadcast: want on or off");
	return kv_leftover(p, kv, n, "fabric");
}

static int element_new(struct parser *p, const char *name, struct gsn_fabric_element **out)
{
	struct gsn_fabric *f = p->f;

	if (!valid_name(name))
		return perr(p, "bad element name '%s' (letters, digits, '_', '-'; at most %u)",
			    name, GSN_FABRIC_NAME_MAX);
	if (gsn_fabric_find(f, name) >= 0)
		return perr(p, "duplicate element name '%s'", name);
	if (f->n_elements == GSN_FABRIC_ELEMENTS_MAX)
		return perr(p, "more than %u elements", GSN_FABRIC_ELEMENTS_MAX);
	if ((f->n_elements & (f->n_elements - 1)) == 0) { /* grow at powers of two */
		size_t cap = f->n_elements ? f->n_elements * 2 : 1;
		struct gsn_fabric_element *e = realloc(f->elements, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		f->elements = e;
	}
	struct gsn_fabric_element *e = &f->elements[f->n_elements];

	memset(e, 0, sizeof(*e));
	strcpy(e->name, name);
	e->line = p->line;
	*out = e;
	return 0;
}

static int elem_ula(struct parser *p, struct gsn_fabric_element *e, const char *s)
{
	if (gsn_ula_parse(s, e->ula) != GSN_MSG_OK)
		return perr(p, "bad ULA '%s' (want xx:xx:xx:xx:xx:xx)", s);
	if (gsn_ula_is_group(e->ula))
		return perr(p, "bad ULA '%s': a group (multicast/broadcast) address", s);
	for (size_t i = 0; i < p->f->n_elements; i++)
		if (p->f->elements[i].has_ula && gsn_ula_equal(p->f->elements[i].ula, e->ula))
			return perr(p, "ULA %s already used by '%s'", s, p->f->elements[i].name);
	e->has_ula = true;
	return 0;
}

static int elem_ip(struct parser *p, struct gsn_fabric_element *e, const char *s)
{
	struct in_addr a;

	if (strlen(s) > 15 || inet_pton(AF_INET, s, &a) != 1)
		return perr(p, "bad IP address '%s' (want A.B.C.D)", s);
	memcpy(e->ip, &a, 4);
	if (e->ip[0] == 0 || e->ip[0] >= 224)
		return perr(p, "bad IP address '%s': not a unicast host address", s);
	for (size_t i = 0; i < p->f->n_elements; i++)
		if (p->f->elements[i].has_ip && memcmp(p->f->elements[i].ip, e->ip, 4) == 0)
			return perr(p, "IP address %s already used by '%s'", s,
				    p->f->elements[i].name);
	e->has_ip = true;
	return 0;
}

static int stmt_element(struct parser *p, enum gsn_fabric_role role, char **tok, size_t n)
{
	const char *what = gsn_fabric_role_name(role);
	struct kv kv[GSN_FABRIC_TOKENS_MAX];
	struct gsn_fabric_element *e = NULL;
	struct kv *v;

	if (n < 1 || strchr(tok[0], '='))
		return perr(p, "%s: want a name", what);
	int r = element_new(p, tok[0], &e);

	if (r)
		return r;
	if (to_kv(p, tok + 1, n - 1, kv))
		return -EINVAL;
	n--;
	e->role = role;
	e->ports = role == GSN_FABRIC_SWITCH ? GSN_FABRIC_SWITCH_PORTS : 1;
	if ((v = kv_take(kv, n, "ports"))) {
		unsigned max = role == GSN_FABRIC_SWITCH ? GSN_FABRIC_PORTS_MAX : 1;

		if (parse_small_uint(v->val, max, &e->ports) || e->ports == 0)
			return perr(p, "%s %s: ports: want 1..%u", what, e->name, max);
	}
	if ((v = kv_take(kv, n, "ula")) && elem_ula(p, e, v->val))
		return -EINVAL;
	if (role == GSN_FABRIC_ENDPOINT) {
		if ((v = kv_take(kv, n, "ip")) && elem_ip(p, e, v->val))
			return -EINVAL;
		if ((v = kv_take(kv, n, "harp-server")) && parse_onoff(v->val, &e->harp_server))
			return perr(p, "endpoint %s: harp-server: want on or off", e->name);
	}
	if (kv_leftover(p, kv, n, what))
		return -EINVAL;
	p->f->n_elements++;
	return 0;
}

/* "name.port" */
static int parse_end(struct parser *p, char *s, struct gsn_fabric_end *end)
{
	char *dot = strrchr(s, '.');
	unsigned port;

	if (!dot)
		return perr(p, "cable: '%s': want element.port", s);
	*dot = '\0';
	long e = gsn_fabric_find(p->f, s);

	if (e < 0)
		return perr(p, "cable: unknown element '%s'", s);
	struct gsn_fabric_element *el = &p->f->elements[e];

	if (parse_small_uint(dot + 1, 65535, &port) || port >= el->ports)
		return perr(p, "cable: port '%s' of %s out of range (0..%u)", dot + 1, s,
			    el->ports - 1);
	if (el->used_ports & (1ull << port))
		return perr(p, "cable: port %s.%u already has a cable", s, port);
	el->used_ports |= 1ull << port;
	end->element = (size_t)e;
	end->port = port;
	return 0;
}

static int cable_filter(struct parser *p, struct gsn_fabric_cable *c, const char *spec)
{
	struct gsn_filter_conf confs[GSN_FILTER_LAYERS_MAX];
	char msg[160];
	size_t n;

	if (gsn_filter_parse(spec, confs, GSN_FILTER_LAYERS_MAX, &n, msg, sizeof(msg)))
		return perr(p, "cable: filter: %s", msg);
	c->filter = strdup(spec);
	return c->filter ? 0 : -ENOMEM;
}

static int stmt_cable(struct parser *p, char **tok, size_t n)
{
	struct gsn_fabric *f = p->f;
	struct kv kv[GSN_FABRIC_TOKENS_MAX];
	struct gsn_fabric_cable c = {.line = p->line};

	if (n < 3 || strchr(tok[0], '=') || strchr(tok[1], '=') || strchr(tok[2], '='))
		return perr(p, "cable: want 'cable ELEMENT.PORT ELEMENT.PORT shm|udp [filter=SPEC]'");
	if (f->n_cables == GSN_FABRIC_CABLES_MAX)
		return perr(p, "more than %u cables", GSN_FABRIC_CABLES_MAX);
	if (strcmp(tok[2], "shm") == 0)
		c.type = GSN_FABRIC_SHM;
	else if (strcmp(tok[2], "udp") == 0)
		c.type = GSN_FABRIC_UDP;
	else
		return perr(p, "cable: type '%s': want shm or udp", tok[2]);
	if (parse_end(p, tok[0], &c.end[0]) || parse_end(p, tok[1], &c.end[1]))
		return -EINVAL;
	if (to_kv(p, tok + 3, n - 3, kv))
		return -EINVAL;
	struct kv *v = kv_take(kv, n - 3, "filter");

	if (v && cable_filter(p, &c, v->val))
		return -EINVAL;
	if (kv_leftover(p, kv, n - 3, "cable")) {
		free(c.filter);
		return -EINVAL;
	}
	if ((f->n_cables & (f->n_cables - 1)) == 0) {
		size_t cap = f->n_cables ? f->n_cables * 2 : 1;
		struct gsn_fabric_cable *nc = realloc(f->cables, cap * sizeof(*nc));

		if (!nc) {
			free(c.filter);
			return -ENOMEM;
		}
		f->cables = nc;
	}
	f->cables[f->n_cables++] = c;
	return 0;
}

static int harp_server(struct parser *p, const char *name)
{
	struct gsn_fabric *f = p->f;
	long e = gsn_fabric_find(f, name);

	if (e < 0)
		return perr(p, "harp: unknown element '%s'", name);
	if (f->elements[e].role != GSN_FABRIC_ENDPOINT || !f->elements[e].harp_server)
		return perr(p, "harp: '%s' is not an endpoint with harp-server=on", name);
	for (size_t i = 0; i < f->n_harp_servers; i++)
		if (f->harp_servers[i] == (size_t)e)
			return perr(p, "harp: server '%s' listed twice", name);
	if (f->n_harp_servers == GSN_FABRIC_HARP_MAX)
		return perr(p, "harp: more than %u servers", GSN_FABRIC_HARP_MAX);
	f->harp_servers[f->n_harp_servers++] = (size_t)e;
	return 0;
}

static int stmt_harp(struct parser *p, char **tok, size_t n)
{
	struct kv kv[GSN_FABRIC_TOKENS_MAX];

	if (p->seen_harp)
		return perr(p, "second 'harp' statement");
	p->seen_harp = true;
	if (to_kv(p, tok, n, kv))
		return -EINVAL;
	struct kv *v = kv_take(kv, n, "servers");

	if (!v || !*v->val)
		return perr(p, "harp: want servers=NAME[,NAME...]");
	for (char *save = NULL, *s = strtok_r(v->val, ",", &save); s;
	     s = strtok_r(NULL, ",", &save))
		if (harp_server(p, s))
			return -EINVAL;
	return kv_leftover(p, kv, n, "harp");
}

static int statement(struct parser *p, char *line)
{
	char *tok[GSN_FABRIC_TOKENS_MAX + 1];
	bool overflow;
	size_t n = tokenize(line, tok, GSN_FABRIC_TOKENS_MAX, &overflow);

	if (overflow)
		return perr(p, "more than %u words", GSN_FABRIC_TOKENS_MAX);
	if (n == 0)
		return 0;
	if (strcmp(tok[0], "fabric") == 0)
		return stmt_fabric(p, tok + 1, n - 1);
	if (strcmp(tok[0], "switch") == 0)
		return stmt_element(p, GSN_FABRIC_SWITCH, tok + 1, n - 1);
	if (strcmp(tok[0], "endpoint") == 0)
		return stmt_element(p, GSN_FABRIC_ENDPOINT, tok + 1, n - 1);
	if (strcmp(tok[0], "cable") == 0)
		return stmt_cable(p, tok + 1, n - 1);
	if (strcmp(tok[0], "harp") == 0)
		return stmt_harp(p, tok + 1, n - 1);
	return perr(p, "unknown statement '%.40s'", tok[0]);
}

/* Copies one line (without '\n', '\r' and comment) into buf. */
static int next_line(struct parser *p, const char **cur, const char *end, char *buf)
{
	const char *s = *cur;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

	*cur = nl ? nl + 1 : end;
	if (len > GSN_FABRIC_LINE_MAX)
		return perr(p, "line longer than %u bytes", GSN_FABRIC_LINE_MAX);
	if (memchr(s, '\0', len))
		return perr(p, "NUL byte in the text");
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *hash = strchr(buf, '#');

	if (hash)
		*hash = '\0';
	for (char *c = buf; *c; c++) {
		if (*c == '\r')
			*c = ' ';
		else if ((unsigned char)*c < 0x20 && *c != '\t')
			return perr(p, "control character 0x%02x in the text", (unsigned char)*c);
	}
	return 0;
}

static int validate(struct parser *p)
{
	p->line = 0;
	if (p->f->n_elements == 0)
		return perr(p, "no elements");
	return 0;
}

int gsn_fabric_parse(const char *text, size_t len, struct gsn_fabric **out,
		     struct gsn_fabric_error *err)
{
	struct gsn_fabric *f = calloc(1, sizeof(*f));
	struct parser p = {.f = f, .err = err};
	char buf[GSN_FABRIC_LINE_MAX + 1];
	const char *cur = text, *end = text + len;
	int r = 0;

	err->line = 0;
	err->msg[0] = '\0';
	if (!f) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	strcpy(f->name, "fabric");
	f->broadcast = true;
	if (len > GSN_FABRIC_FILE_MAX) {
		r = perr(&p, "file larger than %u bytes", GSN_FABRIC_FILE_MAX);
		goto fail;
	}
	while (cur < end) {
		p.line++;
		r = next_line(&p, &cur, end, buf);
		if (!r)
			r = statement(&p, buf);
		if (r)
			goto fail;
	}
	r = validate(&p);
	if (r)
		goto fail;
	*out = f;
	return 0;
fail:
	if (r == -ENOMEM) {
		err->line = p.line;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	}
	gsn_fabric_free(f);
	return r;
}

static int read_all(int fd, char **out, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > GSN_FABRIC_FILE_MAX)
		return -EFBIG;
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			int e = n < 0 ? -errno : 0;

			if (e == -EINTR)
				continue;
			if (n == 0)
				break; /* shrank meanwhile */
			free(buf);
			return e;
		}
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	return 0;
}

int gsn_fabric_load(const char *path, struct gsn_fabric **out, struct gsn_fabric_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text = NULL;
	size_t len = 0;

	err->line = 0;
	if (fd < 0) {
		int e = -errno;

		snprintf(err->msg, sizeof(err->msg), "cannot open: %s", strerror(-e));
		return e;
	}
	int r = read_all(fd, &text, &len);

	close(fd);
	if (r) {
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s",
			 r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	r = gsn_fabric_parse(text, len, out, err);
	free(text);
	return r;
}
