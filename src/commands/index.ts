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
 * Each command's description, for the root --help. Called as a Bun macro
 * (`with { type: "macro" }`): it runs when main.ts is bundled or transpiled,
 * and the table it returns is written into main.ts as a literal, so that
 * listing the commands loads none of them.
 */
export async function commandSummaries(): Promise<Record<CommandName, string>> {
  const entries = await Promise.all(
    Object.entries(subCommands).map(async ([name, load]) => {
      const cmd = await load();
      const meta = typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta;
      return [name, meta?.description ?? ""] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<CommandName, string>;
}

/** Shown under each command's --help. */
export const examples: Record<CommandName, string[]> = {
  watch: [
    "xdpwatch watch -i eth0",
    "xdpwatch watch -i eth0 --json --count 100 > packets.ndjson",
    "xdpwatch watch -i eth0 --proto udp --port 53 --sample 10",
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
