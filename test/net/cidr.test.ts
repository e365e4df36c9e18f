import { describe, expect, test } from "bun:test";
import { formatAddress, parseCidr } from "../../src/net/cidr";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("parseCidr maps both families into one 128-bit space", () => {
  test.each([
    ["198.18.3.7/24", "198.18.3.0/24", 120, "00000000000000000000ffffc6120300"],
    ["198.18.0.1", "198.18.0.1/32", 128, "00000000000000000000ffffc6120001"],
    ["0.0.0.0/0", "0.0.0.0/0", 96, "00000000000000000000ffff00000000"],
    ["2001:db8::1/32", "2001:db8::/32", 32, "20010db8000000000000000000000000"],
    ["2001:db8::5", "2001:db8::5/128", 128, "20010db8000000000000000000000005"],
    [" 198.18.0.0/15 ", "198.18.0.0/15", 111, "00000000000000000000ffffc6120000"],
  ])("%s", (input, text, prefixlen, mapped) => {
    const c = parseCidr(input);
    expect(c.text).toBe(text);
    expect(c.prefixlen).toBe(prefixlen);
    expect(hex(c.mapped)).toBe(mapped);
  });

  test.each(["300.1.1.1/8", "1.2.3.4/33", "2001:db8::/129", "", "eth0", "1.2.3.4/-1", "1.2.3/24"])("refuses %p", (input) => {
    expect(() => parseCidr(input, "--block")).toThrow(/--block: ".*" is not an IPv4/);
  });
});

test.each([
  [[198, 18, 0, 1], "198.18.0.1"],
  [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], "2001:db8::7"],
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4], "1.2.3.4"],
])("formatAddress(%p) is %s", (bytes, text) => {
  expect(formatAddress(new Uint8Array(bytes))).toBe(text);
});
