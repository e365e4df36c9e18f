import { resolve } from "node:path";
import { materialize } from "../bpf/embedded";
import { log, withProgress } from "../log";
import { compileBpf } from "../tools/clang";
import { outputArgs } from "./_args";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "build",
    description: "Compile the embedded XDP source with clang (use the result with --object)",
  },
  args: {
    out: { type: "string", default: "xdpwatch.o", description: "where to write the object", valueHint: "FILE" },
    source: { type: "string", description: "compile this C file instead of the embedded source", valueHint: "FILE" },
    ...outputArgs,
  },
  async run({ args }) {
    const out = resolve(args.out);
    const embedded = args.source ? undefined : await materialize({ source: true });
    try {
      await withProgress("compiling with clang", compileBpf(args.source ? resolve(args.source) : `${embedded!.dir}/xdpwatch.c`, out));
    } finally {
      embedded?.remove();
    }
    if (args.json) console.log(JSON.stringify({ type: "built", object: out }));
    log.success(`built ${out}`);
  },
});
