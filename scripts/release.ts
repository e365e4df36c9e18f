/**
 * Release build: dist/xdpwatch-linux-x64 and dist/xdpwatch-linux-arm64, minified
 * and with precompiled bytecode (about half the start-up time), plus SHA256SUMS.
 * The XDP object is BPF bytecode, the same for both: it is built once and embedded.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";

const TARGETS = [
  ["bun-linux-x64", "dist/xdpwatch-linux-x64"],
  ["bun-linux-arm64", "dist/xdpwatch-linux-arm64"],
] as const;

function sh(argv: string[]): { ok: boolean; stderr: string } {
  const r = Bun.spawnSync(argv, { stdout: "inherit", stderr: "pipe" });
  return { ok: r.exitCode === 0, stderr: r.stderr.toString() };
}

const bpf = sh(["bun", "scripts/build-bpf.ts"]);
if (!bpf.ok) {
  console.error(bpf.stderr.trim());
  process.exit(1);
}

const built: string[] = [];
for (const [target, out] of TARGETS) {
  const r = sh(["bun", "build", "--compile", "--minify", "--bytecode", "--splitting", "--format=esm", `--target=${target}`, "src/main.ts", "--outfile", out]);
  if (r.ok) built.push(out);
  // Cross-compiling fetches that platform's Bun runtime from the npm registry; say so when it cannot.
  else console.error(`skipped ${out}: ${r.stderr.trim().split("\n").at(-1)}`);
}
if (built.length === 0) process.exit(1);

const sums = built.map((f) => `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${basename(f)}`);
writeFileSync("dist/SHA256SUMS", `${sums.join("\n")}\n`);
for (const f of built) console.error(`${f}  ${(statSync(f).size / 1e6).toFixed(1)} MB`);
console.error("dist/SHA256SUMS written; verify with: cd dist && sha256sum -c SHA256SUMS");
