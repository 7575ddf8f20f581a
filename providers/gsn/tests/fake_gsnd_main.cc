// SPDX-License-Identifier: MIT
// gsn_fake_gsnd: the fake device server as a program that takes gsnd's
// command line, so libgsn's autostart can start it (GSND=...) and the
// examples can run end to end before gsnd's device server exists.
//
//   gsn_fake_gsnd --role endpoint --name NAME [--ula ULA] [--rundir DIR]
//                 [--cable ...] [--private] [--grace-ms N]
//
// Test knobs (environment): FAKE_GSND_COUNT_FILE (append "started PID"),
// FAKE_GSND_DELAY_MS (wait before listening), FAKE_GSND_EXIT (exit at once
// with that status), FAKE_GSND_GRACE_MS (private grace period).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

#include "fake_dev.h"

extern "C" {
#include "ctl.h"
}

static fake::FakeDev *g_dev; // for the signal handler only

static void on_signal(int)
{
	if (g_dev) {
		// stop() joins no thread here (run() is on this thread): it only
		// sets the flag and writes the wake eventfd, both signal-safe.
		g_dev->stop();
	}
}

static bool parse_ula(const char *s, uint8_t out[6])
{
	unsigned u[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &u[0], &u[1], &u[2], &u[3], &u[4], &u[5]) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)u[i];
	return true;
}

int main(int argc, char **argv)
{
	fake::Options o;
	char rundir[256];

	o.engine = true;
	if (gsn_ctl_rundir(rundir, sizeof(rundir)) == 0)
		o.rundir = rundir;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
		if (a == "--private") {
			o.private_mode = true;
		} else if (a == "--name" && v) {
			o.name = v, i++;
		} else if (a == "--rundir" && v) {
			o.rundir = v, i++;
		} else if (a == "--ula" && v) {
			if (!parse_ula(v, o.ula)) {
				fprintf(stderr, "gsn_fake_gsnd: bad --ula %s\n", v);
				return 2;
			}
			i++;
		} else if (a == "--grace-ms" && v) {
			o.grace_ms = (unsigned)atoi(v), i++;
		} else if ((a == "--role" || a == "--cable") && v) {
			i++;
		} else {
			fprintf(stderr, "gsn_fake_gsnd: unexpected argument %s\n", a.c_str());
			return 2;
		}
	}
	if (const char *e = getenv("FAKE_GSND_EXIT"))
		return atoi(e);
	if (const char *g = getenv("FAKE_GSND_GRACE_MS"))
		o.grace_ms = (unsigned)atoi(g);
	if (const char *f = getenv("FAKE_GSND_COUNT_FILE")) {
		int fd = open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			char line[64];
			int n = snprintf(line, sizeof(line), "started %d\n", (int)getpid());
			if (write(fd, line, (size_t)n) < 0) {
			}
			close(fd);
		}
	}
	if (const char *d = getenv("FAKE_GSND_DELAY_MS"))
		usleep((useconds_t)atoi(d) * 1000);
	fake::FakeDev dev(o);
	int err = dev.listen();
	if (err) {
		fprintf(stderr, "gsn_fake_gsnd: listen in %s: %s\n", o.rundir.c_str(), strerror(-err));
		return 1;
	}
	g_dev = &dev;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "gsn_fake_gsnd %s: serving %s\n", o.name.c_str(), dev.sock_path().c_str());
	dev.run();
	g_dev = nullptr;
	return 0;
}
