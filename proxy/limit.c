/*
 * limit.c - flood limit names, values and sliding-window counters.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/conf.h"
#include "proxy/limit.h"

enum limit_kind {
	LIMIT_RATE,	/* COUNT/WINDOW */
	LIMIT_COUNT,	/* COUNT */
	LIMIT_SIZE,	/* bytes, k/m suffixes */
};

static const struct {
	const char	*name;
	enum limit_kind	 kind;
	const char	*def;
} limit_table[LIM_N] = {
	[LIM_STREAM_RATE] = { "stream_rate", LIMIT_RATE, "10000/10s" },
	[LIM_RST_RATE] = { "rst_rate", LIMIT_RATE, "1000/10s" },
	[LIM_CANCEL_RATE] = { "cancel_rate", LIMIT_RATE, "500/10s" },
	[LIM_STREAM_ERROR_RATE] = { "stream_error_rate", LIMIT_RATE, "100/10s" },
	[LIM_PING_RATE] = { "ping_rate", LIMIT_RATE, "100/10s" },
	[LIM_SETTINGS_RATE] = { "settings_rate", LIMIT_RATE, "50/10s" },
	[LIM_PRIORITY_RATE] = { "priority_rate", LIMIT_RATE, "1000/10s" },
	[LIM_WINDOW_UPDATE_RATE] = { "window_update_rate", LIMIT_RATE,
	    "1000/10s" },
	[LIM_EMPTY_FRAME_RATE] = { "empty_frame_rate", LIMIT_RATE, "100/10s" },
	[LIM_INVALID_HEADER_RATE] = { "invalid_header_rate", LIMIT_RATE,
	    "100/10s" },
	[LIM_STREAMS] = { "streams", LIMIT_COUNT, "100000" },
	[LIM_CONTINUATIONS] = { "continuations", LIMIT_COUNT, "5" },
	[LIM_HEADER_FIELDS] = { "header_fields", LIMIT_COUNT, "300" },
	[LIM_HEADER_BYTES] = { "header_bytes", LIMIT_SIZE, "256k" },
	[LIM_CLIENT_CONN_RATE] = { "client_conn_rate", LIMIT_RATE, "1000/10s" },
	[LIM_CLIENT_STREAM_RATE] = { "client_stream_rate", LIMIT_RATE,
	    "10000/10s" },
	[LIM_CLIENT_CONNECTIONS] = { "client_max_connections", LIMIT_COUNT,
	    "1000" },
};

#define LIMIT_COUNT_MAX	1000000000	/* keeps sums far from overflow */
#define LIMIT_SIZE_MAX	(1U << 30)	/* 1g */

const char *
limit_name(enum limit_id id)
{
	return id < LIM_N ? limit_table[id].name : "?";
}

enum limit_id
limit_find(const char *name)
{
	int i;

	for (i = 0; i < LIM_N; i++)
		if (strcmp(name, limit_table[i].name) == 0)
			break;
	return (enum limit_id)i;
}

const char *
limit_syntax(enum limit_id id)
{
	switch (limit_table[id].kind) {
	case LIMIT_RATE:
		return "COUNT/DURATION (1..1000000000 per 1ms..24h) or off";
	case LIMIT_COUNT:
		return "COUNT (1..1000000000) or off";
	case LIMIT_SIZE:
		return "SIZE (1..1g) or off";
	}
	return "?";
}

int
limit_parse(enum limit_id id, const char *value, struct limit *lim)
{
	uint64_t	 n, ms = 0;
	const char	*slash;
	char		 num[24];
	int		 rc;

	if (strcmp(value, "off") == 0) {
		lim->count = 0;
		lim->window_ms = 0;
		return 0;
	}
	switch (limit_table[id].kind) {
	case LIMIT_RATE:
		if ((slash = strchr(value, '/')) == NULL ||
		    (size_t)(slash - value) >= sizeof(num))
			return -EINVAL;
		memcpy(num, value, (size_t)(slash - value));
		num[slash - value] = '\0';
		if (num[0] == '\0' || strspn(num, "0123456789") != strlen(num))
			return -EINVAL;
		if ((rc = conf_parse_size(num, &n)) != 0 ||
		    (rc = conf_parse_duration(slash + 1, &ms)) != 0)
			return rc;
		if (ms == 0 || ms > 86400000)
			return -ERANGE;
		break;
	case LIMIT_COUNT:
		if (strspn(value, "0123456789") != strlen(value))
			return -EINVAL;
		/* FALLTHROUGH */
	case LIMIT_SIZE:
		if ((rc = conf_parse_size(value, &n)) != 0)
			return rc;
		break;
	default:
		return -EINVAL;
	}
	if (n == 0 || n > (limit_table[id].kind == LIMIT_SIZE ? LIMIT_SIZE_MAX :
	    LIMIT_COUNT_MAX))
		return -ERANGE;
	lim->count = (uint32_t)n;
	lim->window_ms = (uint32_t)ms;
	return 0;
}

void
limit_defaults(struct limit *lims)
{
	int i;

	/* The table's defaults always parse. */
	for (i = 0; i < LIM_N; i++)
		limit_parse((enum limit_id)i, limit_table[i].def, &lims[i]);
}

void
limit_format(enum limit_id id, const struct limit *lim, char *buf, size_t len)
{
	if (lim->count == 0)
		snprintf(buf, len, "off");
	else if (limit_table[id].kind != LIMIT_RATE)
		snprintf(buf, len, "%u", lim->count);
	else if (lim->window_ms % 1000 == 0)
		snprintf(buf, len, "%u/%us", lim->count, lim->window_ms / 1000);
	else
		snprintf(buf, len, "%u/%ums", lim->count, lim->window_ms);
}

int
rate_add(struct rate *r, const struct limit *l, uint64_t now_ms, uint32_t n)
{
	uint64_t	 w, est;

	if (l->count == 0 || l->window_ms == 0)
		return 0;
	w = now_ms / l->window_ms;
	if (w != r->win) {
		r->prev = w == r->win + 1 ? r->cur : 0;
		r->cur = 0;
		r->win = w;
	}
	r->cur = r->cur > UINT32_MAX - n ? UINT32_MAX : r->cur + n;
	est = r->cur + (uint64_t)r->prev *
	    (l->window_ms - now_ms % l->window_ms) / l->window_ms;
	return est > l->count;
}
