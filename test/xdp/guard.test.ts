import { describe, expect, test } from "bun:test";
import { parseCidr } from "../../src/net/cidr";
import { rangesCuttingOff } from "../../src/xdp/guard";

const why = (range: string, own: string[] = [], ssh?: string) => rangesCuttingOff([parseCidr(range)], own, ssh)[0]?.why;

describe("--block ranges that would cut off the operator", () => {
  test.each([
    ["0.0.0.0/0", "every source"],
    ["::/0", "every source"],
    ["::/1", "every source"], // holds every IPv4-mapped address
    ["0.0.0.0/1", undefined],
    ["198.18.3.0/24", undefined],
  ])("%s: %s", (range, expected) => {
    expect(why(range)).toBe(expected);
  });

  test("a range holding an address of the interface, or the SSH client", () => {
    expect(why("198.18.0.0/16", ["198.18.5.1", "fe80::1"])).toBe("this interface's own address 198.18.5.1");
    expect(why("fe80::/10", ["198.18.5.1", "fe80::1"])).toBe("this interface's own address fe80::1");
    expect(why("198.19.0.0/16", ["198.18.5.1"])).toBeUndefined();
    expect(why("198.19.7.0/24", [], "198.19.7.9")).toBe("your SSH client 198.19.7.9");
    expect(why("198.19.8.0/24", [], "198.19.7.9")).toBeUndefined();
  });
});
