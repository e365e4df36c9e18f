import { expect, test } from "bun:test";
import { possibleCpus } from "../../src/xdp/program";

test.each([
  ["0-1\n", 2],
  ["0\n", 1],
  ["0-3,5,8-11\n", 12],
])("possibleCpus(%p) = %p", (text, n) => {
  expect(possibleCpus(text)).toBe(n);
});
