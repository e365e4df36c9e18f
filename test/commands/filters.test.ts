/** In-kernel filters and --block on a real veth pair: exact counts, and blocked frames never reach the host. */
import { describe, expect, test } from "bun:test";
import { arpFrame, ipv4Frame, ipv6Frame } from "../support/frames";
import { capture, kernelReady, ndjson, runDuring, xdpwatch, useVeth } from "../support/kernel";

const hasTcpdump = Bun.which("tcpdump") !== null;


const tally = (items: string[]) => items.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

describe.skipIf(!kernelReady)("filters and --block on a real veth pair", () => {
  const lab = useVeth();

  test.skipIf(!hasTcpdump)("--block: 20 frames from 198.18.3.5 and 10 from 2001:db8:3::5 never reach the host, 20 from 198.18.4.5 and 10 from 2001:db8:4::5 all do", async () => {
    const frames = [
      ...Array.from({ length: 20 }, () => [ipv4Frame({ src: "198.18.3.5" }), ipv4Frame({ src: "198.18.4.5" })]).flat(),
      // The last frame sent is one that passes: once tcpdump has all 30 it has seen everything that got through.
      ...Array.from({ length: 10 }, () => [ipv6Frame({ src: "2001:db8:3::5" }), ipv6Frame({ src: "2001:db8:4::5" })]).flat(),
    ];
    let captured: Promise<string[]> | undefined;
    const { code, stdout, stderr } = await runDuring(
      ["watch", "-i", lab.veth.host, "--json", "--block", "198.18.3.0/24", "--block=2001:db8:3::/48"],
      lab.veth,
      async () => {
        captured = (await capture(lab.veth.host, 30)).packets;
        await lab.veth.send(frames);
        return frames.length;
      },
    );
    expect(code, stderr).toBe(0);
    expect(tally(await captured!)).toEqual({ "198.18.4.5": 20, "2001:db8:4::5": 10 });
    const records = ndjson(stdout);
    expect(tally(records.filter((r) => r.type === "packet").map((p) => p.src as string))).toEqual({ "198.18.4.5": 20, "2001:db8:4::5": 10 });
    expect(records.at(-1)).toMatchObject({ type: "summary", seen: 60, blocked: 30, logged: 30, lost: 0, exact: true });
  }, 30_000);

  test("--block on top: dropped frames are counted as blocked, not per source", async () => {
    const { code, stdout } = await runDuring(["top", "-i", lab.veth.host, "--json", "--block", "198.18.3.0/24"], lab.veth, async () => {
      await lab.veth.send([ipv4Frame({ src: "198.18.3.5" }), ipv4Frame({ src: "198.18.3.6" }), ipv4Frame({ src: "198.18.4.5" })]);
      return 3;
    });
    expect(code).toBe(0);
    const records = ndjson(stdout);
    expect((records.at(-2)!.sources as { src: string }[]).map((s) => s.src)).toEqual(["198.18.4.5"]);
    expect(records.at(-1)).toMatchObject({ type: "summary", seen: 3, blocked: 2, counted: 1, exact: true });
  }, 30_000);

  interface FilterCase {
    name: string;
    args: string[];
    frames: Uint8Array[];
    /** Summary counts that must match exactly. */
    want: Record<string, number>;
    /** Sources of the packets printed, with how many each. */
    printed: Record<string, number>;
  }

  test.each<FilterCase>([
    {
      name: "--src, IPv4 and IPv6 ranges",
      args: ["--src", "198.18.7.0/24", "--src", "2001:db8:7::/48"],
      frames: [
        ...Array.from({ length: 6 }, (_, i) => ipv4Frame({ src: `198.18.7.${i + 1}` })),
        ...Array.from({ length: 4 }, () => ipv4Frame({ src: "198.18.8.1" })),
        ...Array.from({ length: 3 }, () => ipv6Frame({ src: "2001:db8:7::1" })),
        ...Array.from({ length: 2 }, () => ipv6Frame({ src: "2001:db8:8::1" })),
        arpFrame(),
      ],
      want: { seen: 16, logged: 9, filtered: 6, not_ip: 1 },
      printed: { "198.18.7.1": 1, "198.18.7.2": 1, "198.18.7.3": 1, "198.18.7.4": 1, "198.18.7.5": 1, "198.18.7.6": 1, "2001:db8:7::1": 3 },
    },
    {
      name: "--proto by name, as a comma list",
      args: ["--proto", "tcp,icmp"],
      frames: [
        ...Array.from({ length: 5 }, () => ipv4Frame({ src: "198.18.9.1", proto: "udp" })),
        ...Array.from({ length: 4 }, () => ipv4Frame({ src: "198.18.9.2", proto: "tcp" })),
        ...Array.from({ length: 3 }, () => ipv4Frame({ src: "198.18.9.3", proto: "icmp" })),
      ],
      want: { seen: 12, logged: 7, filtered: 5 },
      printed: { "198.18.9.2": 4, "198.18.9.3": 3 },
    },
    {
      name: "--proto by number",
      args: ["--proto", "17"],
      frames: [ipv4Frame({ src: "198.18.9.1", proto: "udp" }), ipv6Frame({ src: "2001:db8::1", proto: "udp" }), ipv4Frame({ src: "198.18.9.2", proto: "tcp" })],
      want: { seen: 3, logged: 2, filtered: 1 },
      printed: { "198.18.9.1": 1, "2001:db8::1": 1 },
    },
    {
      name: "--port matches source or destination; frames without ports never match",
      args: ["--port", "443", "--port=8443"],
      frames: [
        ...Array.from({ length: 3 }, () => ipv4Frame({ src: "198.18.10.1", dport: 443 })),
        ...Array.from({ length: 2 }, () => ipv6Frame({ src: "2001:db8::2", proto: "tcp", sport: 443, dport: 50000 })),
        ipv4Frame({ src: "198.18.10.3", dport: 8443 }),
        ...Array.from({ length: 4 }, () => ipv4Frame({ src: "198.18.10.4", sport: 40000, dport: 53 })),
        ...Array.from({ length: 2 }, () => ipv4Frame({ src: "198.18.10.5", proto: "icmp" })),
      ],
      want: { seen: 12, logged: 6, filtered: 6 },
      printed: { "198.18.10.1": 3, "2001:db8::2": 2, "198.18.10.3": 1 },
    },
    {
      name: "--sample 4 logs the 1st, 5th, 9th … matching frame of a CPU",
      args: ["--sample", "4"],
      frames: Array.from({ length: 20 }, (_, i) => ipv4Frame({ src: `198.18.11.${i + 1}` })),
      want: { seen: 20, logged: 5, sampled_out: 15 },
      printed: { "198.18.11.1": 1, "198.18.11.5": 1, "198.18.11.9": 1, "198.18.11.13": 1, "198.18.11.17": 1 },
    },
    {
      name: "filters and --sample together: sampling counts only frames that matched",
      args: ["--src", "198.18.12.0/24", "--sample", "2"],
      frames: Array.from({ length: 10 }, (_, i) => ipv4Frame({ src: `198.18.${i % 2 === 0 ? 12 : 13}.${i + 1}` })),
      want: { seen: 10, filtered: 5, logged: 3, sampled_out: 2 },
      printed: { "198.18.12.1": 1, "198.18.12.5": 1, "198.18.12.9": 1 },
    },
  ])("watch $name", async ({ args, frames, want, printed }) => {
    const { code, stdout, stderr } = await runDuring(["watch", "-i", lab.veth.host, "--json", ...args], lab.veth, async () => {
      // One CPU: the kernel samples per CPU, so the logged frames are known exactly.
      await lab.veth.send(frames, { cpu: 0 });
      return frames.length;
    });
    expect(code, stderr).toBe(0);
    const records = ndjson(stdout);
    expect(tally(records.filter((r) => r.type === "packet").map((p) => p.src as string))).toEqual(printed);
    expect(records.at(-1)).toMatchObject({ type: "summary", ...want, lost: 0, exact: true });
    expect(stderr).toContain("filters: ");
  }, 30_000);

  test.each([
    ["watch", ["--block", "198.18.300.0/24"], /--block: "198\.18\.300\.0\/24" is not an IPv4 or IPv6 address or CIDR/],
    ["top", ["--block", "2001:db8::/129"], /--block: "2001:db8::\/129" is not/],
    ["attach", ["--block", "198.18.3"], /--block: "198\.18\.3" is not an IPv4 address in dotted-quad form/],
    ["watch", ["--src", "not-a-cidr"], /--src: "not-a-cidr" is not/],
    ["watch", ["--port", "0"], /--port must be a whole number from 1 to 65535, not "0"/],
    ["top", ["--port", "65536"], /--port must be a whole number from 1 to 65535, not "65536"/],
    ["watch", ["--proto", "bogus"], /--proto: "bogus" is not a protocol name/],
    ["top", ["--proto", "tcp,"], /--proto: empty value in "tcp,"/],
    ["watch", ["--sample", "0"], /--sample must be a whole number from 1 to 4294967295, not "0"/],
    ["top", ["--sample", "2"], /unknown option --sample/],
    ["attach", ["--src", "198.18.0.0/15"], /unknown option --src/],
    ["top", ["--interval", "0"], /--interval must be a number of seconds greater than 0/],
    ["top", ["--limit", "0"], /--limit must be a whole number from 1 to 16384/],
    ["watch", ["--prometheus-file", "/nonexistent-xw/x.prom"], /--prometheus-file: directory \/nonexistent-xw does not exist/],
    ["top", ["--by", "port"], /--by: "port" is not a key/],
    ["top", ["--by", "src/40"], /an IPv4 prefix is 0 to 32 bits, not 40/],
    ["attach", ["--by", "proto/8"], /only src and dst take a prefix/],
  ])("%s %p: exit 2, one error line, nothing attached", async (cmd, args, message) => {
    const r = await xdpwatch([cmd, "-i", lab.veth.host, ...args]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^xdpwatch: error: /);
    expect(lines[0]).toMatch(message);
    // Beside the error, at most the hint that says what would be valid.
    expect(lines.slice(1).every((l) => l.startsWith("xdpwatch: hint: "))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(r.stdout).toBe("");
  });
});
