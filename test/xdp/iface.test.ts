import { describe, expect, test } from "bun:test";
import { decodeName, encodeName, ifaceKey, parseIfaceKey } from "../../src/xdp/iface";

describe("interface names in bpffs and bpftool batch lines", () => {
  test.each([
    ["eth0", "eth0"],
    ["eth0.100", "eth0%2E100"],
    ["x#1", "x%231"],
    ["br-lan_2", "br-lan_2"],
    ["a%b", "a%25b"],
    ["wlp0s20f3", "wlp0s20f3"],
    ["q\"'\\z", "q%22%27%5Cz"],
    ["é", "%C3%A9"],
  ])("%s is written as %s and read back", (name, encoded) => {
    expect(encodeName(name)).toBe(encoded);
    expect(encodeName(name)).toMatch(/^[A-Za-z0-9_%-]+$/);
    expect(decodeName(encoded)).toBe(name);
  });

  test("a key holds the ifindex and the name, and reads back whole (names may hold '_')", () => {
    const ref = { netns: "4026531840", ifindex: 12, name: "veth_a.1" };
    expect(ifaceKey(ref)).toBe("12_veth_a%2E1");
    expect(parseIfaceKey(ifaceKey(ref), ref.netns)).toEqual(ref);
    expect(parseIfaceKey("maps", ref.netns)).toBeUndefined();
  });
});
