import { expect, test } from "bun:test";
import { alignColumns } from "../../src/output/table";

test("alignColumns: labels left, figures right, no trailing blanks", () => {
  expect(alignColumns([["rate", "sent", "note"], ["100k", "200000", ""], ["1", "2", "x"]])).toBe(
    ["rate    sent  note", "100k  200000", "1          2     x"].join("\n"),
  );
});
