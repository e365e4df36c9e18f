/** The one place that runs mount(8). */
import { run } from "./run";

/** Mounts bpffs at `path`; returns mount's complaint on failure, undefined on success. */
export async function mountBpffs(path: string): Promise<string | undefined> {
  const res = await run(["mount", "-t", "bpf", "bpf", path], { allowFailure: true });
  return res.exitCode === 0 ? undefined : res.stderr.trim();
}
