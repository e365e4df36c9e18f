/** Compiles the XDP program and the bench's references (the empty and the minimal program) into dist/bpf/, the objects the binary embeds. */
import { mkdirSync } from "node:fs";
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
