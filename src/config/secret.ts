/**
 * Secret references (`${ENV_VAR}` or `file:/absolute/path`) and the resolved
 * secret values they stand for.
 *
 * @module
 */
import { z } from "zod";
import { describeReadError } from "./read_error.ts";

const ENV_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const FILE_REF = /^file:(\/[^\0]*)$/;

/**
 * A secret named in configuration. Its value is held privately; every way of
 * printing it (JSON, string conversion, Deno's inspector) shows only where it
 * came from, so a secret cannot leak through a log line or a `check-config`
 * listing by accident.
 */
export class Secret {
  /** Where the value comes from: `env:NAME` or `file:/path`. */
  readonly source: string;
  #value: string | undefined;

  /**
   * @param source Where the value comes from, e.g. `env:API_TOKEN`.
   * @param value The value, when already known.
   */
  constructor(source: string, value?: string) {
    this.source = source;
    this.#value = value;
  }

  /** Whether the value has been loaded. */
  get resolved(): boolean {
    return this.#value !== undefined;
  }

  /**
   * The secret value. Call only where it is handed to an executor.
   *
   * @returns The value.
   * @throws {Error} When the reference has not been resolved.
   */
  reveal(): string {
    if (this.#value === undefined) {
      throw new Error(`Cannot read secret from ${this.source}: it has not been resolved`);
    }
    return this.#value;
  }

  /**
   * Loads the value from the environment or a file.
   *
   * Needs `env` permission for environment references and `read` for files.
   *
   * @param resolver How to read environment variables and files (injectable for tests).
   * @throws {Error} When the variable is unset or empty, or the file cannot be read.
   */
  async resolve(resolver: SecretResolver = DENO_RESOLVER): Promise<void> {
    if (this.source.startsWith("env:")) {
      const name = this.source.slice(4);
      const value = resolver.env(name);
      if (value === undefined || value === "") {
        throw new Error(`Cannot resolve secret: environment variable ${name} is not set`);
      }
      this.#value = value;
      return;
    }
    const path = this.source.slice(5);
    try {
      this.#value = (await resolver.readFile(path)).replace(/\r?\n$/, "");
    } catch (error) {
      throw new Error(
        `Cannot resolve secret from file ${JSON.stringify(path)}: ${describeReadError(error)}`,
      );
    }
  }

  /** @returns The placeholder shown instead of the value. */
  toString(): string {
    return `<secret from ${this.source.startsWith("env:") ? this.source.slice(4) : this.source}>`;
  }

  /** @returns The placeholder shown instead of the value. */
  toJSON(): string {
    return this.toString();
  }

  /** @returns The placeholder shown instead of the value. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

/** How secret references are read; the default uses Deno's env and file APIs. */
export interface SecretResolver {
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** Reads a whole file as UTF-8. */
  readFile(path: string): Promise<string>;
}

const DENO_RESOLVER: SecretResolver = {
  env: (name) => Deno.env.get(name),
  readFile: (path) => Deno.readTextFile(path),
};

/**
 * Schema for a secret reference in YAML: `${ENV_VAR}` or `file:/absolute/path`.
 * Parses to an unresolved {@linkcode Secret}; {@linkcode resolveSecrets} loads them.
 */
export const secretRefSchema: z.ZodType<Secret, string> = z.string().transform((ref, ctx) => {
  const env = ENV_REF.exec(ref);
  if (env) return new Secret(`env:${env[1]}`);
  const file = FILE_REF.exec(ref);
  if (file) return new Secret(`file:${file[1]}`);
  ctx.addIssue({
    code: "custom",
    // The value is never echoed: it may be a secret pasted in by mistake.
    message: 'Invalid secret reference: expected "${ENV_VAR}" or "file:/absolute/path", ' +
      "found a literal value (secrets are never written into configuration)",
  });
  return z.NEVER;
});

/** A secret found in a parsed configuration, with its path for error messages. */
export interface FoundSecret {
  /** Key path from the document root. */
  path: (string | number)[];
  /** The secret itself. */
  secret: Secret;
}

/**
 * Finds every {@linkcode Secret} inside a parsed configuration value.
 *
 * @param value A parsed configuration value.
 * @returns The secrets with their key paths, in document order.
 */
export function findSecrets(value: unknown): FoundSecret[] {
  const found: FoundSecret[] = [];
  // One path stack, copied only where a secret is found: 10,000 targets hold
  // hundreds of thousands of values and few secrets.
  const path: (string | number)[] = [];
  const walk = (node: unknown) => {
    if (node instanceof Secret) {
      found.push({ path: [...path], secret: node });
    } else if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index++) {
        const item = node[index];
        if (item === null || typeof item !== "object") continue;
        path.push(index);
        walk(item);
        path.pop();
      }
    } else if (node !== null && typeof node === "object") {
      for (const key in node) {
        if (!Object.hasOwn(node, key)) continue;
        const item = (node as Record<string, unknown>)[key];
        if (item === null || typeof item !== "object") continue;
        path.push(key);
        walk(item);
        path.pop();
      }
    }
  };
  walk(value);
  return found;
}

/**
 * Wraps a resolver so each file is read and each variable looked up once per
 * load: 10,000 targets that share one key file read it once.
 *
 * @param base The resolver to wrap; Deno's env and file APIs by default.
 * @returns A resolver that remembers what it read (failures included).
 */
export function cachingResolver(base: SecretResolver = DENO_RESOLVER): SecretResolver {
  const files = new Map<string, Promise<string>>();
  return {
    env: (name) => base.env(name),
    readFile(path) {
      let read = files.get(path);
      if (read === undefined) files.set(path, read = base.readFile(path));
      return read;
    },
  };
}
