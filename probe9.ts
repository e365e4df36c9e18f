const t0 = performance.now();
const marks: [string, number][] = [];
const mark = (n: string) => marks.push([n, performance.now()]);
const st = await Bun.file("/proc/self/ns/net").stat(); mark("bunfile-stat");
const g = [...new Bun.Glob("*").scanSync({ cwd: "/sys/fs/bpf", onlyFiles: false })]; mark("glob");
const ex = await Bun.file("/sys/fs/bpf/xdpwatch/123").exists(); mark("exists");
await Bun.write(Bun.stderr, ""); mark("bunwrite");
await import("node:fs"); mark("node:fs");
let prev = t0;
for (const [n, t] of marks) { console.error(n, (t - prev).toFixed(3)); prev = t; }
console.error("start", t0.toFixed(3));
console.log(st.ino, g.length, ex);
