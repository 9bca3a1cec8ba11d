/**
 * Loads the target registry and the policy from files (or the embedded
 * defaults), validates them, and resolves secret references.
 *
 * @module
 */
import { ConfigError, type SourcePosition } from "./errors.ts";
import { describeReadError } from "./read_error.ts";
import { type PolicyFile, policyFileSchema } from "./policy_schema.ts";
import { Registry } from "./registry.ts";
import { checkReferences } from "./references.ts";
import { cachingResolver, findSecrets, type SecretResolver } from "./secret.ts";
import { targetsFileSchema } from "./targets_schema.ts";
import { formatPath, parseConfig, withPositions, type YamlSource } from "./yaml_source.ts";

/** Label used in error positions for the embedded default registry. */
export const EMBEDDED_TARGETS_LABEL = "<embedded default targets>";

/**
 * The registry used when no targets file is given: the gateway host alone,
 * observe-only, reading files under /var/log.
 */
export const EMBEDDED_TARGETS_YAML = `version: 1
targets:
  - id: local
    type: local
    description: The gateway host
    capabilities: [system:read, file:read, network:read]
    tags: [gateway]
    files:
      roots: [/var/log]
`;

/** URL of the policy used when no policy file is given. */
export const DEFAULT_POLICY_URL = new URL("../../policy/default.yaml", import.meta.url);

/** Options for loading configuration. */
export interface LoadOptions {
  /** How secret references are read (tests inject one). */
  secrets?: SecretResolver;
  /** Skip resolving secrets, e.g. for `check-config` on another machine. */
  resolveSecrets?: boolean;
  /**
   * Check that keys, known_hosts files and TLS material can be used (default
   * true when secrets are resolved). Off only where secrets are placeholders.
   */
  checkReferences?: boolean;
}

async function readConfigFile(path: string | URL): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read ${String(path)}: ${describeReadError(error)}`,
    }]);
  }
}

/**
 * Parses and validates registry text, then resolves its secrets.
 *
 * @param text YAML text of a targets file.
 * @param file Name used in error positions.
 * @param options Secret handling.
 * @returns The frozen registry.
 * @throws {ConfigError} With `file:line:column` for every problem found.
 */
export async function parseTargets(
  text: string,
  file: string,
  options: LoadOptions = {},
): Promise<Registry> {
  return await withPositions(async () => {
    const { config, source } = parseConfig(text, file, targetsFileSchema);
    await resolveAll(config, source, options);
    if (options.resolveSecrets !== false && options.checkReferences !== false) {
      // Keys, known_hosts files, TLS material: fail now, not at the first call.
      const problems = await checkReferences(config, source);
      if (problems.length > 0) throw new ConfigError(problems);
    }
    return new Registry(config.targets);
  });
}

/**
 * Loads the target registry from a file, or the embedded default.
 *
 * Needs `read` for the file and for `file:` secrets, `env` for `${VAR}` secrets.
 *
 * @param path Targets file, or `undefined` for the embedded default.
 * @param options Secret handling.
 * @returns The frozen registry.
 * @throws {ConfigError} When the file cannot be read or is invalid.
 */
export async function loadTargets(
  path: string | undefined,
  options: LoadOptions = {},
): Promise<Registry> {
  if (path === undefined) {
    return await parseTargets(EMBEDDED_TARGETS_YAML, EMBEDDED_TARGETS_LABEL, options);
  }
  return await parseTargets(await readConfigFile(path), path, options);
}

/**
 * Parses and validates policy text. Synchronous: text the fast parser refuses,
 * and problems' positions, need `await loadPositionParser()` first (the
 * async loaders do that themselves, see `withPositions`).
 *
 * @param text YAML text of a policy file.
 * @param file Name used in error positions.
 * @returns The validated policy.
 * @throws {ConfigError} With `file:line:column` for every problem found.
 */
export function parsePolicy(text: string, file: string): PolicyFile {
  return parseConfig(text, file, policyFileSchema).config;
}

async function resolveAll(
  config: unknown,
  source: YamlSource,
  options: LoadOptions,
): Promise<void> {
  if (options.resolveSecrets === false) return;
  const problems = [];
  const resolver = cachingResolver(options.secrets);
  for (const { path, secret } of findSecrets(config)) {
    try {
      await secret.resolve(resolver);
    } catch (error) {
      problems.push({
        path: formatPath(path),
        message: (error as Error).message,
        position: source.positionOf(path),
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Loads a policy file, or the shipped observe-only default, and resolves its
 * secret references (the approval webhook key, OIDC client secrets).
 *
 * Needs `read` for the file and `file:` secrets, `env` for `${VAR}` secrets.
 *
 * @param path Policy file, or `undefined` for `policy/default.yaml`.
 * @param options Secret handling.
 * @returns The validated policy, the name it was loaded from, and a finder of
 *   `file:line:column` for key paths (for problems found when compiling it:
 *   run that step through `withPositions`).
 * @throws {ConfigError} When the file cannot be read or is invalid.
 */
export async function loadPolicy(
  path: string | undefined,
  options: LoadOptions = {},
): Promise<{
  policy: PolicyFile;
  file: string;
  locate: (path: readonly (string | number)[]) => SourcePosition | undefined;
}> {
  const file = path ?? "policy/default.yaml";
  const text = await readConfigFile(path ?? DEFAULT_POLICY_URL);
  return await withPositions(async () => {
    const { config, source } = parseConfig(text, file, policyFileSchema);
    await resolveAll(config, source, options);
    return { policy: config, file, locate: (path) => source.positionOf(path) };
  });
}
