/*
 * log.c - leveled logging to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <openssl/err.h>

#include "proxy/log.h"

int log_level = LOG_INFO;

static const char *
log_level_name(int lvl)
{
	switch (lvl) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warn";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void
log_vmsg(int lvl, const char *fmt, va_list ap)
{
	char		 line[2048];
	struct timeval	 tv;
	struct tm	 tm;
	int		 n;

	if (!LOG_ON(lvl))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s ",
	    (long)(tv.tv_usec / 1000), log_level_name(lvl));
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines of concurrent writers do not interleave. */
	fwrite(line, 1, (size_t)n, stderr);
}

void
log_msg(int lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void
log_ssl_errors(int lvl, const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_msg(lvl, "%s%s%s", what ? what : "", what ? ": " : "", buf);
	}
}

int
log_json_str(struct evbuffer *b, const char *s, size_t max)
{
	size_t	i;
	int	rc = 0;

	if (s == NULL)
		return evbuffer_add(b, "null", 4);
	rc |= evbuffer_add(b, "\"", 1);
	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* Bytes past ASCII too: the text stays valid UTF-8. */
		if (ch == '"' || ch == '\\')
			rc |= evbuffer_add_printf(b, "\\%c", ch) < 0;
		else if (ch < 0x20 || ch >= 0x7f)
			rc |= evbuffer_add_printf(b, "\\u%04x", ch) < 0;
		else
			rc |= evbuffer_add(b, &s[i], 1);
	}
	if (s[i] != '\0')
		rc |= evbuffer_add(b, "...", 3);
	rc |= evbuffer_add(b, "\"", 1);
	return rc ? -1 : 0;
}

void
log_json_time(struct evbuffer *b)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(b, "\"%s.%03ldZ\"", ts, (long)tv.tv_usec / 1000);
}
