/* SPDX-License-Identifier: MIT */
/*
 * The one logging facility of gsnd and its tools: levels, a component tag,
 * stderr by default.  A gsn_log is an object the program owns and passes to
 * whoever logs — there is no global logger.
 *
 * Level from GSN_LOG_LEVEL (error, warn, info, debug) or -v flags.
 */
#ifndef GSN_LOG_H
#define GSN_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum gsn_log_level { GSN_LOG_ERROR = 0, GSN_LOG_WARN, GSN_LOG_INFO, GSN_LOG_DEBUG };

struct gsn_log {
	enum gsn_log_level level;
	FILE *out;          /* NULL: stderr */
	const char *prefix; /* e.g. "gsnd[sw0]" */
};

/* Initialises from GSN_LOG_LEVEL (default warn). */
void gsn_log_init(struct gsn_log *log, const char *prefix);
/* Parses "error", "warn", "info", "debug" or 0..3; -1 if unknown. */
int gsn_log_parse_level(const char *s);

void gsn_logf(const struct gsn_log *log, enum gsn_log_level lvl, const char *component,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define GSN_ERR(log, comp, ...) gsn_logf((log), GSN_LOG_ERROR, (comp), __VA_ARGS__)
#define GSN_WARN(log, comp, ...) gsn_logf((log), GSN_LOG_WARN, (comp), __VA_ARGS__)
#define GSN_INFO(log, comp, ...) gsn_logf((log), GSN_LOG_INFO, (comp), __VA_ARGS__)
#define GSN_DBG(log, comp, ...) \
	do { \
		if ((log) && (log)->level >= GSN_LOG_DEBUG) \
			gsn_logf((log), GSN_LOG_DEBUG, (comp), __VA_ARGS__); \
	} while (0)

#endif /* GSN_LOG_H */
