/** Shell completion scripts, generated from the commands' own argument definitions. */
import { KNOWN_PROTOCOLS } from "./format";

export interface FlagSpec {
  long: string;
  short?: string;
  takesValue: boolean;
  description: string;
}

export interface CommandSpec {
  name: string;
  description: string;
  flags: FlagSpec[];
}

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** Value completions by flag: interfaces come from the machine at completion time. */
const VALUES: Record<string, { words?: string; files?: true; ifaces?: true }> = {
  iface: { ifaces: true },
  mode: { words: "auto native generic" },
  proto: { words: KNOWN_PROTOCOLS.join(" ") },
  format: { words: "bmf" },
  object: { files: true },
  out: { files: true },
  source: { files: true },
  "prometheus-file": { files: true },
};

const IFACES_SH = "$(ls /sys/class/net 2>/dev/null)";

function quote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

function bash(commands: CommandSpec[]): string {
  const names = commands.map((c) => c.name).join(" ");
  const valueCases = Object.entries(VALUES)
    .map(([flag, v]) => {
      const alias = commands.flatMap((c) => c.flags).find((f) => f.long === flag && f.short)?.short;
      const pattern = [`--${flag}`, ...(alias ? [`-${alias}`] : [])].join("|");
      const action = v.files ? 'COMPREPLY=( $(compgen -f -- "$cur") )' : `COMPREPLY=( $(compgen -W "${v.ifaces ? IFACES_SH : v.words}" -- "$cur") )`;
      return `    ${pattern}) ${action}; return ;;`;
    })
    .join("\n");
  const flagCases = commands
    .map((c) => `    ${c.name}) opts=${quote(c.flags.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]).concat("--help").join(" "))} ;;`)
    .join("\n");
  return `# bash completion for xdpwatch; load with: source <(xdpwatch completion bash)
_xdpwatch() {
  local cur prev opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
${valueCases}
  esac
  case "\${COMP_WORDS[1]}" in
${flagCases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _xdpwatch xdpwatch
`;
}

function zsh(commands: CommandSpec[]): string {
  const esc = (t: string) => t.replace(/[[\]:']/g, (m) => `\\${m}`);
  const action = (f: FlagSpec) => {
    if (!f.takesValue) return "";
    const v = VALUES[f.long];
    if (v?.files) return ":file:_files";
    if (v?.ifaces) return `:interface:(${IFACES_SH})`;
    if (v?.words) return `:value:(${v.words})`;
    return ":value:";
  };
  const perCommand = commands
    .map((c) => {
      const specs = c.flags.map((f) => {
        const desc = `[${esc(f.description)}]${action(f)}`;
        return f.short ? `    '(-${f.short} --${f.long})'{-${f.short},--${f.long}}'${desc}'` : `    '--${f.long}${desc}'`;
      });
      return `  ${c.name})\n    _arguments \\\n${specs.join(" \\\n")}\n    ;;`;
    })
    .join("\n");
  return `#compdef xdpwatch
# zsh completion for xdpwatch; load with: source <(xdpwatch completion zsh)
_xdpwatch() {
  local -a commands
  commands=(
${commands.map((c) => `    '${c.name}:${esc(c.description)}'`).join("\n")}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
${perCommand}
  esac
}
compdef _xdpwatch xdpwatch
`;
}

function fish(commands: CommandSpec[]): string {
  const lines = ["# fish completion for xdpwatch; load with: xdpwatch completion fish | source", "complete -c xdpwatch -f"];
  for (const c of commands) lines.push(`complete -c xdpwatch -n __fish_use_subcommand -a ${c.name} -d ${quote(c.description)}`);
  for (const c of commands) {
    for (const f of c.flags) {
      const v = VALUES[f.long];
      const parts = [`complete -c xdpwatch -n ${quote(`__fish_seen_subcommand_from ${c.name}`)} -l ${f.long}`];
      if (f.short) parts.push(`-s ${f.short}`);
      if (f.takesValue) parts.push(v?.files ? "-r -F" : "-r");
      if (v?.ifaces) parts.push(`-a ${quote("(ls /sys/class/net)")}`);
      else if (v?.words) parts.push(`-a ${quote(v.words)}`);
      parts.push(`-d ${quote(f.description)}`);
      lines.push(parts.join(" "));
    }
  }
  return `${lines.join("\n")}\n`;
}

export function completionScript(shell: Shell, commands: CommandSpec[]): string {
  return { bash, zsh, fish }[shell](commands);
}
