/**
 * --block on a server's own interface can cut off the person typing it: a
 * range that holds every source of a family, an address of the interface (its
 * own subnet's hosts), or the SSH client's address needs --yes.
 */
import { usageError } from "../errors";
import { covers, coversAFamily, mappedAddress, type Cidr } from "../net/cidr";
import { readFileSync } from "node:fs";
import * as ip from "../tools/ip";

export interface CutOff {
  range: Cidr;
  why: string;
}

/** Why each range would cut off too much, given the interface's addresses and the SSH client (pure). */
export function rangesCuttingOff(ranges: readonly Cidr[], own: readonly string[], sshClient?: string): CutOff[] {
  const found: CutOff[] = [];
  for (const range of ranges) {
    if (coversAFamily(range)) {
      found.push({ range, why: "every source" });
      continue;
    }
    const ssh = sshClient && mappedAddress(sshClient);
    if (ssh && covers(range, ssh)) {
      found.push({ range, why: `your SSH client ${sshClient}` });
      continue;
    }
    const mine = own.find((a) => {
      const bytes = mappedAddress(a);
      return bytes !== undefined && covers(range, bytes);
    });
    if (mine) found.push({ range, why: `this interface's own address ${mine}` });
  }
  return found;
}

/** Refuses, before anything is attached, ranges that would drop too much, unless the user said --yes. */
export async function refuseCuttingOff(ranges: readonly Cidr[], iface: string, yes: boolean): Promise<void> {
  if (yes || ranges.length === 0) return;
  const sshClient = sshClientAddress();
  const [first] = rangesCuttingOff(ranges, await ip.addresses(iface), sshClient);
  if (first)
    throw usageError(
      `--block ${first.range.text} would drop ${first.why} on ${iface}: that can cut off your own session`,
      "add --yes if that is what you mean",
    );
}

/**
 * The address of the SSH client this session came from: from our environment,
 * else from our parents' (sudo's default env_reset drops SSH_CONNECTION).
 */
function sshClientAddress(): string | undefined {
  const fromEnv = (env: Record<string, string | undefined>) => (env.SSH_CONNECTION ?? env.SSH_CLIENT)?.split(" ")[0];
  const own = fromEnv(process.env);
  if (own) return own;
  let pid = process.ppid;
  for (let depth = 0; depth < 16 && pid > 1; depth++) {
    try {
      const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      const found = fromEnv(env);
      if (found) return found;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
