/** Hand-made Ethernet frames for tests: exact bytes, so exact expectations. */

const HOST_MAC = "020000000002";
const PEER_MAC = "020000000001";

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function ipv4Bytes(addr: string): number[] {
  return addr.split(".").map(Number);
}

function ipv6Bytes(addr: string): number[] {
  const [head, tail] = addr.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function be16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

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
}

function protoNumber(p: FrameOptions["proto"]): number {
  if (p === undefined || p === "udp") return 17;
  if (p === "tcp") return 6;
  if (p === "icmp") return 1;
  return p;
}

function l4Header(proto: number, sport: number, dport: number, payload: number): number[] {
  if (proto === 17) return [...be16(sport), ...be16(dport), ...be16(8 + payload), 0, 0];
  if (proto === 6) return [...be16(sport), ...be16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
  if (proto === 1) return [8, 0, 0, 0, 0, 1, 0, 1];
  return [];
}

function ethHeader(ethertype: number, vlans: number[] = []): number[] {
  const bytes = [...Buffer.from(HOST_MAC + PEER_MAC, "hex")];
  vlans.forEach((id, i) => bytes.push(...be16(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100), ...be16(id)));
  bytes.push(...be16(ethertype));
  return bytes;
}

export function ipv4Frame(o: FrameOptions): Uint8Array {
  const proto = protoNumber(o.proto);
  const l4 = [...l4Header(proto, o.sport ?? 40000, o.dport ?? 53, o.payload ?? 0), ...new Array(o.payload ?? 0).fill(0)];
  const total = 20 + l4.length;
  const ip = [0x45, 0, ...be16(total), 0, 0, 0, 0, 64, proto, 0, 0, ...ipv4Bytes(o.src), ...ipv4Bytes(o.dst ?? "198.18.0.254")];
  return new Uint8Array([...ethHeader(0x0800, o.vlans), ...ip, ...l4]);
}

export function ipv6Frame(o: FrameOptions): Uint8Array {
  const proto = protoNumber(o.proto);
  const l4 = [...l4Header(proto, o.sport ?? 40000, o.dport ?? 53, o.payload ?? 0), ...new Array(o.payload ?? 0).fill(0)];
  const ip = [0x60, 0, 0, 0, ...be16(l4.length), proto, 64, ...ipv6Bytes(o.src), ...ipv6Bytes(o.dst ?? "2001:db8::fe")];
  return new Uint8Array([...ethHeader(0x86dd, o.vlans), ...ip, ...l4]);
}

export function rawFrame(bytes: number[] | Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function arpFrame(): Uint8Array {
  const arp = [0, 1, 8, 0, 6, 4, 0, 1, ...Buffer.from(PEER_MAC, "hex"), 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 254];
  return new Uint8Array([...ethHeader(0x0806), ...arp]);
}

export function framesHex(frames: readonly Uint8Array[]): string {
  return `${frames.map(hex).join("\n")}\n`;
}

/** n distinct addresses in 198.18.0.0/15, from the given third octet on. */
export function testSources(n: number, third = 1): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${third + Math.floor(i / 250)}.${1 + (i % 250)}`);
}
