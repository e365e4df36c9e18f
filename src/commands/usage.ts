/**
 * The --help pages. citty renders them when xdpwatch is built (usageTexts is
 * a Bun macro, so its texts are literals here), and they sit in this module of
 * their own: only help loads them, not every start.
 */
import { usageTexts } from "./index" with { type: "macro" };
import { examples, type CommandName } from "./index";
import { colourWanted, isTerminal } from "../output/terminal";

/** citty's usage without colours off a terminal, and examples: of the root, or of one command. */
export async function usage(name?: CommandName): Promise<string> {
  const texts = await usageTexts();
  const rendered = name ? texts.commands[name] : texts.root;
  // citty colours by environment alone; colours belong on a terminal only.
  const text = (colourWanted(await isTerminal(1)) ? rendered : Bun.stripANSI(rendered)).trimEnd();
  const lines = name ? examples[name] : ["sudo xdpwatch doctor", "sudo xdpwatch watch -i eth0", "sudo xdpwatch top -i eth0"];
  return `${text}\n\nEXAMPLES\n\n${lines.map((l) => `  $ ${l}`).join("\n")}`;
}
