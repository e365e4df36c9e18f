/** The one place that runs clang: compiles bpf/xdpwatch.c for the BPF target. */
import { existsSync } from "node:fs";
import { XwError } from "../errors";
import { installHint, lastLines, run } from "./run";

/** Debian's clang does not search the multiarch include dir with -target bpf. */
async function multiarchInclude(): Promise<string[]> {
  const arch = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  const dir = `/usr/include/${arch}`;
  return existsSync(dir) ? [`-I${dir}`] : [];
}

export async function compileBpf(source: string, output: string): Promise<void> {
  const res = await run(
    ["clang", "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", ...(await multiarchInclude()), "-c", source, "-o", output],
    { allowFailure: true, timeoutMs: 120_000 },
  );
  if (res.exitCode === 0) return;
  const missing = /fatal error: '([^']+)' file not found/.exec(res.stderr)?.[1];
  if (missing) {
    const pkg = missing.startsWith("bpf/") ? "libbpf-dev" : missing.startsWith("asm/") || missing.startsWith("linux/") ? "linux-libc-dev" : undefined;
    throw new XwError(`clang cannot find the header ${missing}`, {
      hint: pkg ? `install it: apt-get install ${pkg} (Debian/Ubuntu) or dnf install ${pkg === "libbpf-dev" ? "libbpf-devel" : "kernel-headers"} (RHEL/Fedora)` : installHint("clang"),
    });
  }
  throw new XwError(`clang failed to compile ${source}:\n${lastLines(res.stderr, 6)}`);
}
