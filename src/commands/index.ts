import type { ArgsDef, CommandDef } from "citty";
import pkg from "../../package.json" with { type: "json" };

export const rootMeta = {
  name: "xdpwatch",
  version: pkg.version,
  description: "See, at XDP speed, which sources send packets to an interface",
};

/** Every command, loaded only when run or asked for its --help. */
// Literal import() calls: `bun build --compile` embeds only what it can see.
export const subCommands = {
  watch: () => import("./watch").then((m) => m.default),
  top: () => import("./top").then((m) => m.default),
  metrics: () => import("./metrics").then((m) => m.default),
  attach: () => import("./attach").then((m) => m.default),
  detach: () => import("./detach").then((m) => m.default),
  status: () => import("./status").then((m) => m.default),
  build: () => import("./build").then((m) => m.default),
  doctor: () => import("./doctor").then((m) => m.default),
  completion: () => import("./completion").then((m) => m.default),
  bench: () => import("./bench").then((m) => m.default),
};

export type CommandName = keyof typeof subCommands;

/**
 * Every --help as citty renders it: the root's, listing the commands, and each
 * command's. Called as a Bun macro (`with { type: "macro" }`): it runs when
 * main.ts is bundled (or transpiled by `bun test`), and the texts it returns
 * are written into main.ts as literals, so that help loads neither a command
 * nor citty. Colours are citty's, decided by the build's environment; main.ts
 * strips them off a terminal.
 */
export async function usageTexts(): Promise<{ root: string; commands: Record<CommandName, string> }> {
  const { renderUsage } = await import("citty");
  const listed: Record<string, CommandDef<ArgsDef>> = {};
  const commands = {} as Record<CommandName, string>;
  for (const [name, load] of Object.entries(subCommands) as [CommandName, () => Promise<CommandDef<ArgsDef>>][]) {
    const cmd = await load();
    const meta = typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta;
    listed[name] = { meta: { name, description: meta?.description ?? "" } };
    commands[name] = await renderUsage(cmd, { meta: rootMeta });
  }
  listed.help = { meta: { name: "help", description: "Show the usage of xdpwatch, or of one command: xdpwatch help watch" } };
  return { root: await renderUsage({ meta: rootMeta, subCommands: listed }), commands };
}

/** Shown under each command's --help. */
export const examples: Record<CommandName, string[]> = {
  watch: [
    "xdpwatch watch -i eth0",
    "xdpwatch watch -i eth0 --json --count 100 > packets.ndjson",
    "xdpwatch watch -i eth0 --proto udp --port 53 --sample 10",
    "xdpwatch watch -i eth0 'tcp[tcpflags] & tcp-syn != 0 and dst port 443'",
    "xdpwatch watch -i eth0 --drop 'udp dst port 53' --count 10",
  ],
  top: ["xdpwatch top -i eth0", "xdpwatch top -i eth0 --duration 60 --json --limit 50 | tail -2"],
  metrics: ["xdpwatch metrics -i eth0 --prometheus-file /var/lib/node_exporter/textfile/xdpwatch.prom"],
  attach: ["xdpwatch attach -i eth0 --sources --block 198.18.3.0/24"],
  detach: ["xdpwatch detach -i eth0"],
  status: ["xdpwatch status", "xdpwatch status --json | jq 'select(.ours)'"],
  build: ["xdpwatch build --out xdpwatch.o && xdpwatch watch -i eth0 --object xdpwatch.o"],
  doctor: ["xdpwatch doctor --iface eth0"],
  completion: ["source <(xdpwatch completion bash)", "xdpwatch completion fish | source"],
  bench: ["xdpwatch bench", "xdpwatch bench --format bmf > bench.json"],
};
