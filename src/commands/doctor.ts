import { colors } from "consola/utils";
import { XwError } from "../errors";
import { runChecks } from "../system/checks";
import { outputArgs, parseIface } from "./_args";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "doctor",
    description: "Check that this machine can run xdpwatch, with the exact fix for each gap",
  },
  args: {
    iface: { type: "string", alias: "i", description: "also check this interface (driver, native XDP, programs attached)", valueHint: "IF" },
    ...outputArgs,
  },
  async run({ args }) {
    const results = await runChecks(args.iface === undefined ? undefined : parseIface(args.iface));
    const failed = results.filter((r) => !r.ok && r.required);
    if (args.json) {
      for (const r of results) console.log(JSON.stringify({ type: "check", ...r }));
      console.log(JSON.stringify({ type: "doctor", ok: failed.length === 0, failed: failed.map((r) => r.name) }));
    } else {
      const width = Math.max(...results.map((r) => r.name.length));
      for (const r of results) {
        const mark = r.ok ? colors.green("✓") : r.required ? colors.red("✗") : colors.yellow("!");
        console.log(`${mark} ${r.name.padEnd(width)}  ${r.detail}`);
        if (r.fix && !r.ok) console.log(`  ${" ".repeat(width)}  ${colors.dim("fix:")} ${r.fix}`);
      }
    }
    if (failed.length > 0)
      throw new XwError(`${failed.length} required check${failed.length > 1 ? "s" : ""} failed: ${failed.map((r) => r.name).join(", ")}`);
  },
});
