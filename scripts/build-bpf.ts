/** Compiles the XDP program and the bench's references (the empty and the minimal program) into dist/bpf/, the objects the binary embeds. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { programTags } from "../src/bpf/tag";
import { XwError } from "../src/errors";
import { compileBpf } from "../src/tools/clang";

mkdirSync("dist/bpf", { recursive: true });
try {
  for (const name of ["xdpwatch", "minimal", "empty"]) {
    await compileBpf(`bpf/${name}.c`, `dist/bpf/${name}.o`);
    console.error(`built dist/bpf/${name}.o`);
  }
} catch (err) {
  if (!(err instanceof XwError)) throw err;
  console.error(`build-bpf: ${err.message}${err.hint ? `\n${err.hint}` : ""}`);
  process.exit(1);
}
// The tags the kernel will give the program, for `xdpwatch --version`: hashed here, not at every start.
writeFileSync("dist/bpf/xdpwatch.tags.json", `${JSON.stringify(programTags(new Uint8Array(readFileSync("dist/bpf/xdpwatch.o"))))}\n`);
