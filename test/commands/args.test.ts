import { describe, expect, test } from "bun:test";
import { parseCount, parseIface, parseMode, parseSeconds, rejectUnknownArgs, repeated, runArgs, ifaceArgs, outputArgs } from "../../src/commands/_args";
import { XwError } from "../../src/errors";

function usageFailure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(XwError);
    expect((err as XwError).exitCode).toBe(2);
    return (err as XwError).message;
  }
  throw new Error("expected a usage error");
}

describe("interface names follow the kernel's rules", () => {
  test.each(["eth0", "veth-a.10", "br0@x", "a;b", "abcdefghijklmno"])("accepts %p", (name) => {
    expect(parseIface(name)).toBe(name);
  });
  test.each([
    [undefined, /required/],
    ["", /required/],
    ["abcdefghijklmnop", /longer than 15 bytes/],
    ["eth0; rm -rf /", /not a valid interface name/],
    ["a/b", /not a valid/],
    ["..", /not a valid/],
    ["eth:0", /not a valid/],
    ["éééééééé", /longer than 15 bytes/],
  ])("refuses %p", (name, message) => {
    expect(usageFailure(() => parseIface(name))).toMatch(message);
  });
});

describe("numbers", () => {
  test.each([
    ["40", 40],
    [" 7 ", 7],
    [undefined, undefined],
  ])("parseCount(%p)", (input, want) => {
    expect(parseCount(input, "--count")).toBe(want);
  });
  test.each(["0", "-1", "1.5", "abc", "", "1e400"])("parseCount refuses %p", (input) => {
    expect(usageFailure(() => parseCount(input, "--count"))).toMatch(/--count must be a whole number/);
  });
  test.each([
    ["1.5", 1.5],
    ["10", 10],
  ])("parseSeconds(%p)", (input, want) => {
    expect(parseSeconds(input, "--duration")).toBe(want);
  });
  test.each(["0", "-3", "soon", "Infinity"])("parseSeconds refuses %p", (input) => {
    expect(usageFailure(() => parseSeconds(input, "--duration"))).toMatch(/--duration must be a number of seconds/);
  });
});

test.each(["auto", "native", "generic"])("mode %s", (m) => {
  expect(parseMode(m)).toBe(m as "auto");
});
test("mode refuses others", () => {
  expect(usageFailure(() => parseMode("offload"))).toMatch(/--mode must be/);
});

describe("repeated flags", () => {
  test("collects every form", () => {
    expect(repeated(["--block", "a", "-i", "x", "--block=b", "--other", "--block", "c"], "block")).toEqual(["a", "b", "c"]);
  });
  test("stops at --", () => {
    expect(repeated(["--block", "a", "--", "--block", "b"], "block")).toEqual(["a"]);
  });
  test("a flag without its value is an error", () => {
    expect(usageFailure(() => repeated(["--block"], "block"))).toMatch(/needs a value/);
  });
});

describe("unknown options are refused, not ignored", () => {
  const def = { ...ifaceArgs, ...runArgs, ...outputArgs };
  test.each([
    [["-i", "eth0", "--json", "-c", "4"]],
    [["--iface=eth0", "--no-json", "--duration", "2"]],
    [["--iface", "eth0", "--", "--whatever"]],
  ])("accepts %p", (args) => {
    expect(() => rejectUnknownArgs(args, def)).not.toThrow();
  });
  test.each([
    [["--ifcae", "eth0"], /unknown option --ifcae/],
    [["-i", "eth0", "stray"], /unexpected argument "stray"/],
    [["-i"], /-i needs a value/],
  ])("refuses %p", (args, message) => {
    expect(usageFailure(() => rejectUnknownArgs(args, def))).toMatch(message);
  });
});
