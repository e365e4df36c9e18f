/**
 * bpftool's command syntax and the parsers of what it prints; one-shot
 * commands run here, the long-lived batch process is in bpftool-batch.ts.
 */
import { basename, dirname } from "node:path";
import { XwError } from "../errors";
import { isObject, jsonReader, type JsonReader } from "./json";
import { installFix, lastLines, run } from "./run";

/** bpftool takes bytes as separate "hex" arguments. */
export function hexArgs(bytes: Uint8Array): string[] {
  return ["hex", ...Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))];
}

/** A u32 key as bpftool's bytes (host order, little-endian here). */
function u32Key(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}

/*
 * Lines for `bpftool batch`. Pin paths are bpffs paths xdpwatch made (no
 * spaces, no `#`, which batch mode would read as a comment).
 */

/** `map lookup` of one u32 key. */
export function lookupLine(pin: string, key: number): string {
  return `map lookup pinned ${pin} key ${hexArgs(u32Key(key)).join(" ")}`;
}

export function updateLine(pin: string, key: Uint8Array, value: Uint8Array): string {
  return `map update pinned ${pin} key ${hexArgs(key).join(" ")} value ${hexArgs(value).join(" ")}`;
}

export function dumpLine(pin: string): string {
  return `map dump pinned ${pin}`;
}

export interface LoadOptions {
  object: string;
  /** bpffs directory the program is pinned under (one file per program). */
  progDir: string;
  /** bpffs directory the object's maps are pinned under. */
  mapDir: string;
  /** Where the program is pinned in progDir: its id is returned. */
  prog: string;
  /** Batch lines (updateLine) run once the maps are pinned. */
  updates?: readonly string[];
}

/** A file name as one batch word: quoted; batch mode cannot take `#` (a comment), a double quote or a line break in it. */
function batchWord(name: string): string {
  if (/[#"\r\n]/.test(name))
    throw new XwError(`bpftool's batch mode cannot take the file name ${JSON.stringify(name)}`, { hint: "rename the object file: no #, \" or line break" });
  return `"${name}"`;
}

export interface Loaded {
  /** The id of the program pinned at LoadOptions.prog. */
  id: number;
  /** bpftool's own version ("7.1.0"), asked in the same process. */
  version: string;
}

/**
 * Loads every program of an object, pins programs and maps, runs `updates`,
 * and returns the id of the program pinned at `prog`: one bpftool process for
 * all, as a start-up waits for each. The verifier's log is kept on failure.
 */
export async function loadAll(opts: LoadOptions): Promise<Loaded> {
  // Named from its own directory: a TMPDIR may hold what batch mode cannot take.
  const lines = [
    `prog loadall ${batchWord(basename(opts.object))} ${opts.progDir} type xdp pinmaps ${opts.mapDir}`,
    ...(opts.updates ?? []),
    `prog show pinned ${opts.prog}`,
    "version",
  ];
  const res = await run(["bpftool", "-j", "batch", "file", "-"], { input: `${lines.join("\n")}\n`, allowFailure: true, timeoutMs: 60_000, cwd: dirname(opts.object) });
  // A bpftool that runs answers a JSON array, whatever fails in it; anything else (a distribution's
  // wrapper without the tools for this kernel, say) is a bpftool that does not run.
  if (!res.stdout.trimStart().startsWith("["))
    throw new XwError(`bpftool does not run: ${lastLines(res.stderr || res.stdout, 1)}`, { hint: `fix: ${installFix("bpftool")}` });
  // Not the exit status: batch mode can fail after its last command (on a stale errno). The answers say.
  const r = jsonReader("bpftool batch");
  const answers = r.objects(r.parse(res.stdout), "the answer");
  const done = answers.filter((a) => a.command !== undefined).map((a) => a.output);
  const [shown, version] = [done[lines.length - 2], done[lines.length - 1]];
  if (isObject(shown) && isObject(version) && typeof version.version === "string") return { id: progInfo(r, shown, "prog show").id, version: version.version };
  // Batch mode stops at the first command that fails: the last answered. Its error, or batch mode's own.
  const error = [...done, ...answers].map((o) => (isObject(o) && typeof o.error === "string" ? o.error : undefined)).find((e) => e !== undefined) ?? "";
  if (done.length > 1) throw new XwError(`bpftool ${lines[done.length - 1]!.split(" ", 2).join(" ")} failed after loading ${opts.object}: ${error}`);
  const out = [res.stderr.trim(), error].filter(Boolean).join("\n") || res.stdout.trim();
  const verifier = /processed \d+ insns|R\d+ |invalid|verifier/i.test(out);
  throw new XwError(
    verifier ? `the kernel's verifier rejected the program:\n${lastLines(out, 8)}` : `loading ${opts.object} failed: ${lastLines(out, 2)}`,
    { hint: verifier ? "the program in bpf/ was changed; fix it or use the embedded object" : undefined },
  );
}

/**
 * Whether this bpftool writes its output a line at a time, or may write it in
 * blocks to a file: main() sets stdout line-buffered in v5.16 (the
 * libbpf/bpftool mirror's first) and every later release; v5.10 does not, and
 * the versions between are taken to buffer.
 */
export function writesLines(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 5 || (major === 5 && minor >= 16);
}

/** One-shot update; arguments can be longer than batch mode's line limit. */
export async function updateMap(pin: string, key: Uint8Array, value: Uint8Array): Promise<void> {
  await run(["bpftool", "map", "update", "pinned", pin, "key", ...hexArgs(key), "value", ...hexArgs(value)]);
}

export interface ProgInfo {
  id: number;
  name?: string;
  tag?: string;
  /** Present when kernel.bpf_stats_enabled has been on. */
  run_time_ns?: number;
  run_cnt?: number;
}

function progInfo(r: JsonReader, x: unknown, path: string): ProgInfo {
  const o = r.object(x, path);
  return {
    id: r.number(o.id, `${path} id`),
    name: r.optionalString(o.name, `${path} name`),
    tag: r.optionalString(o.tag, `${path} tag`),
    run_time_ns: r.optionalNumber(o.run_time_ns, `${path} run_time_ns`),
    run_cnt: r.optionalNumber(o.run_cnt, `${path} run_cnt`),
  };
}

/** Undefined when nothing is pinned there. */
export async function showPinnedProg(pin: string): Promise<ProgInfo | undefined> {
  const res = await run(["bpftool", "-j", "prog", "show", "pinned", pin], { allowFailure: true });
  if (res.exitCode !== 0) return undefined;
  const r = jsonReader("bpftool prog show");
  return progInfo(r, r.parse(res.stdout), "the program");
}

export async function showProg(id: number): Promise<ProgInfo | undefined> {
  const res = await run(["bpftool", "-j", "prog", "show", "id", String(id)], { allowFailure: true });
  if (res.exitCode !== 0) return undefined;
  const r = jsonReader("bpftool prog show");
  return progInfo(r, r.parse(res.stdout), "the program");
}

/**
 * Runs pinned programs on frames in the kernel, `repeat` times each, in one
 * bpftool process; returns each run's ns per packet (rounded down by the
 * kernel), in order. `cpu`: run bpftool, and so the programs, on that CPU
 * only (through taskset).
 */
export async function runProgs(runs: readonly { pin: string; frameFile: string }[], repeat: number, cpu?: number): Promise<number[]> {
  const pinTo = cpu === undefined ? [] : ["taskset", "-c", String(cpu)];
  const lines = runs.map((r) => `prog run pinned ${r.pin} data_in ${r.frameFile} repeat ${repeat}`);
  const res = await run([...pinTo, "bpftool", "-j", "batch", "file", "-"], { input: `${lines.join("\n")}\n`, timeoutMs: 600_000 });
  const r = jsonReader("bpftool prog run");
  const answers = r.objects(r.parse(res.stdout), "the answer");
  if (answers.length !== runs.length) throw new XwError(`bpftool answered ${answers.length} of ${runs.length} program runs`);
  return answers.map((a, i) => r.number(r.object(a.output, `run ${i} output`).duration, `run ${i} duration`));
}

/** Pins a loaded program by id: the kernel then keeps it even when nothing else holds it. */
export async function pinProgram(id: number, pin: string): Promise<void> {
  await run(["bpftool", "prog", "pin", "id", String(id), pin]);
}

/** One-shot `map lookup` of a u32 key in JSON mode: the value's exact bytes, also for a map with BTF. */
export async function lookupBytes(pin: string, key: number): Promise<Uint8Array> {
  const res = await run(["bpftool", "-j", "map", "lookup", "pinned", pin, "key", ...hexArgs(u32Key(key))]);
  const r = jsonReader("bpftool map lookup");
  return Uint8Array.from(r.strings(r.object(r.parse(res.stdout), "the answer").value, "value"), (b) => Number.parseInt(b, 16));
}
