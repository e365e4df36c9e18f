/**
 * tcpdump expressions through the binary on a real veth pair: what `watch`
 * logs is what `tcpdump -r` selects from the same frames (among the IP frames
 * the program logs at all), `--drop` drops exactly what its expression
 * matches, and bad expressions are refused before anything is attached.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipv4Frame, ipv6Frame } from "../support/frames";
import { frameCorpus, generatedExpressions, HAND_EXPRESSIONS, pcapJudge, withDistinctLengths } from "../support/expressions";
import { kernelReady, leftovers, ndjson, record, runDuring, useVeth, xdpwatch, type Veth } from "../support/kernel";

const ready = kernelReady && Bun.which("tcpdump") !== null;
const GENERATED = 200;

/** The lengths of the packets `watch` logs while the frames go through, sorted. */
async function loggedLengths(veth: Veth, frames: readonly Uint8Array[], expression?: string): Promise<number[]> {
  const args = ["watch", "-i", veth.host, "--json", ...(expression === undefined ? [] : ["--", expression])];
  const r = await runDuring(args, veth, async () => {
    await veth.send(frames);
    return frames.length;
  });
  if (r.code !== 0) throw new Error(`watch ${expression ?? ""} failed: ${r.stderr}`);
  return ndjson(r.stdout).filter((p) => p.type === "packet").map((p) => p.len as number).sort((a, b) => a - b);
}

describe.skipIf(!ready)("watch EXPRESSION logs what tcpdump selects, through a veth pair", () => {
  const lab = useVeth();
  const frames = withDistinctLengths(frameCorpus(420, 12));
  const judge = pcapJudge(frames);
  let generated: string[] = [];
  beforeAll(async () => {
    generated = await generatedExpressions(GENERATED, 9);
  }, 60_000);
  afterAll(() => judge.remove());

  async function check(list: readonly string[]) {
    // Which frames the program logs with no expression (IP it can parse); lengths name frames.
    const loggable = new Set(await loggedLengths(lab.veth, frames));
    expect(loggable.size).toBeGreaterThan(250);
    const differences: string[] = [];
    for (const expression of list) {
      const selected = (await judge.select(expression)).map((i) => frames[i]!.length).filter((len) => loggable.has(len));
      const logged = await loggedLengths(lab.veth, frames, expression);
      const want = selected.sort((a, b) => a - b);
      if (JSON.stringify(logged) !== JSON.stringify(want)) {
        const missing = want.filter((l) => !logged.includes(l));
        const extra = logged.filter((l) => !want.includes(l));
        differences.push(`"${expression}": tcpdump selects ${want.length}, watch logged ${logged.length}; missing lengths ${missing.slice(0, 5)}, extra ${extra.slice(0, 5)}`);
        if (differences.length > 5) break;
      }
    }
    expect(differences).toEqual([]);
  }

  test(`${HAND_EXPRESSIONS.length} hand-written expressions`, async () => {
    await check(HAND_EXPRESSIONS);
  }, 300_000);

  test(`${GENERATED} generated expressions`, async () => {
    expect(generated).toHaveLength(GENERATED);
    await check(generated);
  }, 600_000);
});

describe.skipIf(!ready)("--drop on a real veth pair", () => {
  const lab = useVeth();

  test("--drop 'udp dst port 53' drops exactly those: tcpdump on the receiving end sees all the rest, none of them", async () => {
    const frames = [
      ...Array.from({ length: 20 }, (_, i) => ipv4Frame({ src: `198.18.7.${i + 1}`, dport: 53 })),
      ...Array.from({ length: 10 }, (_, i) => ipv4Frame({ src: `198.18.8.${i + 1}`, dport: 5353 })),
      ...Array.from({ length: 5 }, (_, i) => ipv4Frame({ src: `198.18.9.${i + 1}`, sport: 53, dport: 40000 })),
      ...Array.from({ length: 5 }, (_, i) => ipv6Frame({ src: `2001:db8::${i + 1}`, dport: 53 })),
      ...Array.from({ length: 5 }, (_, i) => ipv4Frame({ src: `198.18.10.${i + 1}`, proto: "tcp", dport: 53 })),
    ];
    const capture = await record(lab.veth.host);
    const r = await runDuring(["watch", "-i", lab.veth.host, "--json", "--drop", "udp dst port 53"], lab.veth, async () => {
      await lab.veth.send(frames);
      return frames.length;
    });
    const seen = await capture.stop();
    expect(r.code, r.stderr).toBe(0);
    const hex = (f: Uint8Array) => Buffer.from(f).toString("hex");
    const dropped = frames.slice(0, 20).concat(frames.slice(35, 40));
    expect(seen.map(hex).sort()).toEqual(frames.filter((f) => !dropped.includes(f)).map(hex).sort());
    expect(ndjson(r.stdout).at(-1)).toMatchObject({ type: "summary", seen: 45, blocked: 25, logged: 20 });
    expect(r.stderr).toContain('dropping "udp dst port 53"');
  }, 30_000);
});

describe.skipIf(!ready)("top EXPRESSION on a real veth pair", () => {
  const lab = useVeth();

  test("top 'tcp[tcpflags] & tcp-syn != 0' counts the SYNs per source exactly; the rest is filtered", async () => {
    const syn = (src: string) => ipv4Frame({ src, proto: "tcp", dport: 80 });
    // The same frame with ACK instead of SYN (TCP flags at byte 14 + 20 + 13).
    const ack = (src: string) => Uint8Array.from(syn(src), (b, i) => (i === 47 ? 0x10 : b));
    const frames = [
      ...Array.from({ length: 4 }, () => syn("198.18.11.1")),
      ...Array.from({ length: 3 }, () => syn("198.18.11.2")),
      ...Array.from({ length: 5 }, () => ack("198.18.11.2")),
      ...Array.from({ length: 6 }, () => ack("198.18.11.3")),
    ];
    const r = await runDuring(["top", "-i", lab.veth.host, "--json", "--interval", "0.2", "tcp[tcpflags] & tcp-syn != 0"], lab.veth, async () => {
      await lab.veth.send(frames);
      return frames.length;
    });
    expect(r.code, r.stderr).toBe(0);
    const records = ndjson(r.stdout);
    const last = records.filter((x) => x.type === "sources").at(-1)!;
    expect((last.sources as Record<string, unknown>[]).map((x) => [x.src, x.packets])).toEqual([["198.18.11.1", 4], ["198.18.11.2", 3]]);
    expect(records.at(-1)).toMatchObject({ type: "summary", seen: 18, counted: 7, filtered: 11, exact: true });
  }, 30_000);
});

describe.skipIf(!ready)("expressions refused before anything is attached", () => {
  const lab = useVeth();

  test.each<[string[], RegExp]>([
    [["udp", "port"], /^xdpwatch: error: invalid expression "udp port": tcpdump: can't parse filter expression: syntax error$/m],
    [["--drop", "tcp port 99999"], /^xdpwatch: error: invalid expression "tcp port 99999": tcpdump: illegal port number 99999 > 65535$/m],
    [["--", "ip6 protochain 6"], /cannot evaluate "ip6 protochain 6" in XDP: it compiles to a loop \(a backward jump, as `protochain` does\)/],
    [["inbound"], /cannot evaluate "inbound" in XDP: it reads Linux socket metadata/],
    [["--drop", "ip or not ip"], /--drop "ip or not ip" matches every frame: nothing would get through\nxdpwatch: hint: if that is what you want, add --yes/],
    [["--drop", "udp", "--drop", "not udp"], /--drop "\(udp\) or \(not udp\)" matches every frame/],
  ])("%p: exit 2, one clear line", async (words, message) => {
    for (const command of ["watch", "top", "attach"]) {
      const r = await xdpwatch([command, "-i", lab.veth.host, ...words]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(await leftovers(lab.veth.host)).toEqual([]);
    }
  }, 30_000);

  test("--yes lets a --drop that matches everything through", async () => {
    const r = await runDuring(["watch", "-i", lab.veth.host, "--json", "--drop", "ip or not ip", "--yes"], lab.veth, async () => {
      await lab.veth.send([ipv4Frame({ src: "198.18.5.5" }), ipv6Frame({ src: "2001:db8::5" })]);
      return 2;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(ndjson(r.stdout).at(-1)).toMatchObject({ type: "summary", seen: 2, blocked: 2 });
  }, 30_000);

  test("without tcpdump on PATH: the package to install; doctor lists it as needed for expressions only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-notcpdump-"));
    try {
      mkdirSync(join(dir, "bin"));
      for (const tool of ["ip", "bpftool"]) symlinkSync(Bun.which(tool)!, join(dir, "bin", tool));
      const env = { PATH: join(dir, "bin") };
      const r = await xdpwatch(["watch", "-i", lab.veth.host, "udp port 53"], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("xdpwatch: error: tcpdump not found on PATH: xdpwatch needs it to compile filter expressions\nxdpwatch: hint: fix: apt-get install tcpdump (Debian/Ubuntu) · dnf install tcpdump (RHEL/Fedora)");
      expect(await leftovers(lab.veth.host)).toEqual([]);
      const doctor = await xdpwatch(["doctor"], { env });
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).toMatch(/! tcpdump +not found: only filter expressions need it \(watch\/top\/attach EXPRESSION, --drop\)\n +fix: apt-get install tcpdump/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
