/** Frames for tests: the builders the binary ships (src/net/frames.ts), plus what only tests need. */
export { arpFrame, ipv4Frame, ipv6Frame, type FrameOptions } from "../../src/net/frames";
export { framesHex } from "../../scripts/lib/netns";

/** n distinct addresses in 198.18.0.0/15, from the given third octet on. */
export function testSources(n: number, third = 1): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${third + Math.floor(i / 250)}.${1 + (i % 250)}`);
}
