/** CIDR and address handling: IPv4 lives in IPv6's mapped range so one LPM trie holds both. */
import ipaddr from "ipaddr.js";
import { usageError } from "../errors";

export interface Cidr {
  /** As the user should read it back, normalised: "198.18.3.0/24". */
  text: string;
  /** 16 bytes: IPv6, or IPv4 as ::ffff:a.b.c.d. */
  mapped: Uint8Array;
  /** Prefix length over the 128-bit mapped address. */
  prefixlen: number;
}

export function parseCidr(input: string, flag = "--block"): Cidr {
  const text = input.trim();
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  try {
    if (text.includes("/")) [addr, bits] = ipaddr.parseCIDR(text);
    else {
      addr = ipaddr.parse(text);
      bits = addr.kind() === "ipv4" ? 32 : 128;
    }
  } catch {
    throw usageError(`${flag}: "${input}" is not an IPv4 or IPv6 address or CIDR`, "example: 198.18.3.0/24 or 2001:db8::/32");
  }
  const isV4 = addr.kind() === "ipv4";
  // ipaddr.js also takes legacy forms ("1.2.3" is 1.2.0.3): a typo here must not block the wrong range.
  if (isV4 && !ipaddr.IPv4.isValidFourPartDecimal(text.split("/")[0]!))
    throw usageError(`${flag}: "${input}" is not an IPv4 address in dotted-quad form`, "example: 198.18.3.0/24");
  const network = isV4
    ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  const mapped = new Uint8Array(isV4 ? (network as ipaddr.IPv4).toIPv4MappedAddress().toByteArray() : network.toByteArray());
  return {
    text: `${network.toString()}/${bits}`,
    mapped,
    prefixlen: isV4 ? bits + 96 : bits,
  };
}

/** Formats a decoded record address (4 or 16 bytes). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const addr = ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6;
  return addr.isIPv4MappedAddress() ? addr.toIPv4Address().toString() : addr.toString();
}

/** An address (IPv4 dotted or IPv6) as the 16 bytes the tries hold, or undefined when it is not one. */
export function mappedAddress(text: string): Uint8Array | undefined {
  try {
    const addr = ipaddr.parse(text.replace(/%.*$/, ""));
    return new Uint8Array(addr.kind() === "ipv4" ? (addr as ipaddr.IPv4).toIPv4MappedAddress().toByteArray() : addr.toByteArray());
  } catch {
    return undefined;
  }
}

/** Whether `range` holds the 16-byte `address`. */
export function covers(range: Cidr, address: Uint8Array): boolean {
  for (let bit = 0; bit < range.prefixlen; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((range.mapped[bit >> 3]! & mask) !== (address[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** Every IPv4 source (0.0.0.0/0) or every IPv6 source (::/0), or wider. */
export function coversAFamily(range: Cidr): boolean {
  return range.prefixlen === 0 || (range.prefixlen <= 96 && covers(range, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0])));
}
