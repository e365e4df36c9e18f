/** Every command, loaded only when run. */
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

/** Shown under each command's --help. */
export const examples: Record<keyof typeof subCommands, string[]> = {
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
