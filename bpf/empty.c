// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The baseline for `xdpwatch bench`: an XDP program that does nothing but
 * pass the frame, so the cost of running any program at all can be taken
 * out of xdpwatch's figures.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdpwatch_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}
