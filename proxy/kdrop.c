/*
 * kdrop.c - the kernel_drop socket filter and its maps (see kdrop.h).
 *
 * Six maps: for IPv4 and for IPv6, an LPM trie of allowed prefixes (value
 * unused) and one of banned prefixes (value: the expiry in ns of
 * CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns()), plus a per-CPU array of
 * one counter, the packets dropped.  Keys are struct bpf_lpm_trie_key: a
 * prefix length, then the address (4 or 16 bytes) in network order.  The
 * tries allocate per entry (BPF_F_NO_PREALLOC, which LPM tries require):
 * max costs nothing until used.
 *
 * The program, in pseudo-C:
 *
 *	if (skb->protocol == htons(ETH_P_IP))
 *		key = { 32, the IPv4 source address }, maps = the IPv4 ones;
 *	else if (skb->protocol == htons(ETH_P_IPV6))
 *		key = { 128, the IPv6 source address }, maps = the IPv6 ones;
 *	else
 *		return PASS;
 *	if (lookup(allow, key) || !(e = lookup(ban, key)) ||
 *	    bpf_ktime_get_ns() >= *e)
 *		return PASS;
 *	(*lookup(drops, 0))++;
 *	return 0;
 *
 * IPv4 traffic reaching an IPv6 socket (IPv4-mapped) is IPv4 on the wire,
 * so it is read and matched as IPv4, as the ban table counts it.  An
 * expired ban the ban table has not dropped yet passes: userspace then
 * decides.  The longest banned prefix decides alone: when it has expired
 * and a shorter one has not, the packet passes and the accept-time check,
 * which sees every length, closes the connection.
 *
 * Sockets accepted from a filtered listener inherit the filter; the server
 * takes it off them (kdrop_detach()): it runs about 200 ns a packet
 * (kernel.bpf_stats_enabled), and once an address is banned it would also
 * drop the packets of its connections still open, the ACKs of our FIN
 * included, leaving those sockets to retransmit.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/kdrop.h"

#define KD_ALLOW_MAX	65536		/* allowed prefixes per family */
#define KD_INSNS	96		/* room for the program */
#define KD_LOG_SIZE	65536		/* verifier log when it refuses */
#define KD_PASS		(-1)		/* a filter's "keep the whole packet" */

enum { KD_V4, KD_V6 };

struct kdrop {
	int		 allow[2];	/* owned fds: LPM tries, KD_V4/KD_V6 */
	int		 ban[2];	/* owned fds: LPM tries, value expiry ns */
	int		 drops;		/* owned fd: per-CPU array, 1 counter */
	int		 prog;		/* owned fd: the socket filter */
	unsigned	 ncpus;		/* possible CPUs: per-CPU value count */
	size_t		 entries;	/* bans in ban[0] and ban[1] */
	uint64_t	 errors;	/* map writes refused */
	struct kdrop_prefix *allowed;	/* owned: what kdrop_allow() set */
	size_t		 nallowed;
};

/* An LPM trie key, big enough for IPv6. */
struct kd_key {
	uint32_t	 plen;
	uint8_t		 addr[16];
};

static long
kd_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int
kd_map_new(uint32_t type, uint32_t key_size, uint32_t value_size,
    uint32_t max, uint32_t flags, const char *name)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = type;
	attr.key_size = key_size;
	attr.value_size = value_size;
	attr.max_entries = max;
	attr.map_flags = flags;
	/* Named, for "bpftool map list" (names came in 4.15). */
	strncpy(attr.map_name, name, sizeof(attr.map_name) - 1);
	return (int)kd_bpf(BPF_MAP_CREATE, &attr);
}

static int
kd_map_op(int cmd, int fd, const void *key, void *value, uint64_t flags)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)fd;
	attr.key = (uint64_t)(uintptr_t)key;
	attr.value = (uint64_t)(uintptr_t)value;
	attr.flags = flags;
	return kd_bpf(cmd, &attr) < 0 ? -errno : 0;
}

/* ---- the program ---------------------------------------------------------- */

/* Jump targets, resolved once the program is assembled. */
enum { L_V4, L_PASS, L_DROP, L_DROPPED, L_NLABELS };

struct kd_asm {
	struct bpf_insn	 v[KD_INSNS];
	size_t		 n;
	int		 label[L_NLABELS];	/* insn index, -1: not yet */
	int		 target[KD_INSNS];	/* jump at v[i] goes to, -1: none */
	int		 full;			/* KD_INSNS were not enough */
};

static void
kd_emit(struct kd_asm *a, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
    int32_t imm)
{
	struct bpf_insn *i;

	if (a->n == KD_INSNS) {
		a->full = 1;
		return;
	}
	a->target[a->n] = -1;
	i = &a->v[a->n++];
	memset(i, 0, sizeof(*i));
	i->code = code;
	i->dst_reg = dst & 0xf;
	i->src_reg = src & 0xf;
	i->off = off;
	i->imm = imm;
}

/* The instruction just emitted jumps to label. */
static void
kd_to(struct kd_asm *a, int label)
{
	if (!a->full)
		a->target[a->n - 1] = label;
}

/* A conditional jump (op: BPF_JEQ...) comparing dst with imm, to label. */
static void
kd_jmp(struct kd_asm *a, uint8_t op, uint8_t dst, int32_t imm, int label)
{
	kd_emit(a, BPF_JMP | op | BPF_K, dst, 0, 0, imm);
	kd_to(a, label);
}

static void
kd_goto(struct kd_asm *a, int label)
{
	kd_emit(a, BPF_JMP | BPF_JA, 0, 0, 0, 0);
	kd_to(a, label);
}

static void
kd_label(struct kd_asm *a, int label)
{
	a->label[label] = (int)a->n;
}

/* r1 = the map fd (two instructions: a 64-bit immediate). */
static void
kd_ld_map(struct kd_asm *a, int fd)
{
	kd_emit(a, BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0,
	    fd);
	kd_emit(a, 0, 0, 0, 0, 0);
}

/* r0 = lookup(map, the key at fp + off), clobbering r1-r5. */
static void
kd_lookup(struct kd_asm *a, int fd, int16_t off)
{
	kd_ld_map(a, fd);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	kd_emit(a, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, off);
	kd_emit(a, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
}

/*
 * One family: its key at fp + off (the address 4 bytes further, addrlen
 * bytes read at byte netoff of the network header), then the lookups.
 */
static void
kd_family(struct kd_asm *a, const struct kdrop *kd, int f, int16_t off,
    int32_t netoff, int32_t addrlen)
{
	kd_emit(a, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, off, addrlen * 8);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, netoff);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_10, 0, 0);
	kd_emit(a, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, off + 4);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, addrlen);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_5, 0, 0,
	    BPF_HDR_START_NET);
	kd_emit(a, BPF_JMP | BPF_CALL, 0, 0, 0,
	    BPF_FUNC_skb_load_bytes_relative);
	kd_jmp(a, BPF_JNE, BPF_REG_0, 0, L_PASS);
	kd_lookup(a, kd->allow[f], off);
	kd_jmp(a, BPF_JNE, BPF_REG_0, 0, L_PASS);
	kd_lookup(a, kd->ban[f], off);
	kd_jmp(a, BPF_JEQ, BPF_REG_0, 0, L_PASS);
	/* r8 = the expiry; r6-r9 survive calls. */
	kd_emit(a, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_8, BPF_REG_0, 0, 0);
	kd_emit(a, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ktime_get_ns);
	kd_emit(a, BPF_JMP | BPF_JGE | BPF_X, BPF_REG_0, BPF_REG_8, 0, 0);
	kd_to(a, L_PASS);
	kd_goto(a, L_DROP);
}

/* Fills a with the program; 0, or -E2BIG when it did not fit. */
static int
kd_assemble(struct kd_asm *a, const struct kdrop *kd)
{
	size_t	 i;
	int	 t;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < L_NLABELS; i++)
		a->label[i] = -1;
	/* r6 = the skb, r7 = its protocol (network order). */
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	kd_emit(a, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_7, BPF_REG_6,
	    offsetof(struct __sk_buff, protocol), 0);
	kd_jmp(a, BPF_JEQ, BPF_REG_7, htons(ETH_P_IP), L_V4);
	kd_jmp(a, BPF_JNE, BPF_REG_7, htons(ETH_P_IPV6), L_PASS);
	/* IPv6: key at fp-20, the source address at byte 8. */
	kd_family(a, kd, KD_V6, -20, 8, 16);
	/* IPv4: key at fp-8, the source address at byte 12. */
	kd_label(a, L_V4);
	kd_family(a, kd, KD_V4, -8, 12, 4);
	kd_label(a, L_DROP);
	kd_emit(a, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -24, 0);
	kd_lookup(a, kd->drops, -24);
	kd_jmp(a, BPF_JEQ, BPF_REG_0, 0, L_DROPPED);
	/* Per-CPU: no other CPU writes this counter. */
	kd_emit(a, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_0, 0, 0);
	kd_emit(a, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, 1);
	kd_emit(a, BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0);
	kd_label(a, L_DROPPED);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	kd_emit(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	kd_label(a, L_PASS);
	kd_emit(a, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, KD_PASS);
	kd_emit(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	if (a->full)
		return -E2BIG;
	for (i = 0; i < a->n; i++) {
		if ((t = a->target[i]) < 0)
			continue;
		a->v[i].off = (int16_t)(a->label[t] - (int)i - 1);
	}
	return 0;
}

/* Loads the program; why gets the verifier's error line if it refuses. */
static int
kd_load(struct kdrop *kd, char *why, size_t whylen)
{
	static const char	 license[] = "";	/* no GPL-only helper */
	struct kd_asm		 a;
	union bpf_attr		 attr;
	char			*log, *nl, *line;
	int			 fd, err;

	if ((err = kd_assemble(&a, kd)) < 0) {
		snprintf(why, whylen, "program too long");
		errno = -err;
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)a.v;
	attr.insn_cnt = (uint32_t)a.n;
	attr.license = (uint64_t)(uintptr_t)license;
	strncpy(attr.prog_name, "h2guard_drop", sizeof(attr.prog_name) - 1);
	/* EINVAL or EACCES: the verifier refused it. */
	if ((fd = (int)kd_bpf(BPF_PROG_LOAD, &attr)) >= 0 ||
	    (errno != EINVAL && errno != EACCES))
		return fd;
	/* Once more with the verifier's log, to say why. */
	if ((log = calloc(1, KD_LOG_SIZE)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = KD_LOG_SIZE;
	attr.log_level = 1;
	fd = (int)kd_bpf(BPF_PROG_LOAD, &attr);
	err = errno;
	if (fd < 0) {
		/* The last line but its statistics says what failed. */
		for (;;) {
			nl = strrchr(log, '\n');
			line = nl != NULL ? nl + 1 : log;
			if (nl == NULL || (*line != '\0' &&
			    strncmp(line, "processed ", 10) != 0 &&
			    strncmp(line, "verification time", 17) != 0))
				break;
			*nl = '\0';
		}
		snprintf(why, whylen, "verifier: %s", line);
	}
	free(log);
	errno = err;
	return fd;
}

/* ---- maps ------------------------------------------------------------------- */

static unsigned
kd_possible_cpus(void)
{
	FILE		*f;
	char		 buf[256], *p;
	unsigned long	 last = 0, n;

	/* "0-3" or "0,2-5": the highest number plus one. */
	if ((f = fopen("/sys/devices/system/cpu/possible", "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		for (p = buf; *p != '\0';) {
			n = strtoul(p, &p, 10);
			if (n > last)
				last = n;
			if (*p != ',' && *p != '-')
				break;
			p++;
		}
	}
	fclose(f);
	return (unsigned)last + 1;
}

struct kdrop *
kdrop_new(uint32_t max, char *why, size_t whylen)
{
	struct kdrop	*kd;
	uint32_t	 keylen[2] = { 4 + 4, 4 + 16 };
	int		 f, err;

	why[0] = '\0';
	if ((kd = calloc(1, sizeof(*kd))) == NULL)
		return NULL;
	kd->allow[0] = kd->allow[1] = kd->ban[0] = kd->ban[1] = -1;
	kd->drops = kd->prog = -1;
	if ((kd->ncpus = kd_possible_cpus()) == 0) {
		snprintf(why, whylen, "cannot read the possible CPUs");
		err = ENOSYS;
		goto out_free;
	}
	for (f = KD_V4; f <= KD_V6; f++) {
		kd->allow[f] = kd_map_new(BPF_MAP_TYPE_LPM_TRIE, keylen[f], 1,
		    KD_ALLOW_MAX, BPF_F_NO_PREALLOC,
		    f == KD_V4 ? "h2g_allow4" : "h2g_allow6");
		if (kd->allow[f] < 0)
			goto out_map;
		/*
		 * One spare: before Linux 6.13 a full trie refuses even the
		 * update of an entry it holds (the extension of a ban).
		 */
		kd->ban[f] = kd_map_new(BPF_MAP_TYPE_LPM_TRIE, keylen[f],
		    sizeof(uint64_t), max + 1, BPF_F_NO_PREALLOC,
		    f == KD_V4 ? "h2g_ban4" : "h2g_ban6");
		if (kd->ban[f] < 0)
			goto out_map;
	}
	kd->drops = kd_map_new(BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(uint64_t),
	    1, 0, "h2g_drops");
	if (kd->drops < 0)
		goto out_map;
	if ((kd->prog = kd_load(kd, why, whylen)) < 0) {
		err = errno;
		if (why[0] == '\0')
			snprintf(why, whylen, "cannot load the program");
		goto out_free;
	}
	return kd;

out_map:
	err = errno;
	snprintf(why, whylen, "cannot create the maps");
out_free:
	kdrop_free(kd);
	errno = err;
	return NULL;
}

void
kdrop_free(struct kdrop *kd)
{
	int f;

	if (kd == NULL)
		return;
	for (f = KD_V4; f <= KD_V6; f++) {
		if (kd->allow[f] >= 0)
			close(kd->allow[f]);
		if (kd->ban[f] >= 0)
			close(kd->ban[f]);
	}
	if (kd->drops >= 0)
		close(kd->drops);
	if (kd->prog >= 0)
		close(kd->prog);
	free(kd->allowed);
	free(kd);
}

int
kdrop_attach(const struct kdrop *kd, int fd)
{
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &kd->prog,
	    sizeof(kd->prog)) < 0)
		return -errno;
	return 0;
}

int
kdrop_detach(int fd)
{
	int unused = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, &unused,
	    sizeof(unused)) < 0)
		return -errno;
	return 0;
}

/* Fills k; the map of the family, or -1 for a bad len or plen. */
static int
kd_key(const int map[2], const uint8_t *addr, unsigned len, unsigned plen,
    struct kd_key *k)
{
	if ((len != 4 && len != 16) || plen > len * 8)
		return -1;
	memset(k, 0, sizeof(*k));
	k->plen = plen;
	memcpy(k->addr, addr, len);
	return map[len == 16];
}

int
kdrop_ban(struct kdrop *kd, const uint8_t *addr, unsigned len, unsigned plen,
    uint64_t expiry_ms, int added)
{
	struct kd_key	 k;
	uint64_t	 ns;
	int		 fd, rv;

	if ((fd = kd_key(kd->ban, addr, len, plen, &k)) < 0)
		return -EINVAL;
	ns = expiry_ms > UINT64_MAX / 1000000 ? UINT64_MAX :
	    expiry_ms * 1000000;
	rv = kd_map_op(BPF_MAP_UPDATE_ELEM, fd, &k, &ns, BPF_ANY);
	if (rv < 0)
		kd->errors++;
	else if (added)
		kd->entries++;
	return rv;
}

int
kdrop_unban(struct kdrop *kd, const uint8_t *addr, unsigned len,
    unsigned plen)
{
	struct kd_key	 k;
	int		 fd, rv;

	if ((fd = kd_key(kd->ban, addr, len, plen, &k)) < 0)
		return -EINVAL;
	rv = kd_map_op(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0);
	if (rv == 0)
		kd->entries--;
	else if (rv != -ENOENT)
		kd->errors++;
	return rv;
}

/* Whether p is among the n prefixes of v. */
static int
kd_has_prefix(const struct kdrop_prefix *v, size_t n,
    const struct kdrop_prefix *p)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].len == p->len && v[i].plen == p->plen &&
		    memcmp(v[i].addr, p->addr, p->len) == 0)
			return 1;
	return 0;
}

int
kdrop_allow(struct kdrop *kd, const struct kdrop_prefix *v, size_t n)
{
	struct kdrop_prefix	*copy = NULL;
	struct kd_key		 k;
	uint8_t			 one = 1;
	size_t			 i;
	int			 fd, rv, first = 0;

	if (n > 0 && (copy = calloc(n, sizeof(*copy))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		copy[i] = v[i];
		if ((fd = kd_key(kd->allow, v[i].addr, v[i].len, v[i].plen,
		    &k)) < 0)
			rv = -EINVAL;
		else
			rv = kd_map_op(BPF_MAP_UPDATE_ELEM, fd, &k, &one,
			    BPF_ANY);
		if (rv < 0 && first == 0)
			first = rv;
	}
	for (i = 0; i < kd->nallowed; i++) {
		if (kd_has_prefix(v, n, &kd->allowed[i]) ||
		    (fd = kd_key(kd->allow, kd->allowed[i].addr,
		    kd->allowed[i].len, kd->allowed[i].plen, &k)) < 0)
			continue;
		kd_map_op(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0);
	}
	free(kd->allowed);
	kd->allowed = copy;
	kd->nallowed = n;
	return first;
}

size_t
kdrop_entries(const struct kdrop *kd)
{
	return kd->entries;
}

uint64_t
kdrop_drops(const struct kdrop *kd)
{
	uint64_t	*v, sum = 0;
	uint32_t	 zero = 0;
	unsigned	 i;

	if ((v = calloc(kd->ncpus, sizeof(*v))) == NULL)
		return 0;
	if (kd_map_op(BPF_MAP_LOOKUP_ELEM, kd->drops, &zero, v, 0) == 0)
		for (i = 0; i < kd->ncpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

uint64_t
kdrop_errors(const struct kdrop *kd)
{
	return kd->errors;
}
