/** Compiles bpf/xdpwatch.c to dist/bpf/xdpwatch.o, the object the binary embeds. */
import { mkdirSync } from "node:fs";
import { compileBpf } from "../src/tools/clang";

mkdirSync("dist/bpf", { recursive: true });
await compileBpf("bpf/xdpwatch.c", "dist/bpf/xdpwatch.o");
console.error("built dist/bpf/xdpwatch.o");
