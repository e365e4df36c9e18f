// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpwatch: account for every frame, log IP sources to a per-CPU ring, count
 * per source, drop blocked ranges. Everything else passes untouched: a frame
 * this program cannot parse is counted as malformed and passed, never dropped.
 *
 * The default configuration (log every packet) is the fast path, held by
 * `xdpwatch bench` to a reference doing the same job with the least code
 * (bpf/minimal.c). Parsers write the record's fields straight from the frame
 * into the ring slot as they go; what only a feature needs (the source key of
 * block, --src and top) is built in that feature's branch. The path is
 * compiled twice, with and without feature code, and the verifier keeps the
 * copy the configuration in .rodata takes: the default one tests no flag.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdpwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct xw_config xw_cfg = {
	.ring_shift = XW_RING_SHIFT_DEFAULT,
	.ring_mask = (1 << XW_RING_SHIFT_DEFAULT) - 1,
};

/* Counters and tries carry no key/value BTF on purpose: bpftool then prints
 * raw bytes, which are exact (BTF-formatted JSON turns u64 counters into
 * doubles). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xw_stats));
} xw_stats SEC(".maps");

/* The one map with BTF for its value: the reader parses bpftool's compact
 * formatting of u32[] pages. Sized here for one CPU; userspace rewrites
 * max_entries in the object for the machine's CPUs before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << XW_RING_SHIFT_DEFAULT);
	__type(key, __u32);
	__type(value, struct xw_page);
} xw_ring SEC(".maps");

/* Declared with the largest key; userspace sets key_size for --by at load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XW_SOURCES_MAX);
	__uint(key_size, sizeof(union xw_source_key));
	__uint(value_size, sizeof(struct xw_source_value));
} xw_sources SEC(".maps");

/* Source ranges: --block drops them, --src logs only them. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XW_CIDRS_MAX);
	__uint(key_size, sizeof(struct xw_cidr_key));
	__uint(value_size, sizeof(__u8));
	__uint(map_flags, BPF_F_NO_PREALLOC);
} xw_block SEC(".maps"), xw_src_filter SEC(".maps");

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Features that look the source up in a map, and so need its key. */
#define XW_F_NEED_KEY (XW_F_BLOCK | XW_F_SRC_FILTER | XW_F_SOURCES)
/* Features that may reject a packet after its ports are known: matches(). */
#define XW_F_FILTERS (XW_F_MATCH_EXPR | XW_F_SRC_FILTER | XW_F_PROTO_FILTER | XW_F_PORT_FILTER)
/* Features that run the translated tcpdump expressions. */
#define XW_F_EXPRS (XW_F_MATCH_EXPR | XW_F_DROP_EXPR)

/* Not linux/if_ether.h's packed struct: this one is 2-byte aligned, so the
 * ethertype is one 16-bit load rather than two byte loads and a shift. */
struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Returns the ethertype after the VLAN tags (network order), or -1 when a
 * tag is cut short. Sets the record's vlan to the outermost tag's id. */
static __always_inline int parse_vlans(void **pos, void *data_end, struct xw_record *r, __be16 proto)
{
	/* The verifier needs a bounded loop; deeper stacks than QinQ are left
	 * as "not IP" rather than parsed. */
#pragma unroll
	for (int i = 0; i < XW_VLAN_MAX_DEPTH; i++) {
		struct vlan_hdr *vh = *pos;

		if (!proto_is_vlan(proto))
			break;
		if (unlikely((void *)(vh + 1) > data_end))
			return -1;
		if (i == 0)
			r->vlan = (bpf_ntohs(vh->tci) & 0x0fff) | XW_VLAN_TAGGED;
		proto = vh->encap_proto;
		*pos = vh + 1;
	}
	return proto;
}

/* Each parser writes the address, protocol and family into the record, moves
 * *pos past its header and returns the protocol whose ports are to be read
 * there (0 for a non-first fragment, whose payload has no L4 header), or -1
 * when the header is cut short or lies about itself. */
static __always_inline int parse_ipv4(void **pos, void *data_end, struct xw_record *r)
{
	struct iphdr *iph = *pos;
	__u64 vihl;

	if (unlikely((void *)(iph + 1) > data_end))
		return -1;
	/* Version 4, IHL 5: the header just checked, and the ports at a fixed
	 * offset (no load on the way to them). Options are rare. */
	vihl = *(__u8 *)iph;
	if (likely(vihl == 0x45)) {
		*pos = iph + 1;
	} else {
		/* Version 4 and IHL 6..15 in one unsigned comparison. */
		if (unlikely(vihl - 0x46 > 0x4f - 0x46))
			return -1;
		*pos += (vihl & 0x0f) * 4;
		if (unlikely(*pos > data_end))
			return -1;
	}

	/* Source and destination lie side by side in both: one 8-byte copy. */
	*(__u64 *)&r->addr[0] = *(__u64 *)&iph->saddr;
	*(__u64 *)&r->addr[2] = 0;
	r->proto = iph->protocol;
	r->family = XW_FAMILY_IPV4;
	if (iph->frag_off & bpf_htons(0x1fff))
		return 0;
	return iph->protocol;
}

/* Extension headers are not walked: the protocol is the first next-header
 * value, and ports are read only when it is TCP or UDP. The destination goes
 * into the next slot (r + 1: the page's spare slot when r is its last), which
 * the head passes only if the packet is logged. */
static __always_inline int parse_ipv6(void **pos, void *data_end, struct xw_record *r)
{
	struct ipv6hdr *ip6h = *pos;

	if (unlikely((void *)(ip6h + 1) > data_end))
		return -1;
	if (unlikely(ip6h->version != 6))
		return -1;
	*pos = ip6h + 1;

	__builtin_memcpy(r->addr, &ip6h->saddr, sizeof(r->addr));
	r->proto = ip6h->nexthdr;
	r->family = XW_FAMILY_IPV6;
	r[1].seq = r->seq + 1;
	r[1].family = XW_FAMILY_IPV6_TAIL;
	__builtin_memcpy(r[1].addr, &ip6h->daddr, sizeof(r->addr));
	return ip6h->nexthdr;
}

#define XW_L4_NOT_IP (-2)

/* The parser for the ethertype (network order), or XW_L4_NOT_IP. */
static __always_inline int parse_ip(int proto, void **pos, void *data_end, struct xw_record *r)
{
	if (likely(proto == bpf_htons(ETH_P_IP)))
		return parse_ipv4(pos, data_end, r);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(pos, data_end, r);
	return XW_L4_NOT_IP;
}

/* Ports of TCP and UDP, TCP's flags, ICMP's type and code, each written as
 * one store of both fields. Returns -1 when that header is cut short. ICMP
 * and ICMPv6 are told by their number alone, in either family: a test of the
 * family would cost every frame for frames no stack sends. */
static __always_inline int parse_l4(void *pos, void *data_end, struct xw_record *r, int proto)
{
	__u8 *l4 = pos;

	if (proto == IPPROTO_UDP) {
		if (unlikely(pos + sizeof(struct udphdr) > data_end))
			return -1;
		*(__u32 *)&r->sport = *(__u32 *)l4; /* both ports, as they lie */
		/* flags and code: the zeros count_frame wrote */
	} else if (proto == IPPROTO_TCP) {
		if (unlikely(pos + sizeof(struct tcphdr) > data_end))
			return -1;
		*(__u32 *)&r->sport = *(__u32 *)l4;
		*(__u16 *)&r->flags = l4[13]; /* and code 0 */
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (unlikely(pos + 2 > data_end))
			return -1;
		*(__u32 *)&r->sport = 0;
		*(__u16 *)&r->flags = *(__u16 *)l4; /* type, code */
	} else {
		/* Code XW_CODE_NO_L4: no L4 header was read (a non-first
		 * fragment is protocol 0 here), whatever the protocol. */
		*(__u32 *)&r->sport = 0;
		*(__u16 *)&r->flags = XW_CODE_NO_L4 << 8;
	}
	return 0;
}

/* Source addresses as the tries and xw_sources key them: IPv4 mapped into IPv6. */
static __always_inline void source_key(struct xw_cidr_key *k, const struct xw_record *r)
{
	k->prefixlen = 128;
	/* Read back from the record: clang would else carry the family from
	 * the parsers in a register, on the fast path too. */
	if (*(volatile const __u8 *)&r->family == XW_FAMILY_IPV4) {
		k->addr[0] = 0;
		k->addr[1] = 0;
		k->addr[2] = bpf_htonl(0xffff);
		k->addr[3] = r->addr[0];
	} else {
		__builtin_memcpy(k->addr, r->addr, sizeof(k->addr));
	}
}

static __always_inline int blocked(const struct xw_record *r, struct xw_cidr_key *key)
{
	source_key(key, r);
	return bpf_map_lookup_elem(&xw_block, key) != NULL;
}

static __always_inline int port_allowed(__be16 port_be)
{
	__u16 port = bpf_ntohs(port_be);

	return (xw_cfg.ports[port >> 6] >> (port & 63)) & 1;
}

/*
 * Where userspace writes tcpdump expressions at load, translated to eBPF
 * (src/bpf/cbpf.ts): no compiler on the server. XW_EXPR_INSNS `goto +0`s,
 * which the verifier removes, between fixed registers: the code reads the
 * frame from r1 to r2, keeps classic BPF's scratch words at r5 and leaves in
 * r0 the XW_F_*_EXPR bits of the expressions that match. Inline, not a
 * subprogram: a bpf-to-bpf call costs ~6 ns on CPUs whose return mitigation
 * (SRSO "safe RET") makes every `ret` slow.
 */
#define XW_STR_(x) #x
#define XW_STR(x) XW_STR_(x)
static __always_inline __u32 xw_expr(void *data, void *data_end, __u32 *scratch)
{
	__u32 match;

	asm volatile("r1 = %[data]\n\tr2 = %[end]\n\tr5 = %[scratch]\n\t"
		     ".rept " XW_STR(XW_EXPR_INSNS) "\n\tgoto +0\n\t.endr\n\t%[match] = r0"
		     : [match] "=r"(match)
		     : [data] "r"(data), [end] "r"(data_end), [scratch] "r"(scratch)
		     : "r0", "r1", "r2", "r3", "r4", "r5", "memory");
	return match;
}

/* The filters of watch and top (a tcpdump expression, --src, --proto,
 * --port), each behind its own flag. A new step goes here, behind a flag of
 * its own added to XW_F_FILTERS: set, it sends frames to the feature copy of
 * the path; clear, the verifier removes the step. */
static __always_inline int matches(const struct xw_record *r, struct xw_cidr_key *key, __u32 expr)
{
	if ((xw_cfg.flags & XW_F_MATCH_EXPR) && !(expr & XW_F_MATCH_EXPR))
		return 0;
	if ((xw_cfg.flags & XW_F_SRC_FILTER) && !bpf_map_lookup_elem(&xw_src_filter, key))
		return 0;
	if ((xw_cfg.flags & XW_F_PROTO_FILTER) && !((xw_cfg.protos[r->proto >> 3] >> (r->proto & 7)) & 1))
		return 0;
	if ((xw_cfg.flags & XW_F_PORT_FILTER) &&
	    !((r->sport || r->dport) && (port_allowed(r->sport) || port_allowed(r->dport))))
		return 0;
	return 1;
}

/* The destination address, mapped as source_key maps the source, read from
 * the IP header at l3 (the record holds no destination). Returns -1 when the
 * header is not there, which the parsers have already ruled out: the check
 * is for the verifier, the pointer having been kept across helper calls. */
static __always_inline int dest_addr(__u32 addr[4], const struct xw_record *r, void *l3, void *data_end)
{
	if (*(volatile const __u8 *)&r->family == XW_FAMILY_IPV4) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > data_end)
			return -1;
		addr[0] = 0;
		addr[1] = 0;
		addr[2] = bpf_htonl(0xffff);
		addr[3] = iph->daddr;
	} else {
		struct ipv6hdr *ip6h = l3;

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		__builtin_memcpy(addr, &ip6h->daddr, 4 * sizeof(__u32));
	}
	return 0;
}

/* --by src/N, dst/N: the mapped IPv4 address keeps its ::ffff: prefix and
 * cuts only its last word; an IPv6 one cuts all four. */
static __always_inline void cut_to_prefix(__u32 addr[4], const struct xw_record *r)
{
	if (*(volatile const __u8 *)&r->family == XW_FAMILY_IPV4) {
		addr[3] &= xw_cfg.mask4;
	} else {
		addr[0] &= xw_cfg.mask6[0];
		addr[1] &= xw_cfg.mask6[1];
		addr[2] &= xw_cfg.mask6[2];
		addr[3] &= xw_cfg.mask6[3];
	}
}

/* The destination part of ck for --by dst and flow, written while the IP
 * header's position is at hand: kept in a register across the helper calls
 * of --block and the filters instead, it would cost spills on every --by. */
static __always_inline int count_key_dst(union xw_source_key *ck, const struct xw_record *r, void *l3, void *data_end)
{
	if (xw_cfg.by == XW_BY_DST) {
		if (dest_addr(ck->addr, r, l3, data_end))
			return -1;
		if (xw_cfg.by_masked)
			cut_to_prefix(ck->addr, r);
	} else if (xw_cfg.by == XW_BY_FLOW) {
		return dest_addr(ck->flow.dst, r, l3, data_end);
	}
	return 0;
}

/* Completes the key --by asks for in ck (count_key_dst wrote any destination)
 * and returns it. xw_cfg.by is a constant to the verifier: only one kind's
 * code is kept. --by src, unprefixed, is the source key already built, not a
 * copy. */
static __always_inline void *count_key(union xw_source_key *ck, struct xw_cidr_key *key, const struct xw_record *r)
{
	switch (xw_cfg.by) {
	case XW_BY_SRC:
		if (!xw_cfg.by_masked)
			return key->addr;
		__builtin_memcpy(ck->addr, key->addr, sizeof(ck->addr));
		cut_to_prefix(ck->addr, r);
		return ck;
	case XW_BY_DST:
		return ck;
	case XW_BY_SPORT:
		ck->port = r->sport;
		return ck;
	case XW_BY_DPORT:
		ck->port = r->dport;
		return ck;
	case XW_BY_PROTO:
		ck->proto = r->proto;
		return ck;
	default: /* XW_BY_FLOW */
		__builtin_memcpy(ck->flow.src, key->addr, sizeof(ck->flow.src));
		ck->flow.sport = r->sport;
		ck->flow.dport = r->dport;
		/* proto and the padding in one word: the padding is key too. */
		*(__u32 *)&ck->flow.proto = r->proto;
		return ck;
	}
}

/* Exact counts per key: per-CPU values need no atomics, and a lost insert
 * race (another CPU added the key first) falls back to that CPU's new entry. */
static __always_inline void count_source(void *ck, __u64 len, struct xw_stats *stats)
{
	struct xw_source_value *v = bpf_map_lookup_elem(&xw_sources, ck);

	if (!v) {
		struct xw_source_value init = { .packets = 1, .bytes = len };

		if (!bpf_map_update_elem(&xw_sources, ck, &init, BPF_NOEXIST)) {
			stats->new_sources++;
			return;
		}
		v = bpf_map_lookup_elem(&xw_sources, ck);
		if (!v)
			return;
	}
	v->packets++;
	v->bytes += len;
}

/* The ring slot the next logged record goes to, or NULL when this CPU has no
 * ring. Parsers fill it whether or not the packet will be logged (top and
 * the filters too: one place to write, and no second copy of the fields):
 * the reader never trusts the slot at the head, which may be half written,
 * and the head moves only once a record is whole. */
static __always_inline struct xw_record *ring_slot(struct xw_stats *stats)
{
	/* In this order, nothing but stats has to outlive a helper call. */
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 head = stats->ring_head;
	__u32 page_idx = (cpu << xw_cfg.ring_shift) | ((head >> XW_PAGE_SHIFT) & xw_cfg.ring_mask);
	struct xw_page *page = bpf_map_lookup_elem(&xw_ring, &page_idx);
	struct xw_record *r;

	if (unlikely(!page))
		return NULL;
	/* Read again rather than kept across the call: a register less. */
	head = stats->ring_head;
	r = (struct xw_record *)page + (head & (XW_PAGE_RECORDS - 1));
	r->seq = (__u32)head;
	return r;
}

/*
 * Parses one frame into the record r and counts its outcome, at the one
 * exit. `features` and `logged` are constants at each call: clang compiles
 * a copy with no feature code at all for the default configuration (the
 * verifier drops the copy the loaded configuration does not take), and a
 * copy for a CPU without a ring, which parses into a scratch record so that
 * its frames get the outcome they would have had, no_ring for logged.
 */
static __always_inline int count_frame(struct xdp_md *ctx, struct xw_stats *stats, struct xw_record *r,
				       const int features, const __u32 logged, __u32 expr)
{
	void *data, *data_end, *pos, *l3;
	struct eth_hdr *eth;
	__u64 len;
	__u32 outcome;
	struct xw_cidr_key key;
	union xw_source_key ck;
	int proto, l4;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	len = data_end - data;
	stats->bytes += len;
	r->len = len;

	eth = data;
	pos = eth + 1;
	if (unlikely(pos > data_end))
		goto malformed;
	/* No tag, and no flags or code for UDP: one store for the three. */
	*(__u32 *)&r->vlan = 0;
	/* Kept for --by dst and flow only: dead code elsewhere. */
	l3 = pos;
	l4 = parse_ip(eth->proto, &pos, data_end, r);
	if (unlikely(l4 == XW_L4_NOT_IP)) {
		/* VLAN tags come second: untagged IP tests its ethertype once. */
		proto = parse_vlans(&pos, data_end, r, eth->proto);
		if (unlikely(proto < 0))
			goto malformed;
		l3 = pos;
		l4 = parse_ip(proto, &pos, data_end, r);
		if (l4 == XW_L4_NOT_IP)
			goto not_ip;
	}
	if (unlikely(l4 < 0))
		goto malformed;

	if (unlikely(parse_l4(pos, data_end, r, l4) < 0)) {
		/* A blocked source must not get through by cutting its L4
		 * header short (a tiny first fragment). */
		if (features && (xw_cfg.flags & XW_F_BLOCK) && blocked(r, &key)) {
			outcome = XW_BLOCKED;
			goto out;
		}
		goto malformed;
	}
	/* From here on, only the record and the key: the parser's state is
	 * dead before the first helper call. Each feature is removed by the
	 * verifier when off. A new filter step goes into matches(). */
	if (features) {
		/* No XW_F_SOURCES test: by is XW_BY_SRC unless top asked for another. */
		if (count_key_dst(&ck, r, l3, data_end))
			goto malformed;
		if (xw_cfg.flags & XW_F_NEED_KEY)
			source_key(&key, r);
		if ((xw_cfg.flags & XW_F_BLOCK) && bpf_map_lookup_elem(&xw_block, &key)) {
			outcome = XW_BLOCKED;
			goto out;
		}
		if ((xw_cfg.flags & XW_F_FILTERS) && !matches(r, &key, expr)) {
			outcome = XW_FILTERED;
			goto out;
		}
		if (xw_cfg.flags & XW_F_SOURCES)
			count_source(count_key(&ck, &key, r), len, stats);
		if (!(xw_cfg.flags & XW_F_LOG)) {
			outcome = XW_COUNTED;
			goto out;
		}
		if ((xw_cfg.flags & XW_F_SAMPLE) &&
		    (stats->outcome[XW_LOGGED] + stats->outcome[XW_SAMPLED_OUT]) % xw_cfg.sample) {
			outcome = XW_SAMPLED_OUT;
			goto out;
		}
	}
	/* One slot for IPv4, two for IPv6: family 4 or 6, read back from the slot. */
	if (logged == XW_LOGGED)
		stats->ring_head += (*(volatile __u8 *)&r->family >> 1) - 1;
	outcome = logged;
out:
	/* stats in a register of its own: clang would else keep the address
	 * of its outcome array apart from the start of the program. */
	asm volatile("" : "+r"(stats));
	stats->outcome[outcome & (XW_OUTCOMES - 1)]++;
	return outcome == XW_BLOCKED ? XDP_DROP : XDP_PASS;

	/* Blocks of their own, which clang cannot merge into the exit: else it
	 * sets the outcome (and the return value) before every test that may
	 * end here, on the fast path too. */
not_ip:
	asm volatile("");
	outcome = XW_NOT_IP;
	goto out;
malformed:
	asm volatile("");
	outcome = XW_MALFORMED;
	goto out;
}

static __always_inline int handle(struct xdp_md *ctx, const int features)
{
	__u32 key0 = 0;
	struct xw_stats *stats = bpf_map_lookup_elem(&xw_stats, &key0);
	struct xw_record scratch[2], *r; /* IPv6 takes two slots */
	/* What xw_expr returned: a constant 0 in the default copy, where it costs nothing. */
	__u32 expr = 0;

	/* An array lookup of key 0 cannot fail; the verifier still wants the check. */
	if (!stats)
		return XDP_PASS;
	stats->seen++;
	/* Expressions see every frame as tcpdump would, before this program's own
	 * parsing can set a frame aside as malformed or not IP. Here, once: the
	 * placeholder must appear once in the program for userspace to patch. */
	if (features && (xw_cfg.flags & XW_F_EXPRS)) {
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		__u32 expr_scratch[XW_EXPR_SCRATCH_WORDS];

		expr = xw_expr(data, data_end, expr_scratch);
		if (expr & XW_F_DROP_EXPR) {
			stats->bytes += data_end - data;
			stats->outcome[XW_BLOCKED]++;
			return XDP_DROP;
		}
	}
	r = ring_slot(stats);
	/* Userspace sizes the ring for every possible CPU: only an object
	 * loaded with a smaller ring takes this branch. */
	if (unlikely(!r))
		return count_frame(ctx, stats, scratch, features, XW_NO_RING, expr);
	return count_frame(ctx, stats, r, features, XW_LOGGED, expr);
}

SEC("xdp")
int xdpwatch(struct xdp_md *ctx)
{
	/* The default configuration: log every packet, nothing else. */
	if (likely(xw_cfg.flags == XW_F_LOG))
		return handle(ctx, 0);
	return handle(ctx, 1);
}
