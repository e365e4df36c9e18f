// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reference for `xdpwatch bench`: the least code that does xdpwatch's
 * job on a well-formed frame. Parse Ethernet, IPv4 or IPv6, TCP or UDP ports,
 * TCP flags, ICMP type and code; count seen, bytes and the outcome per CPU;
 * store the record in the same page ring and layout as xdpwatch (one 32-byte
 * slot for IPv4, two for IPv6). No VLAN tags, no IHL or version checks, no
 * fragments, no configuration: what xdpwatch adds over this is the price of
 * its features and of its care with bad frames.
 *
 * Maps are named like xdpwatch's so that the bench sizes the ring the same
 * way (one region of 1 << MINIMAL_RING_SHIFT pages per CPU).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdpwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The smallest ring xdpwatch itself uses (RING_SHIFT_MIN in src/xdp/program.ts). */
#define MINIMAL_RING_SHIFT 3

/* As in xdpwatch.c: 2-byte aligned, so the ethertype is one 16-bit load. */
struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xw_stats));
} xw_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << MINIMAL_RING_SHIFT);
	__type(key, __u32);
	__type(value, struct xw_page);
} xw_ring SEC(".maps");

SEC("xdp")
int xdpwatch_minimal(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct eth_hdr *eth = data;
	__u8 *l4;
	struct xw_stats *stats;
	struct xw_page *page;
	struct xw_record *r;
	__u32 key = 0, page_idx, outcome = XW_MALFORMED, proto, slots;
	__u64 head;

	stats = bpf_map_lookup_elem(&xw_stats, &key);
	if (!stats)
		return XDP_PASS;
	stats->seen++;
	stats->bytes += data_end - data;

	if ((void *)(eth + 1) > data_end)
		goto out;
	head = stats->ring_head;
	page_idx = (bpf_get_smp_processor_id() << MINIMAL_RING_SHIFT) |
		   ((head >> XW_PAGE_SHIFT) & ((1 << MINIMAL_RING_SHIFT) - 1));
	page = bpf_map_lookup_elem(&xw_ring, &page_idx);
	if (!page) {
		outcome = XW_NO_RING;
		goto out;
	}
	r = (struct xw_record *)page + (head & (XW_PAGE_RECORDS - 1));
	r->seq = (__u32)head;

	/* The protocol and the slots the record takes stay in registers. */
	if (eth->proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			goto out;
		l4 = (void *)(iph + 1);
		*(__u64 *)&r->addr[0] = *(__u64 *)&iph->saddr;
		*(__u64 *)&r->addr[2] = 0;
		proto = iph->protocol;
		r->proto = proto;
		r->family = XW_FAMILY_IPV4;
		slots = 1;
	} else if (eth->proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			goto out;
		l4 = (void *)(ip6h + 1);
		__builtin_memcpy(r->addr, &ip6h->saddr, sizeof(r->addr));
		proto = ip6h->nexthdr;
		r->proto = proto;
		r->family = XW_FAMILY_IPV6;
		r[1].seq = (__u32)head + 1;
		r[1].family = XW_FAMILY_IPV6_TAIL;
		__builtin_memcpy(r[1].addr, &ip6h->daddr, sizeof(r->addr));
		slots = 2;
	} else {
		outcome = XW_NOT_IP;
		goto out;
	}
	/* As xdpwatch.c's parse_l4: ports and flags, or type and code, one store each. */
	if (proto == IPPROTO_UDP) {
		if (l4 + 8 > (__u8 *)data_end)
			goto out;
		*(__u32 *)&r->sport = *(__u32 *)l4;
		*(__u16 *)&r->flags = 0;
	} else if (proto == IPPROTO_TCP) {
		if (l4 + 20 > (__u8 *)data_end)
			goto out;
		*(__u32 *)&r->sport = *(__u32 *)l4;
		*(__u16 *)&r->flags = l4[13];
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (l4 + 2 > (__u8 *)data_end)
			goto out;
		*(__u32 *)&r->sport = 0;
		*(__u16 *)&r->flags = *(__u16 *)l4;
	} else {
		*(__u32 *)&r->sport = 0;
		*(__u16 *)&r->flags = XW_CODE_NO_L4 << 8;
	}
	r->len = data_end - data;
	r->vlan = 0;
	stats->ring_head += slots;
	outcome = XW_LOGGED;
out:
	stats->outcome[outcome]++;
	return XDP_PASS;
}
