/**
 * Hand-made Ethernet frames with exact bytes: `bench` runs the program on
 * them in the kernel, and the tests send them through a veth pair.
 */
import ipaddr from "ipaddr.js";

const HOST_MAC = [0x02, 0, 0, 0, 0, 0x02];
const PEER_MAC = [0x02, 0, 0, 0, 0, 0x01];

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;

/** Header sizes, for callers that size a frame to a total length. */
export const HEADER_BYTES = { eth: 14, vlan: 4, ipv4: 20, ipv6: 40, udp: 8, tcp: 20 } as const;

export interface FrameOptions {
  src: string;
  dst?: string;
  proto?: "udp" | "tcp" | "icmp" | number;
  sport?: number;
  dport?: number;
  /** VLAN ids, outermost first (802.1ad outer tag when two). */
  vlans?: number[];
  /** Bytes of payload after the L4 header. */
  payload?: number;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10); a SYN when not given. */
  tcpFlags?: number;
}

function be16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function protoNumber(p: FrameOptions["proto"]): number {
  if (p === undefined || p === "udp") return 17;
  if (p === "tcp") return 6;
  if (p === "icmp") return 1;
  return p;
}

function l4Header(proto: number, sport: number, dport: number, payload: number, tcpFlags: number): number[] {
  if (proto === 17) return [...be16(sport), ...be16(dport), ...be16(HEADER_BYTES.udp + payload), 0, 0];
  // A 20-byte header (data offset 5).
  if (proto === 6) return [...be16(sport), ...be16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, tcpFlags & 0xff, 0xff, 0xff, 0, 0, 0, 0];
  // An echo request.
  if (proto === 1) return [8, 0, 0, 0, 0, 1, 0, 1];
  return [];
}

function ethHeader(ethertype: number, vlans: number[] = []): number[] {
  const bytes = [...HOST_MAC, ...PEER_MAC];
  vlans.forEach((id, i) => bytes.push(...be16(i === 0 && vlans.length > 1 ? ETH_P_8021AD : ETH_P_8021Q), ...be16(id)));
  bytes.push(...be16(ethertype));
  return bytes;
}

function l4(o: FrameOptions, proto: number): number[] {
  const payload = o.payload ?? 0;
  return [...l4Header(proto, o.sport ?? 40000, o.dport ?? 53, payload, o.tcpFlags ?? 0x02), ...new Array<number>(payload).fill(0)];
}

export function ipv4Frame(o: FrameOptions): Uint8Array {
  const proto = protoNumber(o.proto);
  const rest = l4(o, proto);
  const total = HEADER_BYTES.ipv4 + rest.length;
  const src = ipaddr.IPv4.parse(o.src).toByteArray();
  const dst = ipaddr.IPv4.parse(o.dst ?? "198.18.0.254").toByteArray();
  const ip = [0x45, 0, ...be16(total), 0, 0, 0, 0, 64, proto, 0, 0, ...src, ...dst];
  return new Uint8Array([...ethHeader(ETH_P_IP, o.vlans), ...ip, ...rest]);
}

export function ipv6Frame(o: FrameOptions): Uint8Array {
  const proto = protoNumber(o.proto);
  const rest = l4(o, proto);
  const src = ipaddr.IPv6.parse(o.src).toByteArray();
  const dst = ipaddr.IPv6.parse(o.dst ?? "2001:db8::fe").toByteArray();
  const ip = [0x60, 0, 0, 0, ...be16(rest.length), proto, 64, ...src, ...dst];
  return new Uint8Array([...ethHeader(ETH_P_IPV6, o.vlans), ...ip, ...rest]);
}

/** An ARP request from the peer for 198.18.0.254. */
export function arpFrame(): Uint8Array {
  const arp = [0, 1, ...be16(ETH_P_IP), 6, 4, 0, 1, ...PEER_MAC, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 254];
  return new Uint8Array([...ethHeader(ETH_P_ARP), ...arp]);
}
