/** Compiles the programs in bpf/ to dist/bpf/, the objects the binary embeds. */
import { mkdirSync } from "node:fs";
import { compileBpf } from "../src/tools/clang";

mkdirSync("dist/bpf", { recursive: true });
for (const name of ["xdpwatch", "empty"]) {
  await compileBpf(`bpf/${name}.c`, `dist/bpf/${name}.o`);
  console.error(`built dist/bpf/${name}.o`);
}
