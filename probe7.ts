const t0 = performance.now();
const marks: [string, number][] = [];
const mark = (n: string) => marks.push([n, performance.now()]);
const m = await import("./src/main"); mark("main");
const s = await import("./src/commands/status"); mark("cmd-status");
await import("./src/commands/_args"); mark("_args");
await import("citty"); mark("citty");
await import("./src/log"); mark("log");
const x = await import("./src/xdp/status"); mark("xdp/status");
await x.collectStatus(); mark("collect");
let prev = t0;
for (const [n, t] of marks) { console.error(n, (t - prev).toFixed(3)); prev = t; }
console.error("start", t0.toFixed(3));
