// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpwatch: account for every frame, log IP sources to a per-CPU ring, count
 * per source, drop blocked ranges. Everything else passes untouched: a frame
 * this program cannot parse is counted as malformed and passed, never dropped.
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

const volatile struct xw_config xw_cfg = { .ring_shift = XW_RING_SHIFT_DEFAULT };

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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XW_SOURCES_MAX);
	__uint(key_size, sizeof(struct xw_source_key));
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

#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif

struct hdr_cursor {
	void *pos;
};

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* What the parsers learn about one packet. */
struct flow {
	struct xw_cidr_key src; /* prefixlen 128, IPv4 mapped into IPv6 */
	__u16 sport;
	__u16 dport;
	__u16 vlan;
	__u8 proto;
	__u8 family;
};

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/* Returns the inner ethertype (network order), or -1 if the frame ends inside
 * the Ethernet header or a VLAN tag. */
static __always_inline int parse_ethhdr(struct hdr_cursor *c, void *data_end, __u16 *vlan)
{
	struct ethhdr *eth = c->pos;
	__u16 h_proto;

	if ((void *)(eth + 1) > data_end)
		return -1;
	c->pos = eth + 1;
	h_proto = eth->h_proto;

	/* The verifier needs a bounded loop; deeper stacks than QinQ are left as
	 * "not IP" rather than parsed. */
#pragma unroll
	for (int i = 0; i < XW_VLAN_MAX_DEPTH; i++) {
		struct vlan_hdr *vh = c->pos;

		if (!proto_is_vlan(h_proto))
			break;
		if ((void *)(vh + 1) > data_end)
			return -1;
		if (i == 0)
			*vlan = bpf_ntohs(vh->tci) & 0x0fff;
		h_proto = vh->encap_proto;
		c->pos = vh + 1;
	}
	return h_proto;
}

/* Returns the L4 protocol, or -1 for a header that is truncated or lies about
 * itself (IHL below 5 or past the frame, wrong version). Sets *l4 to 0 for a
 * non-first fragment, whose payload has no L4 header. */
static __always_inline int parse_iphdr(struct hdr_cursor *c, void *data_end, struct flow *f,
				       int *l4)
{
	struct iphdr *iph = c->pos;
	int hdrsize;

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4)
		return -1;
	hdrsize = iph->ihl * 4;
	if (hdrsize < (int)sizeof(*iph))
		return -1;
	if (c->pos + hdrsize > data_end)
		return -1;
	c->pos += hdrsize;

	f->family = XW_FAMILY_IPV4;
	f->src.addr[2] = bpf_htonl(0xffff);
	f->src.addr[3] = iph->saddr;
	*l4 = !(iph->frag_off & bpf_htons(0x1fff));
	return iph->protocol;
}

/* Extension headers are not walked: the protocol is the first next-header
 * value, and ports are read only when it is TCP or UDP. */
static __always_inline int parse_ipv6hdr(struct hdr_cursor *c, void *data_end, struct flow *f)
{
	struct ipv6hdr *ip6h = c->pos;

	if ((void *)(ip6h + 1) > data_end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	c->pos = ip6h + 1;

	f->family = XW_FAMILY_IPV6;
	__builtin_memcpy(f->src.addr, &ip6h->saddr, sizeof(f->src.addr));
	return ip6h->nexthdr;
}

/* Returns -1 when a TCP or UDP header is cut short. */
static __always_inline int parse_ports(struct hdr_cursor *c, void *data_end, struct flow *f)
{
	if (f->proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > data_end)
			return -1;
		f->sport = th->source;
		f->dport = th->dest;
	} else if (f->proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > data_end)
			return -1;
		f->sport = uh->source;
		f->dport = uh->dest;
	}
	return 0;
}

static __always_inline int port_allowed(__u16 port_be)
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

static __always_inline int matches_filters(struct flow *f, volatile __u8 *expr)
{
	if ((xw_cfg.flags & XW_F_MATCH_EXPR) && !(*expr & XW_F_MATCH_EXPR))
		return 0;
	if ((xw_cfg.flags & XW_F_SRC_FILTER) && !bpf_map_lookup_elem(&xw_src_filter, &f->src))
		return 0;
	if ((xw_cfg.flags & XW_F_PROTO_FILTER) && !((xw_cfg.protos[f->proto >> 3] >> (f->proto & 7)) & 1))
		return 0;
	if ((xw_cfg.flags & XW_F_PORT_FILTER) &&
	    !((f->sport || f->dport) && (port_allowed(f->sport) || port_allowed(f->dport))))
		return 0;
	return 1;
}

/* Exact per-source counts: per-CPU values need no atomics, and a lost insert
 * race (another CPU added the key first) falls back to that CPU's new entry. */
static __always_inline void count_source(struct flow *f, __u64 len, struct xw_stats *stats)
{
	struct xw_source_value *v = bpf_map_lookup_elem(&xw_sources, f->src.addr);

	if (!v) {
		struct xw_source_value init = { .packets = 1, .bytes = len };

		if (!bpf_map_update_elem(&xw_sources, f->src.addr, &init, BPF_NOEXIST)) {
			stats->new_sources++;
			return;
		}
		v = bpf_map_lookup_elem(&xw_sources, f->src.addr);
		if (!v)
			return;
	}
	v->packets++;
	v->bytes += len;
}

/* The slot is overwritten whether or not it was read: the reader re-reads the
 * head after copying and counts what was overwritten meanwhile as lost, so the
 * fast path never waits or checks. */
static __always_inline int write_record(struct xw_stats *stats, struct flow *f, __u64 len)
{
	__u64 head = stats->outcome[XW_LOGGED];
	__u32 shift = xw_cfg.ring_shift;
	__u32 page_idx = (bpf_get_smp_processor_id() << shift) |
			 ((head >> XW_PAGE_SHIFT) & ((1U << shift) - 1));
	struct xw_page *page = bpf_map_lookup_elem(&xw_ring, &page_idx);
	struct xw_record *r;

	if (!page)
		return -1;
	r = (struct xw_record *)&page->words[(head & (XW_PAGE_RECORDS - 1)) * XW_RECORD_WORDS];
	r->seq = (__u32)head;
	barrier();
	r->addr[0] = f->family == XW_FAMILY_IPV4 ? f->src.addr[3] : f->src.addr[0];
	r->addr[1] = f->family == XW_FAMILY_IPV4 ? 0 : f->src.addr[1];
	r->addr[2] = f->family == XW_FAMILY_IPV4 ? 0 : f->src.addr[2];
	r->addr[3] = f->family == XW_FAMILY_IPV4 ? 0 : f->src.addr[3];
	r->len = len;
	r->sport = f->sport;
	r->dport = f->dport;
	r->proto = f->proto;
	r->family = f->family;
	r->vlan = f->vlan;
	return 0;
}

SEC("xdp")
int xdpwatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor c = { .pos = data };
	struct flow f;
	__u64 len = data_end - data;
	__u32 key = 0, outcome = XW_MALFORMED, action = XDP_PASS;
	struct xw_stats *stats;
	int eth_proto, l4 = 1, proto;
	/* What xw_expr returned. Volatile, so that it stays on the stack instead
	 * of taking a register from the default path; written and read only when
	 * an expression is configured (the verifier then drops both). */
	volatile __u8 expr;
	__u32 expr_scratch[XW_EXPR_SCRATCH_WORDS];

	/* Field by field: a designated initializer makes clang emit a .rodata
	 * template, which would land in the configuration's map. */
	__builtin_memset(&f, 0, sizeof(f));
	f.src.prefixlen = 128;

	stats = bpf_map_lookup_elem(&xw_stats, &key);
	/* An array lookup of key 0 cannot fail; the verifier still wants the check. */
	if (!stats)
		return XDP_PASS;
	stats->seen++;
	stats->bytes += len;

	/* Expressions see every frame as tcpdump would, before this program's
	 * own parsing can set a frame aside as malformed or not IP. */
	if (xw_cfg.flags & (XW_F_MATCH_EXPR | XW_F_DROP_EXPR)) {
		expr = xw_expr(data, data_end, expr_scratch);
		if (expr & XW_F_DROP_EXPR) {
			outcome = XW_BLOCKED;
			action = XDP_DROP;
			goto out;
		}
	}

	eth_proto = parse_ethhdr(&c, data_end, &f.vlan);
	if (eth_proto < 0)
		goto out;
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&c, data_end, &f, &l4);
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ipv6hdr(&c, data_end, &f);
	} else {
		outcome = XW_NOT_IP;
		goto out;
	}
	if (proto < 0)
		goto out;
	/* Before the L4 header is parsed: a blocked source must not get through
	 * by cutting it short (a tiny first fragment). */
	if ((xw_cfg.flags & XW_F_BLOCK) && bpf_map_lookup_elem(&xw_block, &f.src)) {
		outcome = XW_BLOCKED;
		action = XDP_DROP;
		goto out;
	}
	f.proto = proto;
	if (l4 && parse_ports(&c, data_end, &f) < 0)
		goto out;

	if (!matches_filters(&f, &expr)) {
		outcome = XW_FILTERED;
		goto out;
	}
	if (xw_cfg.flags & XW_F_SOURCES)
		count_source(&f, len, stats);
	if (!(xw_cfg.flags & XW_F_LOG)) {
		outcome = XW_COUNTED;
		goto out;
	}
	if (xw_cfg.sample > 1 &&
	    (stats->outcome[XW_LOGGED] + stats->outcome[XW_SAMPLED_OUT]) % xw_cfg.sample) {
		outcome = XW_SAMPLED_OUT;
		goto out;
	}
	outcome = write_record(stats, &f, len) ? XW_NO_RING : XW_LOGGED;
out:
	stats->outcome[outcome & (XW_OUTCOMES - 1)]++;
	return action;
}
