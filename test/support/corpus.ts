/** Hand-made frames, malformed in every way the parser must survive, with the outcome each must get. */
import type { Outcome } from "../../src/bpf/layout";
import { arpFrame, ipv4Frame, ipv6Frame } from "./frames";

export const v4 = ipv4Frame({ src: "198.18.4.5", proto: "udp" });
export const ETH = 14;

export const HAND: [string, Uint8Array, Outcome][] = [
  ["IPv4 UDP", v4, "logged"],
  ["Ethernet header only, IPv4 ethertype", v4.slice(0, ETH), "malformed"],
  ["IPv4 header cut short", v4.slice(0, ETH + 12), "malformed"],
  ["IPv4 IHL 4", Uint8Array.from(v4, (b, i) => (i === ETH ? 0x44 : b)), "malformed"],
  ["IPv4 IHL 15, past the frame", Uint8Array.from(v4, (b, i) => (i === ETH ? 0x4f : b)), "malformed"],
  ["IPv4 ethertype, version 6", Uint8Array.from(v4, (b, i) => (i === ETH ? 0x65 : b)), "malformed"],
  ["IPv4 with options (IHL 6)", new Uint8Array([...v4.slice(0, ETH), 0x46, ...v4.slice(ETH + 1, ETH + 20), 1, 1, 1, 1, ...v4.slice(ETH + 20)]), "logged"],
  ["UDP header cut short", v4.slice(0, ETH + 20 + 4), "malformed"],
  ["TCP header cut short", ipv4Frame({ src: "198.18.4.5", proto: "tcp" }).slice(0, ETH + 20 + 10), "malformed"],
  ["IPv4 non-first fragment, no L4 header", (() => {
    const f = ipv4Frame({ src: "198.18.4.5", proto: "udp" }).slice(0, ETH + 20);
    f[ETH + 6] = 0x00;
    f[ETH + 7] = 0x10;
    return f;
  })(), "logged"],
  ["ICMP", ipv4Frame({ src: "198.18.4.5", proto: "icmp" }), "logged"],
  ["IPv6 UDP", ipv6Frame({ src: "2001:db8::1" }), "logged"],
  ["IPv6 header cut short", ipv6Frame({ src: "2001:db8::1" }).slice(0, ETH + 30), "malformed"],
  ["IPv6 ethertype, version 4", Uint8Array.from(ipv6Frame({ src: "2001:db8::1" }), (b, i) => (i === ETH ? 0x40 : b)), "malformed"],
  ["IPv6 hop-by-hop header first", ipv6Frame({ src: "2001:db8::1", proto: 0 }), "logged"],
  ["802.1Q IPv4", ipv4Frame({ src: "198.18.4.5", vlans: [10] }), "logged"],
  ["802.1ad + 802.1Q IPv6", ipv6Frame({ src: "2001:db8::1", vlans: [10, 20] }), "logged"],
  ["VLAN tag cut short", ipv4Frame({ src: "198.18.4.5", vlans: [10] }).slice(0, ETH + 2), "malformed"],
  ["second VLAN tag cut short", ipv4Frame({ src: "198.18.4.5", vlans: [10, 20] }).slice(0, ETH + 4 + 2), "malformed"],
  ["three VLAN tags", new Uint8Array([...v4.slice(0, 12), 0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0, ...v4.slice(ETH)]), "not_ip"],
  ["ARP", arpFrame(), "not_ip"],
  ["unknown ethertype", Uint8Array.from(v4, (b, i) => (i === 12 ? 0x88 : i === 13 ? 0xb5 : b)), "not_ip"],
  ["blocked IPv4 source", ipv4Frame({ src: "198.18.3.5" }), "blocked"],
  ["blocked IPv6 source", ipv6Frame({ src: "2001:db8:bad::9" }), "blocked"],
  ["blocked source, UDP header cut short (a tiny fragment)", ipv4Frame({ src: "198.18.3.5" }).slice(0, ETH + 20 + 4), "blocked"],
  ["blocked source, TCP header cut short", ipv6Frame({ src: "2001:db8:bad::9", proto: "tcp" }).slice(0, ETH + 40 + 6), "blocked"],
];

