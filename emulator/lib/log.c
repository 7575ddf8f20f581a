/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int gsn_log_parse_level(const char *s)
{
	if (!s || !*s)
		return -1;
	for (int i = 0; i <= GSN_LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	return -1;
}

void gsn_log_init(struct gsn_log *log, const char *prefix)
{
	log->out = NULL;
	log->prefix = prefix ? prefix : "gsn";
	int lvl = gsn_log_parse_level(getenv("GSN_LOG_LEVEL"));
	log->level = lvl < 0 ? GSN_LOG_WARN : (enum gsn_log_level)lvl;
}

void gsn_logf(const struct gsn_log *log, enum gsn_log_level lvl, const char *component,
	      const char *fmt, ...)
{
	if (!log || lvl > log->level)
		return;
	FILE *out = log->out ? log->out : stderr;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[1024];
	int n = snprintf(line, sizeof(line), "%lld.%06ld %s %s %s: ", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000, log->prefix, level_names[lvl], component ? component : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(out, "%s\n", line);
}
