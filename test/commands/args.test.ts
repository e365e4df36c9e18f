import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs as cittyParseArgs, type ArgsDef } from "citty";
import {
  attachArgs, blockArgs, expressionArgs, filterArgs, parseCount, parseIface, parseMode, parsePrometheusFile, parseSeconds, runArgs, sampleArgs, ifaceArgs, outputArgs,
} from "../../src/commands/_args";
import { optionValues, parseCommandArgs } from "../../src/commands/_command";
import { compileFilters, describeFilters, parseFilters } from "../../src/commands/_filters";
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

/** A command line as watch reads it, for the filters. */
const FILTER_DEF = { ...ifaceArgs, ...filterArgs, ...sampleArgs, ...blockArgs, ...expressionArgs };
const read = (raw: string[]) => parseCommandArgs(raw, FILTER_DEF);

describe("repeated flags", () => {
  test("every value, in every form, from the one reading of the command line", () => {
    expect(optionValues(read(["--block", "a", "-i", "x", "--block=b", "--src", "s", "--block", "c"]), "block")).toEqual(["a", "b", "c"]);
  });
  test("stops at --", () => {
    expect(optionValues(read(["--block", "a", "--", "--block", "b"]), "block")).toEqual(["a"]);
  });
  test("a flag without its value is an error, another option is no value", () => {
    expect(usageFailure(() => read(["--block"]))).toMatch(/^--block needs a value$/);
    expect(usageFailure(() => read(["--drop", "--block", "198.18.0.0/15"]))).toMatch(/^--drop needs a value$/);
    expect(usageFailure(() => read(["--drop", "--block=198.18.0.0/15"]))).toMatch(/^--drop needs a value$/);
  });
});

describe("command arguments", () => {
  const def = { ...ifaceArgs, ...runArgs, ...outputArgs };
  const withWords = { ...ifaceArgs, ...attachArgs, ...outputArgs, ...expressionArgs };
  const shell = { shell: { type: "positional", description: "a shell", required: true } } as const satisfies ArgsDef;

  /** What a command reads: every name it defines, and the words. */
  const seen = (args: Record<string, unknown>, argsDef: ArgsDef) => Object.fromEntries([...Object.keys(argsDef), "_"].map((k) => [k, args[k]]));

  // citty's own parser is the reference: a command must read a valid command line as it would.
  test.each<[string[], ArgsDef]>([
    [["-i", "eth0", "--json", "-c", "4"], def],
    [["--iface=eth0", "--no-json", "--duration", "2"], def],
    [["--iface", "eth0", "--json=false", "--quiet=yes"], def],
    [["-i", "eth0", "-i", "eth1", "--count=", "-q"], def],
    [["--iface", "eth0", "--", "--whatever"], def],
    [[], def],
    [["-i", "eth0", "--mode", "generic", "udp", "port", "53", "--force"], withWords],
    [["-i", "eth0", "--", "-udp", "--json"], withWords],
    [["-i", "eth0", "--no-force", "--object=/tmp/x.o"], withWords],
    [["bash"], shell],
  ])("reads %p as citty does", (raw, argsDef) => {
    expect(seen(parseCommandArgs(raw, argsDef), argsDef)).toEqual(seen(cittyParseArgs(raw, argsDef), argsDef));
  });

  test("defaults are filled in", () => {
    expect(parseCommandArgs([], withWords)).toMatchObject({ mode: "auto", _: [] });
  });

  // Where citty lets a command line through silently, a typo must not run a command with its defaults.
  test.each([
    [["--ifcae", "eth0"], def, /^unknown option --ifcae$/],
    [["-i", "eth0", "stray"], def, /^unexpected argument "stray"$/],
    [["-i"], def, /^-i needs a value$/],
    [["--iface=eth0", "--count"], def, /^--count needs a value$/],
    [["-qi", "eth0"], def, /^unknown option -qi$/],
    [["--no-iface"], def, /^unknown option --no-iface$/],
    [[], shell, /^missing SHELL$/],
  ] as [string[], ArgsDef, RegExp][])("refuses %p", (raw, argsDef, message) => {
    expect(usageFailure(() => parseCommandArgs(raw, argsDef))).toMatch(message);
  });
});

describe("filters: one reading of --block, --src, --proto, --port, --sample", () => {
  const filters = (raw: string[], sample?: string) => parseFilters(read(sample === undefined ? raw : [...raw, "--sample", sample]));

  test("nothing given: no filter, log every packet", () => {
    expect(filters([])).toEqual({ config: { block: false, srcFilter: false, protos: undefined, ports: undefined, sample: 1 }, block: [], srcFilter: [] });
  });

  test("repeated and comma-separated values, normalised, without duplicates", () => {
    const f = filters([
      "--block", "198.18.3.7/24", "--block=2001:db8::/32,198.18.3.0/24",
      "--src", "198.18.0.0/15", "--proto", "TCP,udp", "--proto", "6", "--proto=icmp",
      "--port", "443", "--port=53,443", "-i", "eth0",
    ], "10");
    expect(f.block.map((c) => c.text)).toEqual(["198.18.3.0/24", "2001:db8::/32"]);
    expect(f.srcFilter.map((c) => c.text)).toEqual(["198.18.0.0/15"]);
    expect(f.config).toEqual({ block: true, srcFilter: true, protos: [1, 6, 17], ports: [53, 443], sample: 10 });
    expect(describeFilters(f)).toBe("dropping 198.18.3.0/24, 2001:db8::/32 · src 198.18.0.0/15 · proto icmp, tcp, udp · port 53, 443 · logging 1 in 10");
  });

  test("no filters, nothing to describe", () => {
    expect(describeFilters(filters([]))).toBeUndefined();
  });

  test.each<[string[], string | undefined, RegExp]>([
    [["--block", "198.18.300.0/24"], undefined, /^--block: "198\.18\.300\.0\/24" is not an IPv4 or IPv6 address or CIDR$/],
    [["--block", "198.18.3"], undefined, /^--block: "198\.18\.3" is not an IPv4 address in dotted-quad form$/],
    [["--src", "2001:db8::/129"], undefined, /^--src: /],
    [["--src", "198.18.0.0/15,"], undefined, /^--src: empty value in "198\.18\.0\.0\/15,"$/],
    [["--proto", "bogus"], undefined, /^--proto: "bogus" is not a protocol name \(tcp, udp, icmp, icmpv6, …\) or a number from 0 to 255$/],
    [["--proto", "256"], undefined, /^--proto: "256"/],
    [["--port", "0"], undefined, /^--port must be a whole number from 1 to 65535, not "0"$/],
    [["--port", "65536"], undefined, /^--port must be/],
    [["--port", "http"], undefined, /^--port must be/],
    [["--port"], undefined, /^--port needs a value$/],
    [[], "0", /^--sample must be a whole number from 1 to 4294967295, not "0"$/],
    [[], "1.5", /^--sample must be/],
  ])("refuses %p (sample %p)", (raw, sample, message) => {
    expect(usageFailure(() => filters(raw, sample))).toMatch(message);
  });

  test("more ranges than the kernel's trie holds", () => {
    const many = Array.from({ length: 1025 }, (_, i) => `198.18.${i >> 8}.${i & 255}`).join(",");
    expect(usageFailure(() => filters(["--block", many]))).toBe("--block: at most 1024 ranges, not 1025");
  });

  test("the filter and block flags are known options", () => {
    expect(parseCommandArgs(["--src", "a", "--proto=b", "--port", "1", "--block", "c"], { ...filterArgs, ...blockArgs })).toMatchObject({ src: "a", proto: "b", port: "1", block: "c" });
  });
});

describe("--prometheus-file", () => {
  const dir = mkdtempSync(join(tmpdir(), "xw-args-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("absent, or a file in an existing directory (made absolute)", () => {
    expect(parsePrometheusFile(undefined)).toBeUndefined();
    expect(parsePrometheusFile(join(dir, "x.prom"))).toBe(join(dir, "x.prom"));
    expect(parsePrometheusFile("x.prom")).toBe(join(process.cwd(), "x.prom"));
  });
  test.each<[string, RegExp]>([
    ["", /needs a file name/],
    ["/nonexistent-xw/x.prom", /^--prometheus-file: directory \/nonexistent-xw does not exist$/],
    [tmpdir(), /is a directory$/],
  ])("refuses %p", (value, message) => {
    expect(usageFailure(() => parsePrometheusFile(value))).toMatch(message);
  });
});

describe("expressions: the words after the options, and --drop", () => {
  test("words (`_`) make one expression; --drop repeats; both are described", () => {
    const f = parseFilters(read(["-i", "eth0", "udp", "port", "53", "--drop", "tcp port 23", "--drop=icmp"]));
    expect(f.expression).toBe("udp port 53");
    expect(f.drop).toEqual(["tcp port 23", "icmp"]);
    expect(describeFilters(f)).toBe('dropping "tcp port 23" or "icmp" · expression "udp port 53"');
    expect(parseFilters(read([])).expression).toBeUndefined();
    expect(usageFailure(() => parseFilters(read(["--drop", " "])))).toBe("--drop needs an expression");
  });

  test("expression, --drop and --yes are known options", () => {
    const raw = ["udp", "--drop", "icmp", "--yes", "port", "53"];
    const args = parseCommandArgs(raw, { ...filterArgs, ...blockArgs });
    expect(args).toMatchObject({ drop: "icmp", yes: true, expression: "udp", _: ["udp", "port", "53"] });
    expect(parseFilters(args)).toMatchObject({ expression: "udp port 53", drop: ["icmp"] });
  });

  describe.skipIf(!Bun.which("tcpdump"))("compiled by tcpdump", () => {
    async function compileFailure(words: string[], raw: string[], yes = false): Promise<string> {
      try {
        await compileFilters(parseFilters(read([...raw, "--", ...words])), yes);
      } catch (err) {
        expect(err).toBeInstanceOf(XwError);
        expect((err as XwError).exitCode).toBe(2);
        return (err as XwError).message;
      }
      throw new Error("expected a usage error");
    }

    test("a valid expression and --drop set the program's classic programs; no expression changes nothing", async () => {
      const f = await compileFilters(parseFilters(read(["--drop", "icmp", "--drop", "arp", "udp port 53"])), false);
      expect(f.config.expression?.match).toHaveLength(20);
      expect(f.config.expression?.drop?.length).toBeGreaterThan(3);
      const none = parseFilters(read([]));
      expect(await compileFilters(none, false)).toBe(none);
    });

    test("invalid: tcpdump's own message, naming the --drop at fault", async () => {
      expect(await compileFailure(["udp", "port"], [])).toBe('invalid expression "udp port": tcpdump: can\'t parse filter expression: syntax error');
      expect(await compileFailure([], ["--drop", "icmp", "--drop", "tcp port x"])).toMatch(/^invalid expression "tcp port x": tcpdump: /);
    });

    test("a --drop that matches everything needs --yes", async () => {
      expect(await compileFailure([], ["--drop", "ip or not ip"])).toBe('--drop "ip or not ip" matches every frame: nothing would get through');
      expect(await compileFailure([], ["--drop", "tcp", "--drop", "not tcp"])).toMatch(/^--drop "\(tcp\) or \(not tcp\)" matches every frame/);
      const f = await compileFilters(parseFilters(read(["--drop", "ip or not ip"])), true);
      expect(f.config.expression?.drop).toEqual([{ code: 6, jt: 0, jf: 0, k: 262144 }]);
    });
  });
});
