import { expect, test } from "bun:test";
import { completionScript, type CommandSpec } from "../../src/output/completion";
import { kernelReady, sh, xdpwatch } from "../support/kernel";

const specs: CommandSpec[] = [
  { name: "watch", description: "Log packets", flags: [{ long: "iface", short: "i", takesValue: true, description: "interface" }, { long: "json", takesValue: false, description: "NDJSON" }] },
  { name: "status", description: "List programs", flags: [] },
];

/** Asks bash what it would complete after `xdpwatch <words…>`. */
async function bashComplete(script: string, words: string[]): Promise<string[]> {
  const line = ["xdpwatch", ...words].map((w) => `'${w}'`).join(" ");
  const r = await sh(["bash", "-c", `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length}; _xdpwatch; printf '%s\\n' "\${COMPREPLY[@]}"`]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split("\n").filter(Boolean);
}

test("bash: commands, then each command's flags, then interface names for --iface", async () => {
  const script = completionScript("bash", specs);
  expect(await bashComplete(script, ["w"])).toEqual(["watch"]);
  expect(await bashComplete(script, ["watch", "--"])).toEqual(["--iface", "--json", "--help"]);
  expect(await bashComplete(script, ["watch", "-i", "l"])).toContain("lo");
});

test("zsh and fish scripts name every command and flag", () => {
  for (const shell of ["zsh", "fish"] as const) {
    const script = completionScript(shell, specs);
    for (const word of ["watch", "status", "iface", "json"]) expect(script).toContain(word);
  }
});

test.skipIf(!kernelReady)("the binary prints a script for every command it has", async () => {
  const r = await xdpwatch(["completion", "bash"]);
  expect(r.code).toBe(0);
  const words = await bashComplete(r.stdout, [""]);
  expect(words).toEqual(expect.arrayContaining(["watch", "attach", "detach", "status", "build", "doctor", "completion", "--help", "--version"]));
  const bad = await xdpwatch(["completion", "tcsh"]);
  expect(bad.code).toBe(2);
});
