/**
 * For the differential test of tcpdump expressions: frames of many shapes, a
 * pcap file of them, libpcap's own verdict on each (`tcpdump -r`), and
 * expressions, hand-written and generated at random from pcap-filter's grammar.
 * Everything is seeded: a failure can be replayed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sh } from "./kernel";

/** A small seeded generator (mulberry32). */
export function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    int,
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    bytes: (n: number) => Array.from({ length: n }, () => int(256)),
  };
}
type Rnd = ReturnType<typeof random>;

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const MACS = [[0x02, 0, 0, 0, 0, 0x02], [0x02, 0, 0, 0, 0, 0x01], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x01, 0x00, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1]];
const V4 = ["10.1.2.3", "10.200.0.9", "192.168.1.7", "192.168.77.1", "198.18.1.1", "198.18.9.200", "172.16.5.4", "8.8.8.8", "224.0.0.1", "255.255.255.255", "0.0.0.0", "127.0.0.1"];
const V6 = ["2001:db8::1", "2001:db8:0:1::53", "2001:db8:ffff::2", "fe80::1", "fe80::abcd:1", "ff02::1", "ff02::1:ff00:1", "::1", "2600::7"];
const PORTS = [53, 80, 443, 22, 123, 8080, 1000, 1500, 2000, 65535, 0];
const VLAN_IDS = [1, 100, 200, 4094, 0];

function v4Bytes(a: string): number[] {
  return a.split(".").map(Number);
}

function v6Bytes(a: string): number[] {
  const [head, tail = ""] = a.split("::");
  const words = (s: string) => (s ? s.split(":").map((w) => parseInt(w, 16)) : []);
  const h = words(head!);
  const t = a.includes("::") ? words(tail) : [];
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap(be16);
}

function port(r: Rnd): number {
  return r.chance(0.7) ? r.pick(PORTS) : r.int(65536);
}

/** TCP with random flags, data offset and options; UDP; ICMP(v6) of several types; or raw bytes. */
function l4(r: Rnd, proto: number): number[] {
  const payload = r.bytes(r.chance(0.1) ? 300 + r.int(1000) : r.int(80));
  if (proto === 6) {
    const doff = r.chance(0.7) ? 5 : 6 + r.int(3);
    const flags = r.chance(0.6) ? r.pick([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0xc2]) : r.int(256);
    const opts = new Array<number>((doff - 5) * 4).fill(1);
    return [...be16(port(r)), ...be16(port(r)), ...r.bytes(8), doff << 4, flags, ...be16(r.int(65536)), 0, 0, 0, 0, ...opts, ...payload];
  }
  if (proto === 17) return [...be16(port(r)), ...be16(port(r)), ...be16(8 + payload.length), 0, 0, ...payload];
  if (proto === 1 || proto === 58) {
    const types = proto === 1 ? [[0, 0], [8, 0], [3, 1], [3, 3], [11, 0], [5, 1], [13, 0]] : [[128, 0], [129, 0], [133, 0], [135, 0], [136, 0], [1, 4], [3, 0]];
    const [type, code] = r.chance(0.8) ? r.pick(types) : [r.int(256), r.int(4)];
    return [type!, code!, 0, 0, ...r.bytes(4), ...payload];
  }
  return payload;
}

function ipv4(r: Rnd): number[] {
  const ihl = r.chance(0.75) ? 5 : 6 + r.int(3);
  const proto = r.pick([6, 6, 17, 17, 1, 2, 47, 132, 41]);
  const fragment = r.chance(0.15);
  const offset = fragment && r.chance(0.6) ? 1 + r.int(0x1fff) : 0;
  const flags = (r.chance(0.3) ? 0x4000 : 0) | (fragment && r.chance(0.6) ? 0x2000 : 0);
  const rest = offset ? r.bytes(r.int(60)) : l4(r, proto);
  const options = Array.from({ length: (ihl - 5) * 4 }, () => r.pick([1, 1, 0, 7, 68]));
  const total = ihl * 4 + rest.length;
  return [0x40 | ihl, r.int(256), ...be16(total), ...be16(r.int(65536)), ...be16(flags | offset), r.pick([1, 63, 64, 128, 255]), proto, 0, 0,
    ...v4Bytes(r.pick(V4)), ...v4Bytes(r.pick(V4)), ...options, ...rest];
}

function ipv6(r: Rnd): number[] {
  const upper = r.pick([6, 17, 58, 59, 6, 17]);
  const chain = Array.from({ length: r.chance(0.35) ? 1 + r.int(2) : 0 }, () => r.pick([0, 43, 60, 44]));
  let next = upper;
  let ext: number[] = [];
  for (const h of [...chain].reverse()) {
    // The fragment header is 8 bytes; the others carry a length (here 0 or 1: 8 or 16 bytes).
    const body = h === 44 ? [next, 0, ...be16(r.chance(0.5) ? 0 : 8), ...r.bytes(4)] : (() => {
      const len = r.int(2);
      return [next, len, ...new Array<number>(6 + 8 * len).fill(1)];
    })();
    ext = [...body, ...ext];
    next = h;
  }
  const rest = [...ext, ...(upper === 59 ? r.bytes(r.int(20)) : l4(r, upper))];
  return [0x60, 0, 0, 0, ...be16(rest.length), next, r.pick([1, 64, 255]), ...v6Bytes(r.pick(V6)), ...v6Bytes(r.pick(V6)), ...rest];
}

/** `n` frames of many shapes, the same for the same seed. All are at least 14 bytes (what veth and bpftool need). */
export function frameCorpus(n: number, seed: number): Uint8Array[] {
  const r = random(seed);
  const frames: Uint8Array[] = [];
  while (frames.length < n) {
    const kind = r.int(100);
    if (kind < 4) {
      frames.push(new Uint8Array(r.bytes(14 + r.int(100))));
      continue;
    }
    const tags = r.chance(0.6) ? 0 : r.chance(0.6) ? 1 : 2;
    const eth = [...(r.chance(0.85) ? MACS[0]! : r.pick(MACS)), ...(r.chance(0.9) ? MACS[1]! : r.pick(MACS))];
    for (let t = 0; t < tags; t++) eth.push(...be16(t === 0 && tags === 2 && r.chance(0.7) ? 0x88a8 : 0x8100), ...be16((r.int(8) << 13) | r.pick(VLAN_IDS)));
    let body: number[];
    let type: number;
    if (kind < 55) [type, body] = [0x0800, ipv4(r)];
    else if (kind < 88) [type, body] = [0x86dd, ipv6(r)];
    else if (kind < 94) [type, body] = [0x0806, [0, 1, 8, 0, 6, 4, 0, r.pick([1, 2]), ...MACS[1]!, ...v4Bytes(r.pick(V4)), 0, 0, 0, 0, 0, 0, ...v4Bytes(r.pick(V4))]];
    else [type, body] = [r.pick([0x88cc, 0x8847, 0x0842, 0x1234]), r.bytes(r.int(60))];
    let frame = [...eth, ...be16(type), ...body].slice(0, 1514);
    // Some frames end early: in a header, or in the middle of one.
    if (r.chance(0.1)) frame = frame.slice(0, 14 + r.int(Math.max(1, frame.length - 14)));
    frames.push(new Uint8Array(frame));
  }
  return frames;
}

/** A pcap file (Ethernet) with frame i at time i seconds: tcpdump's output then names each frame. */
export function pcapFile(frames: readonly Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 262144, true);
  dv.setUint32(20, 1, true);
  let at = 24;
  frames.forEach((f, i) => {
    dv.setUint32(at, i, true);
    dv.setUint32(at + 8, f.length, true);
    dv.setUint32(at + 12, f.length, true);
    out.set(f, at + 16);
    at += 16 + f.length;
  });
  return out;
}

/** A pcap file of the corpus on disk, and libpcap's verdict on it for any expression. */
export function pcapJudge(frames: readonly Uint8Array[]) {
  const dir = mkdtempSync(join(tmpdir(), "xw-expr-"));
  const file = join(dir, "corpus.pcap");
  writeFileSync(file, pcapFile(frames));
  return {
    file,
    /** Indexes of the frames `tcpdump -r FILE EXPRESSION` selects, read back from the pcap it writes. */
    async select(expression: string): Promise<number[]> {
      const r = Bun.spawn(["tcpdump", "-n", "-r", file, "-w", "-", "--", expression], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(r.stdout).arrayBuffer(), new Response(r.stderr).text(), r.exited]);
      if (code !== 0) throw new Error(`tcpdump -r … "${expression}": ${err.trim()}`);
      const bytes = new Uint8Array(out);
      const dv = new DataView(out);
      const picked: number[] = [];
      for (let at = 24; at + 16 <= bytes.length; at += 16 + dv.getUint32(at + 8, true)) picked.push(dv.getUint32(at, true));
      return picked;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Whether tcpdump compiles an expression for Ethernet. */
export async function tcpdumpAccepts(expression: string): Promise<boolean> {
  return (await sh(["tcpdump", "-ddd", "-y", "EN10MB", "--", expression])).code === 0;
}

/** Written by hand: every construct the issue names, and the corners of classic BPF's arithmetic. */
export const HAND_EXPRESSIONS = [
  "udp port 53",
  "udp and port 53",
  "tcp[tcpflags] & tcp-syn != 0",
  "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
  "tcp[tcpflags] = tcp-rst",
  "tcp[13] = 0x12",
  "vlan and src net 10.0.0.0/8",
  "vlan 100",
  "vlan and vlan 200",
  "vlan and ip6 and udp",
  "ip[8] < 64",
  "ip[6:2] & 0x1fff != 0",
  "ip[0] & 0xf > 5",
  "icmp[icmptype] = icmp-echo",
  "icmp[icmptype] != icmp-echo and icmp[icmpcode] = 1",
  "icmp6",
  "icmp6 and ip6[40] = 135",
  "ip6 and tcp",
  "ip6 and udp dst port 53",
  "ip6[6] = 0",
  "portrange 1000-2000",
  "tcp portrange 1-1023",
  "greater 200",
  // Loads past any frame (64 KiB): always "no match" for that branch, as in libpcap.
  "ether[70000] = 1 or udp",
  "udp[65530:4] = 1 or icmp",
  "less 100",
  "len > 1000 or len < 60",
  "not ip and not ip6",
  "arp",
  "ether broadcast",
  "ether multicast",
  "ip multicast",
  "host 198.18.1.1",
  "src host 10.1.2.3 or dst net 192.168.0.0/16",
  "net 2001:db8::/32",
  "ip6 dst net fe80::/10",
  "tcp and (port 80 or port 443) and not src net 10.0.0.0/8",
  "ip proto 47",
  "ip[2:2] > 100 and ip[2:2] < 500",
  "ether[12:2] = 0x88a8",
  "ether src 02:00:00:00:00:01",
  "ip[1] >> (ip[0] & 0x3f) != 0",
  "ip[0] << (ip[9] & 0x3f) > 4096",
  "ip[4:2] / (ip[8] & 3) < 1000",
  "ip[4:2] % (ip[8] & 3) = 1",
  "ip[4:2] % 7 = 3",
  "(ip[2:2] * 3 - 7) & 0xff = 1",
  "(ip[16] ^ ip[12]) | 1 = 3",
  "-ip[2:2] & 3 = 1",
  "ip[40] + ip[41] = ip[42]",
  "udp and (len - 42) > 100",
  "udp[8:4] = 0 or tcp[20:4] = 0x01010101",
  "ip6 and ip6[40:4] & 0xffff0000 = 0x00350000",
  "ether[60] = 1 or ether[1400:2] > 0",
] as const;

const FLAGS = ["tcp-fin", "tcp-syn", "tcp-rst", "tcp-push", "tcp-ack", "tcp-urg", "tcp-ece", "tcp-cwr"];
const RELOPS = ["=", "!=", "<", ">", "<=", ">="];
const ARITH = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"];

/** A random primitive of pcap-filter(7). */
function primitive(r: Rnd): string {
  const dir = () => r.pick(["", "src ", "dst "]);
  const cidr4 = () => `${r.pick(["10.0.0.0/8", "192.168.0.0/16", "198.18.0.0/15", "172.16.0.0/12", "8.8.8.8/32", "224.0.0.0/4", "0.0.0.0/1"])}`;
  const cidr6 = () => r.pick(["2001:db8::/32", "fe80::/10", "ff00::/8", "2001:db8:0:1::/64", "::/1"]);
  const byteAt = () => `${r.pick(["ip", "ip6", "ether", "tcp", "udp", "icmp"])}[${r.int(48)}${r.pick(["", ":1", ":2", ":4"])}]`;
  switch (r.int(17)) {
    case 0: return r.pick(["ip", "ip6", "tcp", "udp", "icmp", "icmp6", "arp", "vlan", "ip proto 47", "ip6 proto 58", "ether proto 0x88cc"]);
    case 1: return `${dir()}host ${r.pick(r.chance(0.6) ? V4 : V6)}`;
    case 2: return `${dir()}net ${r.chance(0.6) ? cidr4() : cidr6()}`;
    case 3: return `${r.pick(["", "tcp ", "udp "])}${dir()}port ${r.pick(PORTS)}`;
    case 4: {
      const a = r.pick(PORTS);
      return `${r.pick(["", "tcp ", "udp "])}${dir()}portrange ${a}-${a + r.int(3000)}`;
    }
    case 5: return `${r.pick(["greater", "less"])} ${r.pick([0, 54, 60, 64, 100, 200, 1000, 1514])}`;
    case 6: return `len ${r.pick(RELOPS)} ${r.int(1600)}`;
    case 7: return `tcp[tcpflags] & ${r.pick(FLAGS)} != 0`;
    case 8: return `tcp[tcpflags] ${r.pick(["=", "!="])} ${r.int(256)}`;
    case 9: return `icmp[icmptype] ${r.pick(["=", "!="])} ${r.pick(["icmp-echo", "icmp-echoreply", "icmp-unreach", "icmp-timxceed", "5"])}`;
    case 10: return `${byteAt()} ${r.pick(RELOPS)} ${r.int(256)}`;
    case 11: return `(${byteAt()} ${r.pick(ARITH)} ${r.chance(0.5) ? byteAt() : r.int(40)}) ${r.pick(RELOPS)} ${r.int(300)}`;
    case 12: return `${byteAt()} & ${r.int(256)} ${r.pick(["=", "!="])} 0`;
    case 13: return `vlan ${r.pick(VLAN_IDS)}`;
    case 14: return `ether ${r.pick(["src", "dst", "host"])} ${r.pick(["02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"])}`;
    case 15: return r.pick(["ether broadcast", "ether multicast", "ip multicast", "ip6 multicast", "ip broadcast"]);
    default: return `${r.pick(["ip", "ip6"])} ${dir()}${r.pick(["host", "net"])} ${r.pick(["ip", "ip6"]) === "ip" ? cidr4() : cidr6()}`;
  }
}

/** A random expression: primitives joined by and/or, some negated, some in parentheses. */
export function randomExpression(r: Rnd, depth = 0): string {
  if (depth >= 3 || r.chance(0.35)) {
    const p = primitive(r);
    return r.chance(0.2) ? `not ${p}` : p;
  }
  const left = randomExpression(r, depth + 1);
  const right = randomExpression(r, depth + 1);
  const e = `${left} ${r.pick(["and", "or"])} ${right}`;
  return r.chance(0.4) ? `${r.chance(0.2) ? "not " : ""}(${e})` : e;
}

/** `n` random expressions tcpdump accepts on Ethernet (those it refuses are skipped), seeded. */
export async function generatedExpressions(n: number, seed: number): Promise<string[]> {
  const r = random(seed);
  const out: string[] = [];
  while (out.length < n) {
    const e = randomExpression(r);
    if (!out.includes(e) && (await tcpdumpAccepts(e))) out.push(e);
  }
  return out;
}

/**
 * The frames, zero-padded at the end so that each has a length of its own
 * (up to 1514 bytes): a logged record, which carries the frame's length, then
 * names its frame.
 */
export function withDistinctLengths(frames: readonly Uint8Array[]): Uint8Array[] {
  const used = new Set<number>();
  return frames.map((f) => {
    let len = f.length;
    while (used.has(len) && len < 1514) len++;
    used.add(len);
    const padded = new Uint8Array(len);
    padded.set(f);
    return padded;
  });
}
