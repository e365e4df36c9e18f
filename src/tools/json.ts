/**
 * The JSON that ip and bpftool print, checked by hand where xdpwatch reads it:
 * a field of another type is one error that names it, and whatever else the
 * tools print is passed over. A schema library (valibot) did the same and cost
 * a start 0.3 to 0.7 ms of loading for these few fields (scripts/bench-startup.ts).
 */
import { XwError } from "../errors";

export type JsonObject = Record<string, unknown>;

export function isObject(x: unknown): x is JsonObject {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** The checks, each failing with an error that says where (`path`) in what tool's output (`what`). */
export type JsonReader = ReturnType<typeof jsonReader>;

export function jsonReader(what: string) {
  const fail = (path: string, want: string): never => {
    throw new XwError(`unexpected output from ${what}: ${path} is not ${want}`);
  };
  return {
    /** The text parsed; not JSON is the same kind of error. */
    parse(text: string): unknown {
      try {
        return JSON.parse(text);
      } catch {
        throw new XwError(`unexpected output from ${what}: ${text.slice(0, 120)}`);
      }
    },
    objects: (x: unknown, path: string): JsonObject[] => (Array.isArray(x) && x.every(isObject) ? x : fail(path, "a list of objects")),
    object: (x: unknown, path: string): JsonObject => (isObject(x) ? x : fail(path, "an object")),
    optionalObject: (x: unknown, path: string): JsonObject | undefined => (x === undefined || isObject(x) ? x : fail(path, "an object")),
    number: (x: unknown, path: string): number => (typeof x === "number" ? x : fail(path, "a number")),
    optionalNumber: (x: unknown, path: string): number | undefined => (x === undefined || typeof x === "number" ? x : fail(path, "a number")),
    string: (x: unknown, path: string): string => (typeof x === "string" ? x : fail(path, "a string")),
    optionalString: (x: unknown, path: string): string | undefined => (x === undefined || typeof x === "string" ? x : fail(path, "a string")),
    strings: (x: unknown, path: string): string[] => (Array.isArray(x) && x.every((s) => typeof s === "string") ? x : fail(path, "a list of strings")),
  };
}
