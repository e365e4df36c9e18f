/** The one place that runs bpftool: one-shot commands and the long-lived batch reader. */
import * as v from "valibot";
import { XwError } from "../errors";
import { log } from "../log";
import { lastLines, requireTool, run } from "./run";

/** bpftool takes bytes as separate "hex" arguments. */
export function hexArgs(bytes: Uint8Array): string[] {
  return ["hex", ...Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))];
}

export interface LoadOptions {
  object: string;
  /** bpffs directory the program is pinned under (one file per program). */
  progDir: string;
  /** bpffs directory the object's maps are pinned under. */
  mapDir: string;
}

/** Loads every program of an object and pins programs and maps; the verifier's log is kept on failure. */
export async function loadAll(opts: LoadOptions): Promise<void> {
  const res = await run(
    ["bpftool", "prog", "loadall", opts.object, opts.progDir, "type", "xdp", "pinmaps", opts.mapDir],
    { allowFailure: true, timeoutMs: 60_000 },
  );
  if (res.exitCode !== 0) {
    const out = res.stderr.trim() || res.stdout.trim();
    const verifier = /processed \d+ insns|R\d+ |invalid|verifier/i.test(out);
    throw new XwError(
      verifier ? `the kernel's verifier rejected the program:\n${lastLines(out, 8)}` : `loading ${opts.object} failed: ${lastLines(out, 2)}`,
      { hint: verifier ? "the program in bpf/ was changed; fix it or use the embedded object" : undefined },
    );
  }
}

/** Commands that need no answer, one bpftool process for all (each line at most 4,096 arguments). */
export async function runBatch(lines: readonly string[]): Promise<void> {
  await run(["bpftool", "batch", "file", "-"], { input: `${lines.join("\n")}\n` });
}

/** One-shot update; arguments can be longer than batch mode's line limit. */
export async function updateMap(pin: string, key: Uint8Array, value: Uint8Array): Promise<void> {
  await run(["bpftool", "map", "update", "pinned", pin, "key", ...hexArgs(key), "value", ...hexArgs(value)]);
}

const ProgInfoSchema = v.looseObject({
  id: v.number(),
  name: v.optional(v.string()),
  tag: v.optional(v.string()),
  run_time_ns: v.optional(v.number()),
  run_cnt: v.optional(v.number()),
});
export type ProgInfo = v.InferOutput<typeof ProgInfoSchema>;

function parseJson<T extends v.GenericSchema>(schema: T, text: string, what: string): v.InferOutput<T> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new XwError(`unexpected output from ${what}: ${text.slice(0, 120)}`);
  }
  const parsed = v.safeParse(schema, data);
  if (!parsed.success) throw new XwError(`unexpected output from ${what}: ${v.summarize(parsed.issues)}`);
  return parsed.output;
}

/** Undefined when nothing is pinned there. */
export async function showPinnedProg(pin: string): Promise<ProgInfo | undefined> {
  const res = await run(["bpftool", "-j", "prog", "show", "pinned", pin], { allowFailure: true });
  if (res.exitCode !== 0) return undefined;
  return parseJson(ProgInfoSchema, res.stdout, "bpftool prog show");
}

export async function showProg(id: number): Promise<ProgInfo | undefined> {
  const res = await run(["bpftool", "-j", "prog", "show", "id", String(id)], { allowFailure: true });
  if (res.exitCode !== 0) return undefined;
  return parseJson(ProgInfoSchema, res.stdout, "bpftool prog show");
}

const ProgRunsSchema = v.array(v.looseObject({ output: v.looseObject({ retval: v.number(), duration: v.number() }) }));

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
  const answers = parseJson(ProgRunsSchema, res.stdout, "bpftool prog run");
  if (answers.length !== runs.length) throw new XwError(`bpftool answered ${answers.length} of ${runs.length} program runs`);
  return answers.map((a) => a.output.duration);
}

/** One `map lookup` or `map dump` entry: key bytes and one value (or one per CPU). */
export interface MapEntry {
  key: Uint8Array;
  values: Uint8Array[];
}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

function isHexLine(line: string): boolean {
  return line.length >= 2 && HEX[line.charCodeAt(0)]! >= 0 && HEX[line.charCodeAt(1)]! >= 0 && (line.length === 2 || line[2] === " ");
}

/**
 * Parses bpftool's plain output of `map lookup` / `map dump` for maps without
 * BTF: "key:" then hex lines, then "value:" or "value (CPU NN):" blocks. Short
 * entries come on one line ("key: 00 00  value: 01"). Any other line (the
 * batch sentinel, "Found N elements") ends the current block.
 */
export function parseMapEntries(text: string): MapEntry[] {
  const out = new Uint8Array(Math.ceil(text.length / 2));
  let n = 0;
  const entries: { key: [number, number]; values: [number, number][] }[] = [];
  let block: [number, number] | undefined;

  const hexInto = (s: string, from: number) => {
    for (let i = from; i + 1 < s.length; ) {
      const hi = HEX[s.charCodeAt(i)]!;
      if (hi < 0) {
        i++;
        continue;
      }
      out[n++] = (hi << 4) | HEX[s.charCodeAt(i + 1)]!;
      i += 3;
    }
    if (block) block[1] = n;
  };

  for (const line of text.split("\n")) {
    if (line.startsWith("key:")) {
      const entry = { key: [n, n] as [number, number], values: [] as [number, number][] };
      entries.push(entry);
      block = entry.key;
      const inlineValue = line.indexOf("value:");
      hexInto(inlineValue < 0 ? line : line.slice(0, inlineValue), 4);
      if (inlineValue >= 0) {
        block = [n, n];
        entry.values.push(block);
        hexInto(line, inlineValue + 6);
      }
    } else if (line.startsWith("value")) {
      const entry = entries[entries.length - 1];
      if (!entry) continue;
      block = [n, n];
      entry.values.push(block);
      const colon = line.indexOf(":");
      if (colon >= 0 && colon + 1 < line.length) hexInto(line, colon + 1);
    } else if (block && isHexLine(line)) {
      hexInto(line, 0);
    } else {
      block = undefined;
    }
  }
  return entries.map((e) => ({
    key: out.subarray(e.key[0], e.key[1]),
    values: e.values.map(([a, b]) => out.subarray(a, b)),
  }));
}

/**
 * Parses `map lookup` answers for maps whose BTF value is a struct holding one
 * u32 array, which bpftool formats as `"key": N, "value": {"<name>": [n, n, …]}`.
 * Returns each key with the value's bytes (the words in host order, as the
 * kernel holds them). Hex-printed entries in the same text are passed over.
 */
export function parseWordValues(text: string): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const head = /"key": (\d+),\s*"value": \{\s*"\w+": \[/g;
  for (let m = head.exec(text); m; m = head.exec(text)) {
    const end = text.indexOf("]", head.lastIndex);
    if (end < 0) break;
    const words: number[] = [];
    let n = 0;
    let digits = false;
    for (let i = head.lastIndex; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        n = n * 10 + (c - 48);
        digits = true;
      } else if (c === 44) {
        words.push(n);
        n = 0;
        digits = false;
      }
    }
    if (digits) words.push(n);
    out.set(Number(m[1]), new Uint8Array(Uint32Array.from(words).buffer));
    head.lastIndex = end;
  }
  return out;
}

/** bpftool's stdout buffer in the batch process: one write() per this many bytes. */
const BATCH_BUFFER = 8192;
/** A full ring takes well under a second to read; an answer this late will not come. */
const BATCH_TIMEOUT_MS = 15_000;

/**
 * The end of every batch answer: a command whose output starts with `marker` and
 * runs longer than BATCH_BUFFER, so that by the time its first line reaches us,
 * everything before it has been written out. The rest of its output is
 * discarded (what is still buffered arrives ahead of the next answer, where
 * neither parser takes it: it holds no key).
 */
export interface FlushCommand {
  command: string;
  marker: string;
}

/**
 * A long-lived `bpftool batch file -`: one process answers every poll, so a
 * poll costs the lookups themselves, not a process start. bpftool block-buffers
 * a pipe and never flushes between commands; line buffering (stdbuf -oL) would
 * cost a write() per 16 bytes of a map value, so it runs with a fixed block
 * buffer instead, and each request ends with a flush command (see FlushCommand).
 */
export class BpftoolBatch {
  private readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly stderr: Promise<string>;
  private closed = false;

  constructor(private readonly flush: FlushCommand) {
    const stdbuf = requireTool("stdbuf");
    const bpftool = requireTool("bpftool");
    // A session of its own: a terminal's Ctrl-C must reach xdpwatch, which still needs this
    // process for its final read. It ends with xdpwatch all the same: its stdin closes.
    this.proc = Bun.spawn([stdbuf, `-o${BATCH_BUFFER}`, bpftool, "batch", "file", "-"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    this.reader = this.proc.stdout.getReader() as unknown as ReadableStreamDefaultReader<Uint8Array>;
    this.stderr = new Response(this.proc.stderr).text();
  }

  /** Sends commands (one per line) and returns their combined plain output. */
  async request(commands: readonly string[]): Promise<string> {
    if (this.closed) throw new XwError("the bpftool reader was closed");
    this.proc.stdin.write(`${commands.join("\n")}\n${this.flush.command}\n`);
    await this.proc.stdin.flush();
    // Chunks are kept apart and only the newest is searched (with the tail of the one
    // before, where the marker may have been split): answers run to megabytes.
    const chunks: string[] = [];
    const deadline = performance.now() + BATCH_TIMEOUT_MS;
    for (;;) {
      const { value, done } = await this.readBefore(deadline);
      if (done) {
        await this.proc.exited;
        const said = await Promise.race([this.stderr, Bun.sleep(1000).then(() => "")]);
        throw new XwError(`bpftool stopped answering: ${lastLines(said, 1)}`);
      }
      chunks.push(this.decoder.decode(value, { stream: true }));
      const tail = chunks.length > 1 ? chunks[chunks.length - 2]!.slice(-200) : "";
      const window = tail + chunks[chunks.length - 1]!;
      const end = window.indexOf(this.flush.marker);
      if (end >= 0) {
        const text = chunks.slice(0, -1).join("") + window.slice(tail.length);
        return text.slice(0, text.length - window.length + end);
      }
    }
  }

  private async readBefore(deadline: number): ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill("SIGKILL");
        reject(new XwError(`bpftool did not answer within ${BATCH_TIMEOUT_MS / 1000} s`));
      }, Math.max(0, deadline - performance.now()));
    });
    try {
      return await Promise.race([this.reader.read(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.proc.stdin.end();
    } catch {
      // already gone
    }
    const exited = await Promise.race([this.proc.exited, Bun.sleep(1000).then(() => undefined)]);
    if (exited === undefined) this.proc.kill("SIGKILL");
    log.debug("bpftool reader closed");
  }
}

/** Pins a loaded program by id: the kernel then keeps it even when nothing else holds it. */
export async function pinProgram(id: number, pin: string): Promise<void> {
  await run(["bpftool", "prog", "pin", "id", String(id), pin]);
}
