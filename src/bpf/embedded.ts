/**
 * The XDP objects and the program's source, embedded in the binary. Files
 * under Bun's virtual filesystem (/$bunfs) cannot be opened by bpftool or
 * clang, so they are copied to a private temporary directory first.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import objectFile from "../../dist/bpf/xdpwatch.o" with { type: "file" };
import baselineFile from "../../dist/bpf/empty.o" with { type: "file" };
import referenceFile from "../../dist/bpf/minimal.o" with { type: "file" };
import sourceFile from "../../bpf/xdpwatch.c" with { type: "file" };
import headerFile from "../../bpf/xdpwatch.h" with { type: "file" };

export interface Materialized {
  dir: string;
  object: string;
  /** `bench`'s references, written only when asked for: the empty XDP_PASS program and bpf/minimal.c. */
  baseline?: string;
  reference?: string;
  remove(): void;
}

export async function embeddedObjectBytes(): Promise<Uint8Array> {
  return Bun.file(objectFile).bytes();
}

/** Writes the embedded object (and, when asked, its source or bench's references) into a fresh temp dir. */
export async function materialize(opts: { source?: boolean; baseline?: boolean } = {}): Promise<Materialized> {
  const dir = mkdtempSync(join(tmpdir(), "xdpwatch-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const object = join(dir, "xdpwatch.o");
    writeFileSync(object, await embeddedObjectBytes());
    if (opts.source) {
      writeFileSync(join(dir, "xdpwatch.c"), await Bun.file(sourceFile).bytes());
      writeFileSync(join(dir, "xdpwatch.h"), await Bun.file(headerFile).bytes());
    }
    const baseline = opts.baseline ? join(dir, "empty.o") : undefined;
    const reference = opts.baseline ? join(dir, "minimal.o") : undefined;
    if (baseline) writeFileSync(baseline, await Bun.file(baselineFile).bytes());
    if (reference) writeFileSync(reference, await Bun.file(referenceFile).bytes());
    return { dir, object, baseline, reference, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
