import type { ArgsDef } from "citty";
import { usageError } from "../errors";
import { subCommands } from ".";
import { completionScript, SHELLS, type CommandSpec, type Shell } from "../output/completion";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "completion",
    description: "Print a shell completion script: source <(xdpwatch completion bash)",
  },
  args: {
    shell: { type: "positional", description: `one of ${SHELLS.join(", ")}`, required: true },
  },
  async run({ args }) {
    const shell = args.shell as Shell;
    if (!SHELLS.includes(shell)) throw usageError(`no completion for "${args.shell}": choose ${SHELLS.join(", ")}`);
    const specs: CommandSpec[] = [];
    for (const [name, load] of Object.entries(subCommands)) {
      const cmd = await load();
      const argsDef = ((await cmd.args) ?? {}) as ArgsDef;
      const meta = typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta;
      specs.push({
        name,
        description: meta?.description ?? "",
        flags: Object.entries(argsDef)
          .filter(([, d]) => d.type !== "positional")
          .map(([long, d]) => ({
            long,
            short: "alias" in d ? [d.alias ?? []].flat().find((a) => a.length === 1) : undefined,
            takesValue: d.type === "string" || d.type === "enum",
            description: d.description ?? "",
          })),
      });
    }
    process.stdout.write(completionScript(shell, specs));
  },
});
