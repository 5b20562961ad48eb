/*
 * fuzz_rules.h - the ban rules and limits the client-side fuzz targets run
 * with: every kind of condition, bans with and without a ttl, flood limits
 * that also ban, so that inputs reach the teardown paths as well as the
 * forwarding ones.  The limits are the defaults (all on), bar a few made
 * small enough for short inputs to cross.
 */
#ifndef H2GUARD_TESTS_FUZZ_RULES_H
#define H2GUARD_TESTS_FUZZ_RULES_H

#define FZ_RULES							\
	"rule office client 10.0.0.0/8 allow\n"				\
	"rule wp path prefix /wp-login.php ban\n"			\
	"rule ua header user-agent regex \"(?i)sqlmap|nikto\" ban ttl 10m\n" \
	"rule admin method DELETE path prefix /admin ban ttl 1h\n"	\
	"rule q query regex \"union.*select\" ban\n"			\
	"rule host authority exact evil.example ban\n"			\
	"rule h1 protocol http/1.1 header x-ban present ban\n"		\
	"rule env path regex \"\\.env$\" log\n"				\
	"flood_ban_ttl 1m\n"						\
	"limit ping_rate 20/10s\n"					\
	"limit settings_rate 10/10s\n"					\
	"limit rst_rate 50/10s\n"					\
	"limit empty_frame_rate 20/10s\n"				\
	"max_concurrent_streams 16\n"

#endif
