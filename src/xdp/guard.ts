/**
 * --block on a server's own interface can cut off the person typing it: a
 * range that holds every source of a family, an address of the interface (its
 * own subnet's hosts), or the SSH client's address needs --yes.
 */
import { usageError } from "../errors";
import { covers, coversAFamily, mappedAddress, type Cidr } from "../net/cidr";
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
  const sshClient = process.env.SSH_CONNECTION?.split(" ")[0] ?? process.env.SSH_CLIENT?.split(" ")[0];
  const [first] = rangesCuttingOff(ranges, await ip.addresses(iface), sshClient);
  if (first)
    throw usageError(
      `--block ${first.range.text} would drop ${first.why} on ${iface}: that can cut off your own session`,
      "add --yes if that is what you mean",
    );
}
