import { describe, expect, test } from "bun:test";
import { BIN, kernelReady, sh } from "./support/kernel";

/** `detach` on an interface with nothing of ours says so in one info line: a logger line without a kernel fixture. */
const ARGS = ["detach", "-i", "lo"];

describe.skipIf(!kernelReady || !Bun.which("script"))("log lines on stderr", () => {
  test("in a pipe: consola's icon, no escape codes, nothing on stdout", async () => {
    const r = await sh([BIN, ...ARGS]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("ℹ nothing of xdpwatch's on lo\n");
  });

  test("on a terminal: the icon in colour; NO_COLOR turns it off", async () => {
    const command = [BIN, ...ARGS].join(" ");
    const onTty = await sh(["script", "-qec", command, "/dev/null"]);
    expect(onTty.stdout).toBe("\x1b[36mℹ\x1b[39m nothing of xdpwatch's on lo\r\n");
    const noColour = await sh(["env", "NO_COLOR=1", "script", "-qec", command, "/dev/null"]);
    expect(noColour.stdout).toBe("ℹ nothing of xdpwatch's on lo\r\n");
  });
});
