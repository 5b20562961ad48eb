/*
 * log.h - leveled logging to stderr (systemd-friendly: one line per event).
 */
#ifndef H2GUARD_LOG_H
#define H2GUARD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

/*
 * LOG_ERR .. LOG_DEBUG; messages above it are dropped.  Written by the main
 * thread (start, reload), read by every worker: only through log_set_level()
 * and LOG_ON(), relaxed atomics (a worker may log one line more or less
 * around a reload).
 */
extern int log_level;

#define LOG_ON(lvl) ((lvl) <= __atomic_load_n(&log_level, __ATOMIC_RELAXED))

/* log_set_level() sets log_level (the main thread). */
#define log_set_level(lvl) __atomic_store_n(&log_level, (lvl), __ATOMIC_RELAXED)

/* log_msg() writes "time level message\n" to stderr when lvl is enabled. */
void log_msg(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * log_ssl_errors() drains the OpenSSL error queue into the log at lvl, each
 * line prefixed with what (may be NULL).
 */
void log_ssl_errors(int lvl, const char *what);

struct evbuffer;

/*
 * log_json_str() appends s to b as a JSON string, escaped (bytes outside
 * printable ASCII as \u00XX), cut at max bytes with "..." (SIZE_MAX: never);
 * NULL as null.  Returns 0, or -1 when out of memory.
 */
int log_json_str(struct evbuffer *b, const char *s, size_t max);

/* log_json_time() appends the wall clock as a JSON string, UTC, in ms. */
void log_json_time(struct evbuffer *b);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)                                                          \
	do {                                                                   \
		if (LOG_ON(LOG_INFO))                                          \
			log_msg(LOG_INFO, __VA_ARGS__);                        \
	} while (0)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (LOG_ON(LOG_DEBUG))                                         \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)

#endif
