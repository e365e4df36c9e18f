/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Layouts and constants shared by the XDP program and the userspace decoder.
 * src/bpf/layout.ts mirrors this file; test/bpf/layout.test.ts compiles it
 * and fails when the two disagree.
 */
#ifndef XDPWATCH_H
#define XDPWATCH_H

#include <linux/types.h>

/* Each CPU owns a ring of pages of XW_PAGE_RECORDS records: entries
 * [cpu << ring_shift, (cpu + 1) << ring_shift) of xw_ring, a plain array that
 * userspace creates for the machine's CPU count and memory. A plain array, not
 * a per-CPU one, because a per-CPU lookup returns every CPU's copy; pages,
 * because the reader then fetches many records with one lookup: bpftool spends
 * ~25 us on every lookup before it prints a word, so pages are large. */
#define XW_PAGE_SHIFT 9
#define XW_PAGE_RECORDS (1 << XW_PAGE_SHIFT)
#define XW_RING_SHIFT_DEFAULT 5 /* 32 pages, 16,384 records, when nobody says */

#define XW_SOURCES_MAX 16384
#define XW_CIDRS_MAX 1024
#define XW_VLAN_MAX_DEPTH 2

/* Every frame the program runs on ends in exactly one outcome. */
enum xw_outcome {
	XW_LOGGED = 0,      /* written to the ring */
	XW_SAMPLED_OUT = 1, /* matched the filters, skipped by --sample */
	XW_COUNTED = 2,     /* matched the filters, logging off (top) */
	XW_FILTERED = 3,    /* IP, but outside --src/--proto/--port */
	XW_BLOCKED = 4,     /* source in a --block range: XDP_DROP */
	XW_NOT_IP = 5,      /* well-formed, neither IPv4 nor IPv6 */
	XW_MALFORMED = 6,   /* truncated or inconsistent headers */
	XW_NO_RING = 7,     /* would have been logged, but this CPU has no ring
			     * region (the ring was sized for fewer CPUs) */
	XW_OUTCOMES = 8, /* a power of two: the program indexes with & (N - 1) */
};

/* Per-CPU counters. `seen` is counted on entry, independently of the
 * outcomes, so that userspace can check that they add up. */
struct xw_stats {
	__u64 seen;
	__u64 outcome[XW_OUTCOMES];
	__u64 bytes;      /* frame bytes of everything seen */
	__u64 new_sources;/* inserts into xw_sources; minus live entries = evicted */
	__u64 ring_head;  /* slots taken in this CPU's ring: the next record's
			   * position (outcome[XW_LOGGED] counts records) */
};

#define XW_FAMILY_IPV4 4
#define XW_FAMILY_IPV6 6
/* The second slot of an IPv6 record: its `family` byte. */
#define XW_FAMILY_IPV6_TAIL 0x16

/* ICMP codes are small: this one says that no L4 header was read. */
#define XW_CODE_NO_L4 0xff

/* In `vlan`: a tag was there (its id, 0 included, in the low 12 bits). */
#define XW_VLAN_TAGGED 0x1000

/*
 * One logged packet: one 32-byte slot for IPv4, two consecutive ones for IPv6
 * (the second, family XW_FAMILY_IPV6_TAIL, holds the destination), so that
 * IPv4 records cost bpftool and the reader half what IPv6 ones do. The first
 * 16 bytes are the same for both families: the parsers write them without
 * testing the family again. `seq` is the slot's position in its CPU's ring
 * (low 32 bits), written before the other fields: the reader checks it
 * against the position it expects, a second guard besides re-reading the
 * head. A record at a page's last slot puts its tail in the page's spare slot
 * (XW_PAGE_SLOTS), so that one page lookup always holds whole records.
 */
struct xw_record {
	__u32 seq;
	__u16 len;       /* frame length in bytes */
	__u8 proto;      /* IP protocol number (IPv6: the first header after fixed) */
	__u8 family;     /* XW_FAMILY_* */
	__u16 sport;     /* network byte order; 0 unless TCP/UDP */
	__u16 dport;
	__u16 vlan;      /* outermost tag: XW_VLAN_TAGGED | id; 0 when untagged */
	__u8 flags;      /* TCP flags (header byte 13); ICMP/ICMPv6 type */
	__u8 code;       /* ICMP/ICMPv6 code; XW_CODE_NO_L4 when the L4 header
			  * was not read (a non-first fragment) */
	__u32 addr[4];   /* network byte order. IPv4: source, destination, 0, 0;
			  * IPv6: source, and in the tail slot the destination */
};

/* A page of records as the map declares it: plain words, so that bpftool
 * prints it as one compact array of numbers. 128-bit words: bpftool prints
 * each as one hex number, with a quarter of the calls u32 words take. */
#define XW_RECORD_WORDS (sizeof(struct xw_record) / sizeof(__u32))
#define XW_PAGE_SLOTS (XW_PAGE_RECORDS + 1)

struct xw_page {
	unsigned __int128 words[XW_PAGE_SLOTS * sizeof(struct xw_record) / 16];
};

/* Configuration, fixed when the program is loaded: userspace writes it into the
 * object's .rodata before loading, so the verifier sees constants and drops
 * the code of every feature that is off. */
#define XW_F_LOG (1U << 0)          /* write records to the ring */
#define XW_F_SOURCES (1U << 1)      /* count per source (top) */
#define XW_F_BLOCK (1U << 2)        /* consult xw_block */
#define XW_F_SRC_FILTER (1U << 3)   /* consult xw_src_filter */
#define XW_F_PROTO_FILTER (1U << 4) /* consult protos[] */
#define XW_F_PORT_FILTER (1U << 5)  /* consult ports[] */
#define XW_F_SAMPLE (1U << 6)       /* sample > 1: flags alone tell the default */
#define XW_F_MATCH_EXPR (1U << 7)   /* xw_expr: a tcpdump expression selects */
#define XW_F_DROP_EXPR (1U << 8)    /* xw_expr: a --drop expression drops */

/* Instructions reserved in the program for tcpdump expressions, which
 * userspace overwrites with their translation (src/bpf/cbpf.ts); it leaves
 * the flag bits above of the expressions that match. The translation keeps
 * classic BPF's 16 scratch words and its result in XW_EXPR_SCRATCH_WORDS
 * words of the program's stack. */
#define XW_EXPR_INSNS 4096
#define XW_EXPR_SCRATCH_WORDS 17

struct xw_config {
	__u32 flags;
	__u32 sample;      /* log one in `sample` matching packets; 0 and 1 log all */
	__u32 ring_shift;  /* log2 of ring pages per CPU */
	__u32 ring_mask;   /* (1 << ring_shift) - 1: one load, no arithmetic */
	__u8 protos[32];   /* bitmap of allowed IP protocol numbers */
	__u64 ports[1024]; /* bitmap of allowed ports, source or destination */
	__u32 by;          /* XW_BY_*: the key XW_F_SOURCES counts per */
	__u32 by_masked;   /* XW_BY_SRC, XW_BY_DST: 1 cuts the address to a prefix */
	__be32 mask4;      /* the IPv4 prefix as a mask over the address */
	__be32 mask6[4];   /* the IPv6 prefix, over the 128 bits */
};

/* What top (and attach --sources) counts per: --by. */
enum xw_by {
	XW_BY_SRC = 0, /* the default: today's source address */
	XW_BY_DST = 1,
	XW_BY_SPORT = 2,
	XW_BY_DPORT = 3,
	XW_BY_PROTO = 4,
	XW_BY_FLOW = 5,
};

/* The 5-tuple of --by flow. Addresses as in xw_source_key. */
struct xw_flow_key {
	__u32 src[4];
	__u32 dst[4];
	__be16 sport; /* 0 without ports (not TCP/UDP, a later fragment) */
	__be16 dport;
	__u8 proto;
	__u8 _pad[3]; /* zero: part of the key */
};

/* Keys of xw_sources, one kind per program: userspace sets the map's
 * key_size to the kind's size at load (XW_KEY_SIZE_*), so a source key
 * hashes 16 bytes, a port 2, as if the map had been declared for it alone.
 * Addresses are IPv4-mapped IPv6, so one map holds both families. */
union xw_source_key {
	__u32 addr[4];           /* XW_BY_SRC, XW_BY_DST: cut to the prefix */
	__be16 port;             /* XW_BY_SPORT, XW_BY_DPORT */
	__u8 proto;              /* XW_BY_PROTO */
	struct xw_flow_key flow; /* XW_BY_FLOW */
};

#define XW_KEY_SIZE_ADDR 16
#define XW_KEY_SIZE_PORT 2
#define XW_KEY_SIZE_PROTO 1
#define XW_KEY_SIZE_FLOW 40 /* sizeof(union xw_source_key), the declared size */

struct xw_source_value {
	__u64 packets;
	__u64 bytes;
};

struct xw_cidr_key {
	__u32 prefixlen; /* over the mapped 128-bit address */
	__u32 addr[4];
};

#endif /* XDPWATCH_H */
