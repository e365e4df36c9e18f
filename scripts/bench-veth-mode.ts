#!/usr/bin/env bun
/**
 * What an XDP program in native or generic mode costs real TCP traffic through
 * a veth pair: iperf3 from one namespace to another, with nothing attached,
 * the empty XDP program, and xdpwatch watching, in each mode. Rounds are
 * interleaved so that drift on a shared machine hits every row alike.
 *
 *   sudo node_modules/.bin/bun scripts/bench-veth-mode.ts [--rounds 3] [--seconds 3]
 *
 * Uses only 198.18.200.0/30 inside two namespaces it makes and removes.
 */
import { join } from "node:path";
import { BIN, ROOT, sh } from "./lib/netns";
import { scriptOptions, usageError } from "./lib/args";
import { requireTools, runMain } from "./lib/traffic";

const USAGE = "usage: bun scripts/bench-veth-mode.ts [--rounds 3] [--seconds 3]";
const values = scriptOptions(USAGE, { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "3" } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
if (!Number.isInteger(rounds) || rounds < 1 || !(seconds > 0)) usageError(USAGE, "--rounds is a whole number above 0, --seconds a number above 0");
const EMPTY = join(ROOT, "dist/bpf/empty.o");

type Setup = { name: string; mode?: "native" | "generic"; program?: "empty" | "xdpwatch" };
const SETUPS: Setup[] = [
  { name: "no XDP" },
  { name: "empty, native", mode: "native", program: "empty" },
  { name: "empty, generic", mode: "generic", program: "empty" },
  { name: "xdpwatch watch, native", mode: "native", program: "xdpwatch" },
  { name: "xdpwatch watch, generic", mode: "generic", program: "xdpwatch" },
];

async function must(argv: string[]): Promise<string> {
  const r = await sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One iperf3 run from the client namespace to the server's, under `setup`; Gbit/s received. */
async function measure(server: string, client: string, setup: Setup): Promise<number> {
  const keyword = setup.mode === "native" ? "xdpdrv" : "xdpgeneric";
  let watch: Bun.Subprocess | undefined;
  if (setup.program === "empty") await must(["ip", "-n", server, "link", "set", "dev", "xwv0", keyword, "obj", EMPTY, "sec", "xdp"]);
  if (setup.program === "xdpwatch") {
    watch = Bun.spawn(["ip", "netns", "exec", server, BIN, "watch", "-i", "xwv0", "--mode", setup.mode!, "--json", "--quiet"], { stdout: "ignore", stderr: "pipe" });
    for (let i = 0; i < 100 && !(await sh(["ip", "-n", server, "link", "show", "dev", "xwv0"])).stdout.includes("prog/xdp"); i++) await Bun.sleep(30);
  }
  try {
    const out = await must(["ip", "netns", "exec", client, "iperf3", "-c", "198.18.200.1", "-t", String(seconds), "-J"]);
    return (JSON.parse(out).end.sum_received.bits_per_second as number) / 1e9;
  } finally {
    if (watch) {
      watch.kill("SIGINT");
      if ((await watch.exited) !== 0) throw new Error(`xdpwatch watch failed: ${await new Response(watch.stderr as ReadableStream).text()}`);
    }
    if (setup.program === "empty") await must(["ip", "-n", server, "link", "set", "dev", "xwv0", keyword, "off"]);
  }
}

requireTools("bench-veth-mode", ["iperf3", "ip"]);
await runMain("bench-veth-mode", async () => {
  const id = Math.random().toString(16).slice(2, 6);
  const server = `xwv-${id}s`;
  const client = `xwv-${id}c`;
  let iperf: Bun.Subprocess | undefined;
  try {
    await must(["ip", "netns", "add", server]);
    await must(["ip", "netns", "add", client]);
    await must(["ip", "-n", server, "link", "add", "xwv0", "type", "veth", "peer", "name", "xwv1", "netns", client]);
    await must(["ip", "-n", server, "addr", "add", "198.18.200.1/30", "dev", "xwv0"]);
    await must(["ip", "-n", client, "addr", "add", "198.18.200.2/30", "dev", "xwv1"]);
    for (const [ns, dev] of [[server, "xwv0"], [client, "xwv1"], [server, "lo"], [client, "lo"]] as const) await must(["ip", "-n", ns, "link", "set", dev, "up"]);
    iperf = Bun.spawn(["ip", "netns", "exec", server, "iperf3", "-s", "-B", "198.18.200.1"], { stdout: "ignore", stderr: "ignore" });
    await Bun.sleep(500);
    const results = new Map<string, number[]>(SETUPS.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++)
      for (const setup of SETUPS) results.get(setup.name)!.push(await measure(server, client, setup));
    const base = median(results.get("no XDP")!);
    console.log(`TCP through a veth pair, iperf3 ${seconds} s × ${rounds} interleaved rounds (median Gbit/s, and relative to no XDP)`);
    for (const setup of SETUPS) {
      const m = median(results.get(setup.name)!);
      console.log(`${setup.name.padEnd(26)} ${m.toFixed(2).padStart(7)} Gbit/s  ${(m / base).toFixed(2)}×   (runs: ${results.get(setup.name)!.map((x) => x.toFixed(2)).join(", ")})`);
    }
    return 0;
  } finally {
    iperf?.kill();
    await sh(["ip", "netns", "del", server]);
    await sh(["ip", "netns", "del", client]);
  }
});
