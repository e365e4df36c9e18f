import { describe, expect, test } from "bun:test";
import { arpFrame, HEADER_BYTES, ipv4Frame, ipv6Frame } from "../../src/net/frames";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ETH = "020000000002" + "020000000001";

describe("frame builders write exact bytes", () => {
  test.each([
    {
      name: "IPv4 UDP, defaults",
      frame: ipv4Frame({ src: "198.18.0.1" }),
      want: ETH + "0800" + "4500001c000000004011" + "0000" + "c6120001" + "c61200fe" + "9c400035" + "00080000",
    },
    {
      name: "IPv4 UDP payload counts in both lengths",
      frame: ipv4Frame({ src: "198.18.0.1", sport: 1, dport: 2, payload: 2 }),
      want: ETH + "0800" + "4500001e000000004011" + "0000" + "c6120001" + "c61200fe" + "00010002" + "000a0000" + "0000",
    },
    {
      name: "IPv4 ICMP echo behind 802.1ad + 802.1Q tags",
      frame: ipv4Frame({ src: "198.18.9.10", vlans: [100, 200], proto: "icmp" }),
      want: ETH + "88a80064" + "810000c8" + "0800" + "4500001c000000004001" + "0000" + "c612090a" + "c61200fe" + "0800000000010001",
    },
    {
      name: "IPv6 TCP SYN",
      frame: ipv6Frame({ src: "2001:db8::7", proto: "tcp", sport: 443, dport: 50000 }),
      want:
        ETH + "86dd" + "60000000" + "0014" + "06" + "40" + "20010db8000000000000000000000007" + "20010db80000000000000000000000fe" +
        "01bbc350" + "00000001" + "00000000" + "5002ffff" + "00000000",
    },
    {
      name: "ARP request",
      frame: arpFrame(),
      want: ETH + "0806" + "0001080006040001" + "020000000001" + "c6120001" + "000000000000" + "c61200fe",
    },
  ])("$name", ({ frame, want }) => {
    expect(hex(frame)).toBe(want);
  });

  test("HEADER_BYTES add up to the built lengths", () => {
    const H = HEADER_BYTES;
    expect(ipv4Frame({ src: "198.18.0.1" })).toHaveLength(H.eth + H.ipv4 + H.udp);
    expect(ipv4Frame({ src: "198.18.0.1", proto: "tcp" })).toHaveLength(H.eth + H.ipv4 + H.tcp);
    expect(ipv6Frame({ src: "2001:db8::1", vlans: [1] })).toHaveLength(H.eth + H.vlan + H.ipv6 + H.udp);
  });

  test("an address of the wrong family is refused, not mangled", () => {
    expect(() => ipv4Frame({ src: "2001:db8::1" })).toThrow();
    expect(() => ipv6Frame({ src: "198.18.0.1" })).toThrow();
  });
});
