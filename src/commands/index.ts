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
