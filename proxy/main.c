/*
 * main.c - h2guard's command line.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>

#include "proxy/conf.h"
#include "proxy/log.h"
#include "proxy/membudget.h"
#include "proxy/server.h"

#define DEFAULT_CONF SYSCONFDIR "/h2guard.conf"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: h2guard [-t] [-c FILE]\n"
	    "\n"
	    "h2guard is a reverse proxy for HTTP/2 (TLS and h2c) and HTTP/1.1 that\n"
	    "forwards requests to upstream HTTP/1.1 servers.  A connection that\n"
	    "sends a request matching a ban rule of FILE, or crosses one of its\n"
	    "flood limits (stream, reset, PING, SETTINGS... rates, header block\n"
	    "bounds, per-client rates, slow clients), is closed at once, writing\n"
	    "nothing more, and none of its other requests is forwarded; with a\n"
	    "ttl, the kernel then drops the address's new connections before\n"
	    "the TCP handshake (kernel_drop, as root).  Bans and floods are\n"
	    "logged as JSON lines (ban_log), requests too (access_log).  With\n"
	    "admin_listen, /metrics (Prometheus) and /bans (list, add, remove\n"
	    "bans) are served there (with admin_token, to bearers of it only).\n"
	    "It runs in the foreground, with \"workers\" threads, and logs to\n"
	    "standard error.\n"
	    "\n"
	    "  -c, --config FILE  configuration file (default " DEFAULT_CONF ")\n"
	    "  -t, --test         check the configuration (syntax, addresses,\n"
	    "                     certificate and key) and exit: 0 when it is\n"
	    "                     valid, else 1 after printing every error as\n"
	    "                     FILE:LINE: message\n"
	    "  -h, --help         show this help and exit\n"
	    "  -V, --version      show the versions of h2guard and its libraries\n"
	    "\n"
	    "Signals:\n"
	    "  SIGTERM, SIGINT    stop accepting, send GOAWAY to HTTP/2 clients,\n"
	    "                     let in-flight requests finish for up to\n"
	    "                     shutdown_timeout, save the ban table\n"
	    "                     (ban_state_file), exit 0; a second signal\n"
	    "                     closes what is left at once\n"
	    "  SIGHUP             reload FILE: new connections use it, open ones\n"
	    "                     finish under theirs; listeners and bans are\n"
	    "                     kept; on any error the old one stays in force\n"
	    "  SIGUSR1            reopen access_log and ban_log (logrotate)\n");
}

static void
version(void)
{
	printf("h2guard %s\n", PACKAGE_VERSION);
	printf("nghttp2 %s\n", nghttp2_version(0)->version_str);
	printf("libevent %s\n", event_get_version());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("http-parser %lu.%lu.%lu\n", (http_parser_version() >> 16) & 255,
	    (http_parser_version() >> 8) & 255, http_parser_version() & 255);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*path = DEFAULT_CONF;
	struct conf	*conf = NULL;
	SSL_CTX		*ctx = NULL;
	char		*errors = NULL;
	int		 ch, test = 0, rc;

	/* Before anything uses libevent: memory_limit counts its memory. */
	membudget_init();
	while ((ch = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version();
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (server_load(path, &conf, &ctx, &errors) < 0) {
		fputs(errors ? errors : "out of memory\n", stderr);
		free(errors);
		return 1;
	}
	if (test) {
		fprintf(stderr, "%s: configuration ok\n", path);
		SSL_CTX_free(ctx);
		conf_free(conf);
		return 0;
	}
	rc = server_init(conf, ctx) == 0 ? server_run() : 1;
	server_free();
	return rc;
}
