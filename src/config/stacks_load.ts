/**
 * Loads the compose stacks an operator curates on the gateway: a directory
 * with one subdirectory per stack (`STACKS/monitoring/compose.yaml`, its env
 * and config files), read once at start. `stack_deploy` copies a stack's
 * files to targets.
 *
 * @module
 */
import type * as Yaml from "yaml";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { describeReadError } from "./read_error.ts";
import { loadTemplateFile, type Template } from "./templates_load.ts";
import { loadPositionParser } from "./yaml_source.ts";

/** Files per stack at most. */
export const MAX_STACK_FILES = 32;
/** Bytes per stack file at most. */
export const MAX_STACK_FILE_BYTES = 1024 * 1024;

/** A stack name: what compose accepts as a project name. */
export const STACK_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A stack file name: no path, no leading dot or dash. */
export const STACK_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The compose file names compose looks for by default. */
export const COMPOSE_FILE_NAMES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yaml",
  "docker-compose.yml",
];

/** One service of a stack's compose file, as far as deploying needs it. */
export interface StackService {
  readonly name: string;
  /** Its `image`, or `null` when it only has `build`. */
  readonly image: string | null;
  /** Whether it has a `build` section (its image is built on the host, never pulled). */
  readonly build: boolean;
  /** Its `pull_policy`, or `null`. */
  readonly pullPolicy: string | null;
}

/** The suffix of a stack's env template: `probe.env.tailops-template.yaml` renders `probe.env`. */
export const STACK_TEMPLATE_SUFFIX = ".tailops-template.yaml";

/**
 * One file of a stack: its UTF-8 content as it is, or the template that
 * renders it at deploy from the call's variables.
 */
export type StackFile =
  | { readonly name: string; readonly content: string }
  | { readonly name: string; readonly template: Template };

/** One curated stack. */
export interface Stack {
  readonly name: string;
  /**
   * Its files as deployed, by name order. A template's `source` file is its
   * body, not a file of its own.
   */
  readonly files: readonly StackFile[];
  /** The compose file's services, by name order. */
  readonly services: readonly StackService[];
  /**
   * Settings of the compose file that give containers the host (privileged, host network,
   * `/` or the Docker socket mounted...): shown, not refused; the operator wrote them.
   */
  readonly warnings: readonly string[];
}

/**
 * The `pull_policy` values compose knows (v1 says `if_not_present` for `missing`); the
 * engine-based decision is in src/exec/image_pull.ts.
 */
const PULL_POLICY = /^(always|never|missing|if_not_present|build|daily|weekly|every_[0-9a-z]+)$/;

const HOST_MODES = ["network_mode", "pid", "ipc", "userns_mode", "uts"] as const;
const SOCKETS = ["/var/run/docker.sock", "/run/docker.sock"];

/** An absolute path with `.`, `..` and repeated slashes resolved (`/srv/../` is `/`). */
function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "" && part !== ".") parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** What of a service's settings reaches the host, one sentence each. */
function hostReach(name: string, service: Record<string, unknown>): string[] {
  const out: string[] = [];
  const say = (what: string) => out.push(`service ${JSON.stringify(name)}: ${what}`);
  if (service.privileged === true) say("privileged: true (full access to the host)");
  for (const key of HOST_MODES) {
    if (service[key] === "host") say(`${key}: host (shares the host's namespace)`);
  }
  for (const key of ["cap_add", "devices", "security_opt"] as const) {
    const list = service[key];
    if (Array.isArray(list) && list.length > 0) say(`${key}: ${list.map(String).join(", ")}`);
  }
  const volumes = Array.isArray(service.volumes) ? service.volumes : [];
  for (const volume of volumes) {
    const source = typeof volume === "string"
      ? volume.split(":")[0]
      : (volume as { source?: unknown })?.source;
    if (typeof source !== "string" || !source.startsWith("/")) continue;
    const clean = normalize(source);
    if (clean === "/") say("mounts the host's root directory /");
    else if (SOCKETS.includes(clean)) say(`mounts the Docker socket ${clean} (root on the host)`);
    else say(`mounts the host path ${clean}`);
  }
  return out;
}

/** The services and warnings of a compose file's text, or why it cannot be read. */
function readCompose(
  text: string,
  parse: typeof Yaml.parse,
): { services: StackService[]; warnings: string[] } | string {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 100 });
  } catch (error) {
    return `expected YAML (${(error as Error).message.split("\n")[0]})`;
  }
  const services = (doc as { services?: unknown } | null)?.services;
  if (!services || typeof services !== "object" || Array.isArray(services)) {
    return 'expected a "services" mapping';
  }
  const out: StackService[] = [];
  const warnings: string[] = [];
  for (const [name, raw] of Object.entries(services as Record<string, unknown>)) {
    const service = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
    const policy = service.pull_policy;
    if (policy !== undefined && (typeof policy !== "string" || !PULL_POLICY.test(policy))) {
      return `service ${JSON.stringify(name)}: expected pull_policy always, never, missing, ` +
        `if_not_present, build, daily, weekly or every_DURATION, found ${JSON.stringify(policy)}`;
    }
    out.push({
      name,
      image: typeof service.image === "string" ? service.image : null,
      build: service.build !== undefined,
      pullPolicy: typeof service.pull_policy === "string" ? service.pull_policy : null,
    });
    warnings.push(...hostReach(name, service));
  }
  return { services: out.sort((a, b) => a.name < b.name ? -1 : 1), warnings };
}

/**
 * A stack's env templates: each `NAME.tailops-template.yaml` renders `NAME`.
 * A variable several templates use must be declared the same way in each,
 * since the call gives one value for it.
 */
async function readTemplates(
  where: string,
  names: readonly string[],
  options: { plain: readonly string[]; resolveSecrets?: boolean },
): Promise<{ files: { name: string; template: Template }[]; problems: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  const files: { name: string; template: Template }[] = [];
  const declared = new Map<string, { spec: string; in: string }>();
  for (const fileName of names) {
    const name = fileName.slice(0, -STACK_TEMPLATE_SUFFIX.length);
    const read = await loadTemplateFile(where, fileName, {
      as: name,
      resolveSecrets: options.resolveSecrets,
    });
    problems.push(...read.problems);
    const template = read.template;
    if (!template) continue;
    const at = (path: string[], message: string) =>
      problems.push({ path: path.join("."), position: read.positionOf(path), message });
    const before = problems.length;
    if (!STACK_FILE_NAME.test(name) || name.endsWith(STACK_TEMPLATE_SUFFIX)) {
      at([], `Invalid template name: expected a file name before ${STACK_TEMPLATE_SUFFIX}`);
    } else if (COMPOSE_FILE_NAMES.includes(name)) {
      // The compose file is read at load (services, warnings): template its env files instead.
      at([], `Invalid template ${JSON.stringify(name)}: the compose file cannot be a template`);
    } else if (options.plain.includes(name) && template.source !== name) {
      at([], `Invalid template ${JSON.stringify(name)}: the stack also has a file of that name`);
    }
    if (template.source !== undefined && template.source.endsWith(STACK_TEMPLATE_SUFFIX)) {
      at(["source"], `Invalid source ${JSON.stringify(template.source)}: it is a template`);
    } else if (COMPOSE_FILE_NAMES.includes(template.source ?? "")) {
      at(["source"], `Invalid source ${JSON.stringify(template.source)}: it is the compose file`);
    }
    for (const [variable, spec] of Object.entries(template.variables)) {
      const first = declared.get(variable);
      const text = JSON.stringify(spec);
      if (first === undefined) declared.set(variable, { spec: text, in: name });
      else if (first.spec !== text) {
        at(
          ["variables", variable],
          `Variable ${JSON.stringify(variable)} is declared differently in template ` +
            `${JSON.stringify(first.in)}: expected the same declaration (a call gives one value)`,
        );
      }
    }
    if (problems.length === before && read.problems.length === 0) files.push({ name, template });
  }
  return { files, problems };
}

/**
 * Loads every stack of a directory, with its env templates (their secrets
 * resolved unless told not to).
 *
 * Needs `read` on the directory (and templates' secret files), `env` for
 * templates' `${ENV}` secrets.
 *
 * @param dir The stacks directory.
 * @param options `resolveSecrets` (default true): read templates' secret references now.
 * @returns The stacks, by name order, frozen.
 * @throws {ConfigError} Naming every unusable stack or file.
 */
export async function loadStacks(
  dir: string,
  options: { resolveSecrets?: boolean } = {},
): Promise<readonly Stack[]> {
  // Compose files use anchors and tags, and template files' problems are placed by line: the
  // full parser, loaded only when stacks are configured.
  const { parse } = await loadPositionParser();
  const problems: ConfigProblem[] = [];
  const stacks: Stack[] = [];
  const problem = (message: string) => problems.push({ path: "", message });
  let names: string[];
  try {
    const entries = await Array.fromAsync(Deno.readDir(dir));
    names = entries.filter((e) => e.isDirectory).map((e) => e.name).sort();
    // A stack is a directory of its own: a symlink could point anywhere on the gateway.
    for (const link of entries.filter((e) => e.isSymlink)) {
      problem(
        `Stack ${JSON.stringify(`${dir.replace(/\/$/, "")}/${link.name}`)}: ` +
          "expected a directory, found a symlink",
      );
    }
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read the stacks directory ${JSON.stringify(dir)}: ${
        describeReadError(error)
      }`,
    }]);
  }
  for (const name of names) {
    const where = `${dir.replace(/\/$/, "")}/${name}`;
    if (!STACK_NAME.test(name)) {
      problem(`Stack ${JSON.stringify(where)}: expected a name of a-z, 0-9, "_", "-"`);
      continue;
    }
    const files: StackFile[] = [];
    const templateNames: string[] = [];
    for await (const entry of Deno.readDir(where)) {
      const file = `${where}/${entry.name}`;
      if (!entry.isFile) {
        problem(`Stack file ${JSON.stringify(file)}: expected a regular file`);
      } else if (!STACK_FILE_NAME.test(entry.name)) {
        problem(
          `Stack file ${JSON.stringify(file)}: expected a name of letters, digits, ".", "_", "-"`,
        );
      } else if (entry.name.endsWith(STACK_TEMPLATE_SUFFIX)) {
        templateNames.push(entry.name);
      } else {
        const bytes = await Deno.readFile(file);
        if (bytes.length > MAX_STACK_FILE_BYTES) {
          problem(
            `Stack file ${JSON.stringify(file)}: expected at most ${MAX_STACK_FILE_BYTES} bytes`,
          );
          continue;
        }
        try {
          files.push({
            name: entry.name,
            content: new TextDecoder("utf-8", { fatal: true }).decode(bytes),
          });
        } catch {
          problem(`Stack file ${JSON.stringify(file)}: expected UTF-8 text`);
        }
      }
    }
    const templates = await readTemplates(where, templateNames.sort(), {
      plain: files.map((f) => f.name),
      resolveSecrets: options.resolveSecrets,
    });
    problems.push(...templates.problems);
    // A template's source file is its body, not a file to deploy.
    const sources = new Set(templates.files.map((f) => f.template.source));
    files.splice(0, files.length, ...files.filter((f) => !sources.has(f.name)), ...templates.files);
    if (files.length > MAX_STACK_FILES) {
      problem(`Stack ${JSON.stringify(where)}: expected at most ${MAX_STACK_FILES} files`);
    }
    const composeName = COMPOSE_FILE_NAMES.find((n) => files.some((f) => f.name === n));
    if (!composeName) {
      problem(
        `Stack ${JSON.stringify(where)}: expected a compose file (${
          COMPOSE_FILE_NAMES.join(", ")
        })`,
      );
      continue;
    }
    const compose = readCompose(
      (files.find((f) => f.name === composeName) as { content: string }).content,
      parse,
    );
    if (typeof compose === "string") {
      problem(`Stack file ${JSON.stringify(`${where}/${composeName}`)}: ${compose}`);
      continue;
    }
    files.sort((a, b) => a.name < b.name ? -1 : 1);
    stacks.push(Object.freeze({
      name,
      files: Object.freeze(files),
      services: Object.freeze(compose.services),
      warnings: Object.freeze(compose.warnings),
    }));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(stacks);
}
