/*
 * test_kdrop.c - the kernel_drop socket filter, on real loopback sockets:
 * a listener with the filter attached, clients bound to 127.0.0.x (and
 * ::1) before they connect.  A dropped SYN leaves the connect pending; a
 * passed one completes the handshake (the listener's backlog answers it,
 * nobody needs to accept()).
 *
 * The suite runs in a network namespace of its own, where loopback also
 * carries fd00::2 (so that an IPv6 source and destination differ).
 *
 * Needs root (CAP_BPF, CAP_SYS_ADMIN), as in .ci/run: where the kernel
 * does not permit the maps, the program or the namespace, the whole suite
 * is skipped (exit 77) and says why.  A program the verifier refuses is a
 * failure, not a skip: it is ours.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "proxy/kdrop.h"

#define WAIT_MS		300	/* a SYN-ACK on loopback takes microseconds */

static struct kdrop	*kd;
static int		 lfd = -1;	/* the listener under test */
static struct sockaddr_storage lss;	/* its address */
static socklen_t	 lsslen;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Fills ss with address s, port port; returns its length. */
static socklen_t
mkaddr(struct sockaddr_storage *ss, const char *s, uint16_t port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	ck_assert_int_eq(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return sizeof(*sin6);
}

/* The bytes of address s (4 or 16 of them in a). */
static unsigned
raw(const char *s, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	ck_assert_int_eq(inet_pton(AF_INET6, s, a), 1);
	return 16;
}

/* A listener on s (port chosen by the kernel) with the filter attached. */
static void
listen_on(const char *s, int v6only)
{
	if (lfd >= 0)
		close(lfd);
	lsslen = mkaddr(&lss, s, 0);
	lfd = socket(lss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	if (lss.ss_family == AF_INET6)
		ck_assert_int_eq(setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY,
		    &v6only, sizeof(v6only)), 0);
	ck_assert_int_eq(kdrop_attach(kd, lfd), 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&lss, lsslen), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&lss, &lsslen), 0);
	ck_assert_int_eq(listen(lfd, 128), 0);
}

/*
 * Whether a connect from source address from to the listener (at address
 * to: "" for its own) completes within WAIT_MS.
 */
static int
connects_to(const char *from, const char *to)
{
	struct sockaddr_storage	 src, dst;
	socklen_t		 srclen, dstlen;
	struct pollfd		 pfd;
	uint16_t		 port;
	int			 fd, err = 0, ok;
	socklen_t		 errlen = sizeof(err);

	srclen = mkaddr(&src, from, 0);
	port = ntohs(lss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&lss)->sin_port :
	    ((struct sockaddr_in6 *)&lss)->sin6_port);
	if (to[0] != '\0')
		dstlen = mkaddr(&dst, to, port);
	else {
		dst = lss;
		dstlen = lsslen;
	}
	fd = socket(src.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&src, srclen), 0);
	if (connect(fd, (struct sockaddr *)&dst, dstlen) < 0)
		ck_assert_int_eq(errno, EINPROGRESS);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	ok = poll(&pfd, 1, WAIT_MS) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == 0 &&
	    err == 0;
	close(fd);
	return ok;
}

static int
connects(const char *from)
{
	return connects_to(from, "");
}

/* A new ban (added) or one given before. */
static void
ban_as(const char *s, unsigned plen, uint64_t expiry_ms, int added)
{
	uint8_t		 a[16];
	unsigned	 len = raw(s, a);

	ck_assert_int_eq(kdrop_ban(kd, a, len, plen, expiry_ms, added), 0);
}

static void
ban(const char *s, unsigned plen, uint64_t expiry_ms)
{
	ban_as(s, plen, expiry_ms, 1);
}

static int
unban(const char *s, unsigned plen)
{
	uint8_t		 a[16];
	unsigned	 len = raw(s, a);

	return kdrop_unban(kd, a, len, plen);
}

static struct kdrop_prefix
prefix(const char *s, unsigned plen)
{
	struct kdrop_prefix p;

	p.len = raw(s, p.addr);
	p.plen = plen;
	return p;
}

static void
setup(void)
{
	char why[256];

	kd = kdrop_new(1000, why, sizeof(why));
	ck_assert_msg(kd != NULL, "kdrop_new: %s (%s)", strerror(errno), why);
}

static void
teardown(void)
{
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	kdrop_free(kd);
	kd = NULL;
}

START_TEST(test_drop_and_unban)
{
	uint64_t drops;

	listen_on("127.0.0.1", 1);
	ck_assert(connects("127.0.0.2"));
	ck_assert_uint_eq(kdrop_drops(kd), 0);
	ban("127.0.0.2", 32, UINT64_MAX);
	ck_assert_uint_eq(kdrop_entries(kd), 1);
	ck_assert(!connects("127.0.0.2"));
	ck_assert(connects("127.0.0.1"));
	ck_assert(connects("127.0.0.3"));
	drops = kdrop_drops(kd);
	ck_assert_uint_ge(drops, 1);
	ck_assert_int_eq(unban("127.0.0.2", 32), 0);
	ck_assert_uint_eq(kdrop_entries(kd), 0);
	ck_assert_int_eq(unban("127.0.0.2", 32), -ENOENT);
	ck_assert(connects("127.0.0.2"));
	ck_assert_uint_eq(kdrop_drops(kd), drops);
	ck_assert_uint_eq(kdrop_errors(kd), 0);
}
END_TEST

START_TEST(test_extend_counts_once)
{
	listen_on("127.0.0.1", 1);
	ban("127.0.0.2", 32, now_ms() - 1);
	ck_assert(connects("127.0.0.2"));	/* expired: passes */
	ban_as("127.0.0.2", 32, now_ms() + 60000, 0);
	ck_assert_uint_eq(kdrop_entries(kd), 1);
	ck_assert(!connects("127.0.0.2"));
}
END_TEST

START_TEST(test_expiry)
{
	listen_on("127.0.0.1", 1);
	ban("127.0.0.2", 32, now_ms() + WAIT_MS + 200);
	ck_assert(!connects("127.0.0.2"));
	usleep(400 * 1000);
	ck_assert(connects("127.0.0.2"));
}
END_TEST

START_TEST(test_prefixes_and_allow)
{
	struct kdrop_prefix	 allow[2];

	listen_on("127.0.0.1", 1);
	ban("127.0.0.0", 24, UINT64_MAX);
	ck_assert(!connects("127.0.0.2"));
	ck_assert(!connects("127.0.0.3"));
	ck_assert(connects("127.0.1.2"));
	allow[0] = prefix("127.0.0.3", 32);
	allow[1] = prefix("127.0.0.1", 32);
	ck_assert_int_eq(kdrop_allow(kd, allow, 2), 0);
	ck_assert(!connects("127.0.0.2"));
	ck_assert(connects("127.0.0.3"));
	/* Replaced: .3 no longer allowed, .2 now is. */
	allow[0] = prefix("127.0.0.2", 32);
	ck_assert_int_eq(kdrop_allow(kd, allow, 2), 0);
	ck_assert(connects("127.0.0.2"));
	ck_assert(!connects("127.0.0.3"));
	ck_assert_int_eq(kdrop_allow(kd, NULL, 0), 0);
	ck_assert(!connects("127.0.0.2"));
	ck_assert(!connects("127.0.0.1"));
}
END_TEST

START_TEST(test_ipv6)
{
	listen_on("::", 1);
	ck_assert(connects_to("::1", "::1"));
	ban("::", 64, UINT64_MAX);		/* ::1 is in ::/64 */
	ck_assert(!connects_to("::1", "::1"));
	ck_assert(connects_to("fd00::2", "::1"));
	ck_assert_int_eq(unban("::", 64), 0);
	ck_assert(connects_to("::1", "::1"));
	/* The source is what counts, not the destination. */
	ban("fd00::2", 128, UINT64_MAX);
	ck_assert(!connects_to("fd00::2", "::1"));
	ck_assert(connects_to("::1", "fd00::2"));
}
END_TEST

START_TEST(test_dual_stack)
{
	/* IPv4 clients of an IPv6 socket are matched as IPv4. */
	listen_on("::", 0);
	ban("127.0.0.2", 32, UINT64_MAX);
	ck_assert(!connects_to("127.0.0.2", "127.0.0.1"));
	ck_assert(connects_to("127.0.0.3", "127.0.0.1"));
	/* An IPv6 ban covering ::ffff:0:0/96 bans no IPv4 client. */
	ban("::", 0, UINT64_MAX);
	ck_assert(connects_to("127.0.0.3", "127.0.0.1"));
	ck_assert(!connects_to("::1", "::1"));
}
END_TEST

START_TEST(test_full_map)
{
	struct kdrop	*small;
	uint8_t		 a[16];
	char		 why[256];
	int		 rv;

	/* Room for 2 bans, and a spare for extensions (see kdrop.c). */
	small = kdrop_new(2, why, sizeof(why));
	ck_assert_ptr_nonnull(small);
	raw("192.0.2.1", a);
	for (a[3] = 1; a[3] <= 3; a[3]++)
		ck_assert_int_eq(kdrop_ban(small, a, 4, 32, UINT64_MAX, 1), 0);
	a[3] = 4;
	rv = kdrop_ban(small, a, 4, 32, UINT64_MAX, 1);
	ck_assert_int_lt(rv, 0);
	ck_assert_uint_eq(kdrop_entries(small), 3);
	ck_assert_uint_eq(kdrop_errors(small), 1);
	/* Full, an entry held can still be extended. */
	a[3] = 2;
	ck_assert_int_eq(kdrop_ban(small, a, 4, 32, 1000, 0), 0);
	ck_assert_uint_eq(kdrop_entries(small), 3);
	/* Bad lengths never reach the kernel. */
	ck_assert_int_eq(kdrop_ban(small, a, 4, 33, UINT64_MAX, 1), -EINVAL);
	ck_assert_int_eq(kdrop_ban(small, a, 5, 8, UINT64_MAX, 1), -EINVAL);
	kdrop_free(small);
}
END_TEST

static Suite *
kdrop_suite(void)
{
	Suite	*s = suite_create("kdrop");
	TCase	*tc = tcase_create("filter");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_drop_and_unban);
	tcase_add_test(tc, test_extend_counts_once);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_prefixes_and_allow);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_dual_stack);
	tcase_add_test(tc, test_full_map);
	suite_add_tcase(s, tc);
	return s;
}

/* struct in6_ifreq of <linux/ipv6.h>, which clashes with <netinet/in.h>. */
struct test_in6_ifreq {
	struct in6_addr	 addr;
	uint32_t	 prefixlen;
	int		 ifindex;
};

/*
 * A network namespace of our own, its loopback up with fd00::2 on it.
 * Returns NULL, or what was refused.
 */
static const char *
netns(void)
{
	struct ifreq		 ifr;
	struct test_in6_ifreq	 r6;
	int			 fd, fd6, ok;

	if (unshare(CLONE_NEWNET) < 0)
		return "unshare(CLONE_NEWNET)";
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	memset(&r6, 0, sizeof(r6));
	inet_pton(AF_INET6, "fd00::2", &r6.addr);
	r6.prefixlen = 128;
	r6.ifindex = (int)if_nametoindex("lo");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && fd6 >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0 &&
	    ioctl(fd6, SIOCSIFADDR, &r6) == 0;
	if (fd >= 0)
		close(fd);
	if (fd6 >= 0)
		close(fd6);
	return ok ? NULL : "setting up its loopback";
}

int
main(void)
{
	struct kdrop	*probe;
	SRunner		*sr;
	const char	*no;
	char		 why[256];
	int		 failed, err;

	if ((no = netns()) != NULL) {
		printf("SKIP: %s: %s\n", no, strerror(errno));
		return 77;
	}
	/* Skipped where the kernel says no; failed where it says we erred. */
	if ((probe = kdrop_new(100000, why, sizeof(why))) == NULL) {
		err = errno;
		printf("%s: the kernel refuses the socket filter: %s%s%s\n",
		    strncmp(why, "verifier", 8) == 0 || err == ENOMEM ?
		    "FAIL" : "SKIP", strerror(err), why[0] ? ": " : "", why);
		return strncmp(why, "verifier", 8) == 0 || err == ENOMEM ?
		    1 : 77;
	}
	kdrop_free(probe);
	sr = srunner_create(kdrop_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
