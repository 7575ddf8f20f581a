/* SPDX-License-Identifier: MIT */
/*
 * gsnd: flags, environment, start-up, the loop, shut-down (docs/gsnd.md,
 * gsnd(8)).  One process is one element; SIGINT/SIGTERM stop it cleanly
 * through the loop's signalfd, and every resource is freed on every path.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "element.h"

#define COMP "main"

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

enum long_opt {
	OPT_ROLE = 256,
	OPT_NAME,
	OPT_PORTS,
	OPT_ULA,
	OPT_IP,
	OPT_HARP_SERVER,
	OPT_HARP_SERVERS,
	OPT_HARP_STATIC,
	OPT_BROADCAST,
	OPT_RUNDIR,
	OPT_CABLE,
	OPT_FILTER,
	OPT_LOG_LEVEL,
	OPT_PACE,
	OPT_FRAME_MAX,
	OPT_WINDOW,
	OPT_CREDITS,
	OPT_VERSION,
	OPT_PRIVATE,
	OPT_PRIVATE_GRACE,
	OPT_DEV_SPIN,
};

static const struct option long_opts[] = {
	{"role", required_argument, NULL, OPT_ROLE},
	{"name", required_argument, NULL, OPT_NAME},
	{"ports", required_argument, NULL, OPT_PORTS},
	{"ula", required_argument, NULL, OPT_ULA},
	{"ip", required_argument, NULL, OPT_IP},
	{"harp-server", no_argument, NULL, OPT_HARP_SERVER},
	{"harp-servers", required_argument, NULL, OPT_HARP_SERVERS},
	{"harp-static", required_argument, NULL, OPT_HARP_STATIC},
	{"broadcast", required_argument, NULL, OPT_BROADCAST},
	{"rundir", required_argument, NULL, OPT_RUNDIR},
	{"cable", required_argument, NULL, OPT_CABLE},
	{"filter", required_argument, NULL, OPT_FILTER},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"verbose", no_argument, NULL, 'v'},
	{"pace", required_argument, NULL, OPT_PACE},
	{"frame-max", required_argument, NULL, OPT_FRAME_MAX},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"credits", required_argument, NULL, OPT_CREDITS},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"private", no_argument, NULL, OPT_PRIVATE},
	{"private-grace", required_argument, NULL, OPT_PRIVATE_GRACE},
	{"dev-spin-us", required_argument, NULL, OPT_DEV_SPIN},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gsnd --role endpoint|switch --name NAME [--ports N] [--ula ULA]\n"
		"            [--ip A.B.C.D] [--harp-server] [--harp-servers ULA-or-NAME,...]\n"
		"            [--harp-static FILE] [--broadcast on|off] [--rundir DIR]\n"
		"            --cable PORT=SPEC ... [--filter PORT=SPEC ...]\n"
		"            [-v|--log-level LEVEL] [--pace on|off] [--frame-max BYTES]\n"
		"            [--window MPKTS] [--credits MPKTS]\n"
		"            [--private [--private-grace MS]] [--dev-spin-us US]\n"
		"       gsnd -h|--help | --version\n"
		"environment: GSN_RUNDIR (run directory), GSN_LOG_LEVEL (error|warn|info|debug)\n");
}

/* ---- small helpers (shared through element.h) ---- */

uint64_t gsnd_now(const struct gsnd *d)
{
	return gsn_loop_now_ns(d->loop);
}

uint32_t gsnd_random32(void)
{
	uint32_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
			v = (uint32_t)gsn_clock_ns() ^ (uint32_t)getpid() << 16;
	return v;
}

bool gsnd_is_ready(const struct gsnd *d)
{
	for (unsigned p = 0; p < d->cfg.nports; p++)
		if (gsnd_port_cabled(d, p) && !gsnd_port_up(d, p))
			return false;
	return d->ep ? gsnd_ep_ready(d) : true;
}

/* ---- flags ---- */

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "gsnd: %s: '%s'\n", what, arg);
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	unsigned long v = strtoul(s, &end, 10);

	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_onoff(const char *s, bool *out)
{
	if (strcmp(s, "on") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0)
		*out = true;
	else if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Element names as fabric files have them (they name control sockets). */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 31 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* "PORT=SPEC" */
static int parse_port_spec(const char *arg, unsigned *port, const char **spec)
{
	const char *eq = strchr(arg, '=');
	char num[8];
	unsigned long p;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(num) || !eq[1])
		return -EINVAL;
	memcpy(num, arg, (size_t)(eq - arg));
	num[eq - arg] = '\0';
	if (parse_uint(num, GSND_MAX_PORTS - 1, &p))
		return -EINVAL;
	*port = (unsigned)p;
	*spec = eq + 1;
	return 0;
}

static int opt_servers(struct gsnd_config *cfg, char *list)
{
	char *save = NULL;

	cfg->n_harp_servers = 0;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint8_t ula[GSN_ULA_LEN];

		if (cfg->n_harp_servers == GSN_HARP_MAX_SERVERS)
			return bad("--harp-servers: at most 8", t);
		if (gsn_ula_parse(t, ula) != 0 && !name_ok(t))
			return bad("--harp-servers: neither a ULA nor an element name", t);
		cfg->harp_servers[cfg->n_harp_servers++] = t;
	}
	return cfg->n_harp_servers ? 0 : bad("--harp-servers: empty list", list);
}

static int opt_cable(struct gsnd_config *cfg, const char *arg)
{
	unsigned port;
	const char *spec;

	if (parse_port_spec(arg, &port, &spec))
		return bad("--cable: want PORT=SPEC", arg);
	if (cfg->cable[port])
		return bad("--cable: port given twice", arg);
	cfg->cable[port] = spec;
	return 0;
}

static int opt_filter(struct gsnd_config *cfg, const char *arg)
{
	struct gsnd_filter_opt *f;

	if (cfg->nfilters == GSND_MAX_FILTERS)
		return bad("--filter: too many", arg);
	f = &cfg->filters[cfg->nfilters];
	if (parse_port_spec(arg, &f->port, &f->spec))
		return bad("--filter: want PORT=SPEC", arg);
	cfg->nfilters++;
	return 0;
}

static int opt_ula(struct gsnd_config *cfg, const char *arg)
{
	static const uint8_t zero[GSN_ULA_LEN];

	if (gsn_ula_parse(arg, cfg->ula) != 0 || gsn_ula_is_group(cfg->ula) ||
	    gsn_ula_equal(cfg->ula, zero))
		return bad("--ula: want a unicast xx:xx:xx:xx:xx:xx", arg);
	cfg->has_ula = true;
	return 0;
}

static int opt_log_level(struct gsnd *d, const char *arg)
{
	int lvl = gsn_log_parse_level(arg);

	if (lvl < 0)
		return bad("--log-level: want error, warn, info or debug", arg);
	d->log.level = (enum gsn_log_level)lvl;
	return 0;
}

static int opt_misc(struct gsnd *d, int c, char *arg)
{
	struct gsnd_config *cfg = &d->cfg;
	unsigned long v;

	switch (c) {
	case OPT_PORTS:
		if (parse_uint(arg, GSND_MAX_PORTS, &v) || v == 0)
			return bad("--ports: want 1..64", arg);
		cfg->nports = (unsigned)v;
		return 0;
	case OPT_IP:
		if (gsn_harp_parse_ip(arg, &cfg->ip) || cfg->ip == 0)
			return bad("--ip: want A.B.C.D", arg);
		cfg->has_ip = true;
		return 0;
	case OPT_BROADCAST:
		return parse_onoff(arg, &cfg->broadcast) ? bad("--broadcast: want on|off", arg) : 0;
	case OPT_PACE:
		return parse_onoff(arg, &cfg->pace) ? bad("--pace: want on|off", arg) : 0;
	case OPT_WINDOW:
		if (parse_uint(arg, GSN_LINK_MAX_WINDOW, &v) || v < 64)
			return bad("--window: want 64..1048576 micropackets", arg);
		cfg->window = (uint32_t)v;
		return 0;
	case OPT_CREDITS:
		if (parse_uint(arg, GSN_LINK_MAX_CREDITS, &v) || v < 64)
			return bad("--credits: want 64..32767 micropackets", arg);
		cfg->credits = (uint32_t)v;
		return 0;
	case OPT_FRAME_MAX:
		if (parse_uint(arg, GSN_CABLE_FRAME_MAX, &v) || v < GSN_LINK_MIN_FRAME_MAX)
			return bad("--frame-max: want 64..65536", arg);
		cfg->frame_max = v;
		return 0;
	case OPT_PRIVATE:
		cfg->private_mode = true;
		return 0;
	case OPT_PRIVATE_GRACE:
		if (parse_uint(arg, 3600000, &v))
			return bad("--private-grace: want 0..3600000 ms", arg);
		cfg->private_grace_ms = (unsigned)v;
		return 0;
	case OPT_DEV_SPIN:
		if (parse_uint(arg, 1000000, &v))
			return bad("--dev-spin-us: want 0..1000000", arg);
		cfg->dev_spin_us = (unsigned)v;
		return 0;
	case OPT_RUNDIR:
		if (strlen(arg) >= sizeof(cfg->rundir) || !*arg)
			return bad("--rundir: bad length", arg);
		strcpy(cfg->rundir, arg);
		return 0;
	default:
		return -EINVAL;
	}
}

static int opt_one(struct gsnd *d, int c, char *arg)
{
	struct gsnd_config *cfg = &d->cfg;

	switch (c) {
	case OPT_ROLE:
		if (strcmp(arg, "endpoint") == 0)
			cfg->role = GSND_ENDPOINT;
		else if (strcmp(arg, "switch") == 0)
			cfg->role = GSND_SWITCH;
		else
			return bad("--role: want endpoint or switch", arg);
		return 0;
	case OPT_NAME:
		if (!name_ok(arg))
			return bad("--name: a letter, then letters, digits, '_' or '-' (31 at most)", arg);
		cfg->name = arg;
		return 0;
	case OPT_ULA:
		return opt_ula(cfg, arg);
	case OPT_HARP_SERVER:
		cfg->harp_server = true;
		return 0;
	case OPT_HARP_SERVERS:
		return opt_servers(cfg, arg);
	case OPT_HARP_STATIC:
		cfg->harp_static = arg;
		return 0;
	case OPT_CABLE:
		return opt_cable(cfg, arg);
	case OPT_FILTER:
		return opt_filter(cfg, arg);
	case OPT_LOG_LEVEL:
		return opt_log_level(d, arg);
	case 'v':
		if (d->log.level < GSN_LOG_DEBUG)
			d->log.level++;
		return 0;
	default:
		return opt_misc(d, c, arg);
	}
}

/* Cross-checks once everything is parsed. */
static int check_config(struct gsnd_config *cfg, bool role_set)
{
	if (!role_set || !cfg->name) {
		fprintf(stderr, "gsnd: --role and --name are required\n");
		return -EINVAL;
	}
	if (!cfg->nports)
		cfg->nports = cfg->role == GSND_ENDPOINT ? 1 : GSND_SWITCH_PORTS;
	if (cfg->role == GSND_ENDPOINT && cfg->nports != 1) {
		fprintf(stderr, "gsnd: an endpoint has exactly one port\n");
		return -EINVAL;
	}
	for (unsigned p = cfg->nports; p < GSND_MAX_PORTS; p++)
		if (cfg->cable[p]) {
			fprintf(stderr, "gsnd: --cable %u: the element has %u ports\n", p, cfg->nports);
			return -EINVAL;
		}
	for (unsigned i = 0; i < cfg->nfilters; i++)
		if (!cfg->cable[cfg->filters[i].port]) {
			fprintf(stderr, "gsnd: --filter %u: no cable on that port\n",
				cfg->filters[i].port);
			return -EINVAL;
		}
	if (cfg->role == GSND_SWITCH &&
	    (cfg->has_ip || cfg->harp_server || cfg->n_harp_servers || cfg->harp_static)) {
		fprintf(stderr, "gsnd: --ip and --harp-* are for endpoints\n");
		return -EINVAL;
	}
	if ((cfg->harp_server || cfg->harp_static) && !cfg->has_ip) {
		fprintf(stderr, "gsnd: --harp-server and --harp-static need --ip\n");
		return -EINVAL;
	}
	if (cfg->role == GSND_ENDPOINT && !cfg->cable[0]) {
		fprintf(stderr, "gsnd: an endpoint needs --cable 0=SPEC\n");
		return -EINVAL;
	}
	return 0;
}

static int rundir_default(struct gsnd_config *cfg)
{
	if (cfg->rundir[0])
		return 0;
	if (gsn_ctl_rundir(cfg->rundir, sizeof(cfg->rundir))) {
		fprintf(stderr, "gsnd: run directory path too long\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* 0 to run, 1 done (help/version), < 0 usage error. */
static int parse_args(struct gsnd *d, int argc, char **argv)
{
	bool role_set = false;
	int c;

	d->cfg.broadcast = true;
	d->cfg.window = GSND_DEFAULT_WINDOW;
	d->cfg.credits = GSND_DEFAULT_CREDITS;
	d->cfg.private_grace_ms = 2000;
	d->cfg.dev_spin_us = 50;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "hv", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("gsnd %s\n", GSN_VERSION);
			return 1;
		}
		if (c == '?')
			return -EINVAL;
		role_set |= c == OPT_ROLE;
		if (opt_one(d, c, optarg))
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "gsnd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (check_config(&d->cfg, role_set))
		return -EINVAL;
	return rundir_default(&d->cfg);
}

/* ---- life cycle ---- */

static void on_signal(struct gsn_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
	struct gsnd *d = arg;

	GSN_INFO(&d->log, COMP, "signal %u: stopping", si->ssi_signo);
	d->stopping = true;
	gsn_loop_stop(loop);
}

/* After every loop iteration: senders waiting for room, then one flush of
 * every link (the link batches micropackets until then), then LINK_WAIT. */
static void on_iteration(struct gsn_loop *loop, void *arg)
{
	(void)loop;
	struct gsnd *d = arg;

	if (d->ep) {
		gsnd_raw_pump(d);
		gsnd_gen_pump(d);
		gsnd_dev_pump(d);
	}
	gsnd_ports_flush(d);
	gsnd_ctl_poll_ready(d);
}

static int setup_loop(struct gsnd *d)
{
	static const int sigs[] = {SIGINT, SIGTERM};
	int err = gsn_loop_new(&d->loop, &d->log);

	if (err)
		return err;
	err = gsn_loop_signals(d->loop, sigs, 2, on_signal, d);
	if (err)
		return err;
	signal(SIGPIPE, SIG_IGN);
	d->start_ns = gsn_loop_now_ns(d->loop);
	d->hook_id = gsn_loop_add_hook(d->loop, on_iteration, d);
	return d->hook_id < 0 ? d->hook_id : 0;
}

static int setup_role(struct gsnd *d)
{
	int err = gsnd_calls_init(d);

	if (err)
		return err;
	if (d->cfg.role == GSND_SWITCH)
		return gsnd_switch_init(d);
	err = gsnd_endpoint_init(d);
	return err ? err : gsnd_harp_init(d);
}

static int setup(struct gsnd *d)
{
	int err = setup_loop(d);

	if (err) {
		GSN_ERR(&d->log, COMP, "event loop: %s", strerror(-err));
		return err;
	}
	err = gsn_ctl_rundir_ensure(d->cfg.rundir);
	if (err) {
		GSN_ERR(&d->log, COMP, "run directory %s: %s", d->cfg.rundir, strerror(-err));
		return err;
	}
	err = gsnd_ports_open(d);
	if (!err)
		err = setup_role(d);
	if (!err)
		err = gsnd_ctl_init(d);
	if (!err)
		err = gsnd_ports_start(d);
	return err;
}

static void teardown(struct gsnd *d)
{
	d->stopping = true;
	gsnd_ctl_fini(d);
	gsnd_ctl_admin_fini(d);
	if (d->ep) {
		gsnd_harp_fini(d);
		gsnd_endpoint_fini(d);
	}
	if (d->sw)
		gsnd_switch_fini(d);
	gsnd_calls_fini(d);
	gsnd_ports_close(d);
	gsn_loop_free(d->loop);
	d->loop = NULL;
}

static void log_start(const struct gsnd *d)
{
	char ula[GSN_ULA_STRLEN];

	gsnd_ula_str(d->cfg.ula, d->cfg.has_ula, ula);
	GSN_INFO(&d->log, COMP, "%s %s: %u port(s), ula %s, control socket %s/%s.sock",
		 d->cfg.role == GSND_ENDPOINT ? "endpoint" : "switch", d->cfg.name, d->cfg.nports,
		 ula, d->cfg.rundir, d->cfg.name);
}

int main(int argc, char **argv)
{
	struct gsnd *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		fprintf(stderr, "gsnd: out of memory\n");
		return EXIT_FAIL;
	}
	gsn_log_init(&d->log, "gsnd");
	rc = parse_args(d, argc, argv);
	if (rc) {
		if (rc < 0)
			usage(stderr);
		free(d);
		return rc < 0 ? EXIT_USAGE : EXIT_OK;
	}
	snprintf(d->log_prefix, sizeof(d->log_prefix), "gsnd[%s]", d->cfg.name);
	d->log.prefix = d->log_prefix;
	rc = setup(d);
	if (!rc) {
		log_start(d);
		rc = gsn_loop_run(d->loop);
	}
	teardown(d);
	free(d);
	return rc ? EXIT_FAIL : EXIT_OK;
}
