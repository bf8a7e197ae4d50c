/**
 * A small reader of the project's Dockerfile and .dockerignore, enough for the image-steps test to
 * reproduce the image outside Docker: stages, COPY sources and destinations, ENV, USER, WORKDIR,
 * ENTRYPOINT, HEALTHCHECK, and Docker's build-context exclusion rules.
 */

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Copy {
  /** Stage (or image) named by `--from=`, if any. */
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

export interface Stage {
  name?: string;
  image: string;
  instructions: Instruction[];
  copies: Copy[];
  workdir: string;
  env: Record<string, string>;
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: { options: Record<string, string>; cmd: string[] };
  expose: string[];
  labels: Record<string, string>;
}

/** Joins `\` continuation lines and drops comments and blank lines. */
export function logicalLines(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let startLine = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (buf === '' && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (buf !== '' && trimmed.startsWith('#')) return; // comments inside a continued instruction
    if (buf === '') startLine = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += `${trimmed.slice(0, -1)} `;
      return;
    }
    buf += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buf)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: startLine });
    buf = '';
  });
  if (buf !== '') throw new Error('Dockerfile ends inside a continued line');
  return out;
}

/** Splits on whitespace, honouring double and single quotes (quotes removed). */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+)/g;
  let current = '';
  let last = -1;
  for (const m of s.matchAll(re)) {
    const piece = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!);
    // Adjacent pieces (a="b c") belong to one word.
    if (last === m.index && words.length > 0) current = words.pop()! + piece;
    else current = piece;
    words.push(current);
    last = m.index + m[0].length;
  }
  return words;
}

/** `["a", "b"]` (exec form) or `a b` (shell form, returned as `sh -c`). */
function commandForm(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** `k=v k2="v 2"` (or the legacy `k v`) → record. */
function keyValues(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const words = shellWords(args);
  if (words.length >= 1 && !words[0]!.includes('=')) {
    out[words[0]!] = args.slice(args.indexOf(words[0]!) + words[0]!.length).trim();
    return out;
  }
  for (const w of words) {
    const eq = w.indexOf('=');
    out[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return out;
}

function parseCopy(args: string, line: number): Copy {
  let rest = args;
  let from: string | undefined;
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!flag) break;
    if (flag[1] === 'from') from = flag[2];
    rest = rest.slice(flag[0].length);
  }
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : shellWords(rest);
  if (parts.length < 2) throw new Error(`Dockerfile line ${line}: COPY needs a source and a destination`);
  return { ...(from ? { from } : {}), sources: parts.slice(0, -1), dest: parts.at(-1)!, line };
}

/** Parses the Dockerfile into stages (ARGs before the first FROM substitute into FROM). */
export function parseDockerfile(text: string): Stage[] {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of logicalLines(text)) {
    const stage = stages.at(-1);
    if (ins.keyword === 'FROM') {
      const words = shellWords(ins.args).filter((w) => !w.startsWith('--platform'));
      const image = words[0]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? '');
      const asIdx = words.findIndex((w) => w.toUpperCase() === 'AS');
      const base = stages.find((s) => s.name === image);
      stages.push({
        ...(asIdx >= 0 ? { name: words[asIdx + 1]! } : {}),
        image,
        instructions: [],
        copies: [],
        workdir: base?.workdir ?? '/',
        env: { ...(base?.env ?? {}) },
        expose: [],
        labels: {},
      });
      continue;
    }
    if (!stage) {
      if (ins.keyword === 'ARG') {
        const [k, v] = ins.args.split('=', 2);
        globalArgs[k!.trim()] = (v ?? '').trim();
      }
      continue;
    }
    stage.instructions.push(ins);
    switch (ins.keyword) {
      case 'COPY':
      case 'ADD':
        stage.copies.push(parseCopy(ins.args, ins.line));
        break;
      case 'WORKDIR':
        stage.workdir = ins.args.startsWith('/')
          ? ins.args
          : `${stage.workdir.replace(/\/$/, '')}/${ins.args}`;
        break;
      case 'ENV':
        Object.assign(stage.env, keyValues(ins.args));
        break;
      case 'LABEL':
        Object.assign(stage.labels, keyValues(ins.args));
        break;
      case 'USER':
        stage.user = ins.args;
        break;
      case 'EXPOSE':
        stage.expose.push(...ins.args.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = commandForm(ins.args);
        break;
      case 'CMD':
        stage.cmd = commandForm(ins.args);
        break;
      case 'HEALTHCHECK': {
        const options: Record<string, string> = {};
        let rest = ins.args;
        for (;;) {
          const flag = /^--([a-z-]+)=(\S+)\s+/.exec(rest);
          if (!flag) break;
          options[flag[1]!] = flag[2]!;
          rest = rest.slice(flag[0].length);
        }
        if (!/^CMD\s/i.test(rest)) throw new Error(`Dockerfile line ${ins.line}: HEALTHCHECK without CMD`);
        stage.healthcheck = { options, cmd: commandForm(rest.replace(/^CMD\s+/i, '')) };
        break;
      }
    }
  }
  return stages;
}

/** A Docker duration (`5s`, `1m30s`, `500ms`) in milliseconds. */
export function durationMs(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}

/** One .dockerignore rule as a regular expression over slash-separated context paths. */
interface IgnoreRule {
  negate: boolean;
  re: RegExp;
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` matches zero or more directories; a trailing `**` matches everything below.
        if (pattern[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Docker's build-context rules: patterns are relative to the context root, `**` spans directories,
 * `!` re-includes, the last matching rule wins, and a rule that matches a parent directory matches
 * everything below it.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules: IgnoreRule[] = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: globToRegExp(p.replace(/^\.\//, '')) };
    });
  return (path: string) => {
    const parts = path.replace(/^\.\//, '').split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    }
    return excluded;
  };
}
