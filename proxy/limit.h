/*
 * limit.h - flood limits: their names, defaults and values ("limit NAME
 * VALUE" in the configuration), and the sliding-window counters that
 * enforce them.
 *
 * A rate limit is "COUNT/WINDOW": crossed when more than COUNT events fall
 * in a sliding WINDOW (estimated from two fixed buckets, as the count of the
 * current bucket plus the previous one's weighted by how much of it still
 * lies in the window).  A burst of COUNT + 1 events crosses it at once.
 * Other limits are a count or a size: crossed when a value exceeds it.
 * Every limit can be "off".
 */
#ifndef H2GUARD_LIMIT_H
#define H2GUARD_LIMIT_H

#include <stdint.h>

enum limit_id {
	/* per connection, rates */
	LIM_STREAM_RATE,	/* new streams / HTTP/1.1 requests */
	LIM_RST_RATE,		/* RST_STREAM frames received */
	LIM_CANCEL_RATE,	/* streams closed before their response */
	LIM_STREAM_ERROR_RATE,	/* streams h2guard had to reset */
	LIM_PING_RATE,		/* PING frames */
	LIM_SETTINGS_RATE,	/* SETTINGS frames */
	LIM_PRIORITY_RATE,	/* PRIORITY frames */
	LIM_WINDOW_UPDATE_RATE,	/* WINDOW_UPDATE frames, less DATA sent */
	LIM_EMPTY_FRAME_RATE,	/* DATA/HEADERS/CONTINUATION carrying nothing */
	LIM_INVALID_HEADER_RATE,	/* invalid header fields (empty names...) */
	/* per connection, counts and sizes */
	LIM_STREAMS,		/* streams over the connection's life */
	LIM_CONTINUATIONS,	/* CONTINUATION frames in one header block */
	LIM_HEADER_FIELDS,	/* fields in one header block */
	LIM_HEADER_BYTES,	/* bytes of one header block, coded or decoded */
	/* per client address (see ban_prefix_v4/v6), rates */
	LIM_CLIENT_CONN_RATE,	/* new connections */
	LIM_CLIENT_STREAM_RATE,	/* new streams / requests, all connections */
	/* per client address, counts */
	LIM_CLIENT_CONNECTIONS,	/* connections open at once */
	LIM_N
};

/* A limit's value: count 0 is off; window_ms 0 makes it a count or size. */
struct limit {
	uint32_t	 count;
	uint32_t	 window_ms;
};

/* A counter for one rate limit; zeroed is a fresh one. */
struct rate {
	uint64_t	 win;		/* index of the current bucket */
	uint32_t	 cur, prev;	/* events in it and in the one before */
};

/* limit_name() is the limit's name, as configured and logged. */
const char *limit_name(enum limit_id id);

/* limit_find() is the id named name, or LIM_N. */
enum limit_id limit_find(const char *name);

/* limit_syntax() describes the values id accepts, for error messages. */
const char *limit_syntax(enum limit_id id);

/* limit_defaults() sets every limit of lims[LIM_N] to its default. */
void limit_defaults(struct limit *lims);

/* limit_parse() parses value for id.  Returns 0, -EINVAL or -ERANGE. */
int limit_parse(enum limit_id id, const char *value, struct limit *lim);

/* limit_format() writes lim as configured ("100/10s", "off"...) into buf. */
void limit_format(enum limit_id id, const struct limit *lim, char *buf,
    size_t len);

/*
 * rate_add() counts n events at now_ms on r for the rate limit l.  Returns 1
 * when the limit is crossed (and stays so while the rate is over it), else 0.
 */
int rate_add(struct rate *r, const struct limit *l, uint64_t now_ms,
    uint32_t n);

/* limit_over() tells whether value exceeds the count or size limit l. */
static inline int
limit_over(const struct limit *l, uint64_t value)
{
	return l->count != 0 && value > l->count;
}

#endif
