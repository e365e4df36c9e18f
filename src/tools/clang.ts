/** The one place that runs clang: compiles bpf/xdpwatch.c for the BPF target. */
import { existsSync } from "node:fs";
import { XwError } from "../errors";
import { installFix, lastLines, run } from "./run";

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
    // bpf/… comes with libbpf's headers (in installFix("clang")), asm/ and linux/ with the kernel's.
    const kernelHeaders = missing.startsWith("asm/") || missing.startsWith("linux/");
    throw new XwError(`clang cannot find the header ${missing}`, {
      hint: `fix: ${kernelHeaders ? "apt-get install linux-libc-dev (Debian/Ubuntu) · dnf install kernel-headers (RHEL/Fedora)" : installFix("clang")}`,
    });
  }
  throw new XwError(`clang failed to compile ${source}:\n${lastLines(res.stderr, 6)}`);
}
