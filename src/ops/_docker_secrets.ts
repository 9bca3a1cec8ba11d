/**
 * Secrets in container configuration, as the engine reports it: environment
 * entries and labels whose names are sensitive (the maintained list in
 * `audit/redact.ts`, {@linkcode isSensitiveName}), credentials inside URLs
 * (`postgres://user:pass@host`), `NAME=value` pairs inside values (DSNs,
 * shell strings), and password options in argv (`--password=x`,
 * `--password x`, mysql's `-px`). Names stay visible, values become
 * `[REDACTED]`, so the model knows a value was there.
 *
 * @module
 */
import { isSensitiveName, REDACTED, redactText } from "../audit/redact.ts";

// The regular expressions below have bounded repetition only: they run on
// whatever a container was created with, in time linear in its length.
// NAME=value or NAME: value, where the value may be quoted.
const PAIR =
  /(^|[\s;&|,('"{[])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]{0,127})(["']?)(=|:\s*)("[^"]*"|'[^']*'|[^\s;&|,'")}\]]+)/g;
// --name value (an option whose value is the next word).
const OPTION_VALUE = /(^|\s)(--?[A-Za-z][A-Za-z0-9_-]{1,127})\s+("[^"]*"|'[^']*'|[^\s-][^\s]*)/g;
// mysql and friends take the password attached to -p.
const MYSQL_PROGRAM = /(?:^|[\s/;&|(])(?:mysql[\w-]*|mariadb[\w-]*)(?=\s|$)/;
const MYSQL_PASSWORD = /(^|\s)-p(?=\S)(\S+)/g;

/**
 * Masks credentials inside free text from a container's configuration: URL
 * passwords, values of sensitive `NAME=value` pairs and `--name value`
 * options, mysql's `-pPASSWORD`, plus what {@linkcode redactText} masks
 * (bearer tokens, private keys).
 *
 * @param text A value: an env value, a label value, a shell command line.
 * @returns The text with those values replaced by `[REDACTED]`.
 */
export function redactConfigText(text: string): string {
  let out = redactUrlPasswords(redactText(text));
  if (MYSQL_PROGRAM.test(out)) out = out.replace(MYSQL_PASSWORD, `$1-p${REDACTED}`);
  out = out.replace(
    PAIR,
    (all, lead: string, name: string, quote: string, sep: string) =>
      isSensitiveName(name) ? `${lead}${name}${quote}${sep}${REDACTED}` : all,
  );
  out = out.replace(
    OPTION_VALUE,
    (all, lead: string, name: string) => isSensitiveName(name) ? `${lead}${name} ${REDACTED}` : all,
  );
  return out;
}

/**
 * Masks the password of every `scheme://user:password@host` in a text. The
 * password runs to the last `@` of the word, so an unencoded `@` inside it
 * leaves no tail behind. One pass: each word is looked at once.
 */
function redactUrlPasswords(text: string): string {
  if (!text.includes("://")) return text;
  const parts: string[] = [];
  let from = 0;
  for (let at = text.indexOf("://"); at !== -1; at = text.indexOf("://", at + 3)) {
    if (at < from) continue;
    const start = at + 3;
    let end = start;
    while (end < text.length && !/\s/.test(text[end])) end++;
    const word = text.slice(start, end);
    const lastAt = word.lastIndexOf("@");
    const colon = word.indexOf(":");
    // userinfo is before the host: no "/" may come before its ":".
    if (lastAt > 0 && colon !== -1 && colon < lastAt && !word.slice(0, colon).includes("/")) {
      parts.push(text.slice(from, start + colon + 1), REDACTED);
      from = start + lastAt;
    }
    at = end - 3 > at ? end - 3 : at;
  }
  parts.push(text.slice(from));
  return parts.join("");
}

/**
 * Redacts `KEY=VALUE` environment entries: the whole value when the name is
 * sensitive, else the credentials inside it.
 *
 * @param env `KEY=VALUE` strings.
 * @returns The same list with secret values replaced by `[REDACTED]`.
 */
export function redactEnv(env: readonly string[]): string[] {
  return env.map((entry) => {
    const eq = entry.indexOf("=");
    if (eq < 0) return entry;
    const key = entry.slice(0, eq);
    return isSensitiveName(key)
      ? `${key}=${REDACTED}`
      : `${key}=${redactConfigText(entry.slice(eq + 1))}`;
  });
}

/**
 * Redacts label values: the whole value when the label's name is sensitive,
 * else the credentials inside it.
 *
 * @param labels Label name → value.
 * @returns A new record with secret values replaced by `[REDACTED]`.
 */
export function redactLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    out[name] = isSensitiveName(name) ? REDACTED : redactConfigText(value);
  }
  return out;
}

/**
 * Redacts an argv (Cmd, Entrypoint, Args): `--name=value` and `--name value`
 * for sensitive option names (the next element, unless it is itself a long
 * option), mysql's `-pPASSWORD`, and credentials inside each element (a
 * shell string under `sh -c` included).
 *
 * @param argv The arguments, or `null`.
 * @returns The same list with secret values replaced by `[REDACTED]`.
 */
export function redactArgv(argv: readonly string[] | null): string[] | null {
  if (argv === null) return null;
  const mysql = argv.some((arg) => MYSQL_PROGRAM.test(` ${arg.split(/\s/)[0]}`));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const option = /^--?([A-Za-z][A-Za-z0-9_.-]{0,127})$/.exec(arg);
    if (
      option && isSensitiveName(option[1]) && i + 1 < argv.length && !argv[i + 1].startsWith("--")
    ) {
      out.push(arg, REDACTED);
      i++;
      continue;
    }
    if (mysql && /^-p./.test(arg)) {
      out.push(`-p${REDACTED}`);
      continue;
    }
    out.push(redactConfigText(arg));
  }
  return out;
}
