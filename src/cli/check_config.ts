/**
 * `tailops check-config`: validates a registry and a policy and prints a
 * summary with secrets shown only by where they come from.
 *
 * @module
 */
import { ConfigError } from "../config/errors.ts";
import { loadPolicy, loadTargets } from "../config/load.ts";
import type { Target } from "../config/targets_schema.ts";
import { compilePolicy } from "../gate/policy.ts";
import { CATALOG, checkRegistryAgainstCatalog } from "../ops/catalog.ts";
import { CliError } from "./errors.ts";
import { loadCatalog, STACK_TOOLS } from "./catalog.ts";
import { loadTemplates } from "../config/templates_load.ts";
import { withPositions } from "../config/yaml_source.ts";
import { CHECK_CONFIG_HELP } from "./help.ts";
import { parseFlags, stringOption } from "./options.ts";

function connectionLine(target: Target): string {
  switch (target.type) {
    case "local":
      return `file roots: ${target.files.roots.join(", ") || "(none)"}`;
    case "ssh": {
      const c = target.connection;
      const auth = [
        c.key && `key ${c.key}`,
        c.password && `password ${c.password}`,
        c.agent && `agent ${c.agent}`,
      ]
        .filter(Boolean).join(", ");
      const hostKey = c.host_key ?? `known_hosts ${c.known_hosts}`;
      return `${c.user}@${c.host}:${c.port} (${auth}; host key ${hostKey}${
        c.via ? `; via ${c.via}` : ""
      })`;
    }
    case "docker":
      return "socket" in target.connection
        ? `unix://${target.connection.socket}`
        : `${target.connection.host} (TLS, CA ${target.connection.tls.ca})`;
    case "http": {
      const c = target.connection;
      const auth = c.auth === undefined
        ? "no credentials"
        : "bearer" in c.auth
        ? `bearer ${c.auth.bearer}`
        : "basic" in c.auth
        ? `basic ${c.auth.basic.username}:${c.auth.basic.password}`
        : `header ${c.auth.header.name}: ${c.auth.header.value}`;
      return `${c.base_url} (${c.methods.join(",")}; ${auth})`;
    }
    case "proxmox": {
      const c = target.connection;
      const tls = c.tls.fingerprint
        ? `pinned ${c.tls.fingerprint}`
        : c.tls.ca
        ? `CA ${c.tls.ca}`
        : "system CAs";
      const nodes = c.nodes.length > 0 ? c.nodes.join(",") : "all nodes";
      return `${c.base_url} (token ${c.token_id} secret ${c.token_secret}; TLS ${tls}; ${nodes})`;
    }
  }
}

/**
 * Runs `tailops check-config`.
 *
 * @param args Arguments after `check-config`.
 * @returns Exit code: 0 valid, 1 invalid.
 * @throws {CliError} On bad flags.
 */
export async function runCheckConfig(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    targets: { type: "string" },
    policy: { type: "string" },
    operations: { type: "string" },
    stacks: { type: "string" },
    templates: { type: "string" },
    "no-resolve": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (parsed.values.help) {
    console.log(CHECK_CONFIG_HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    throw new CliError(
      `Unexpected argument ${JSON.stringify(parsed.positionals[1])}: expected one targets file`,
    );
  }
  const targetsFile = parsed.positionals[0] ?? stringOption(parsed, "targets", "TAILOPS_TARGETS");
  const policyFile = stringOption(parsed, "policy", "TAILOPS_POLICY");
  try {
    const registry = await loadTargets(targetsFile, {
      resolveSecrets: parsed.values["no-resolve"] !== true,
    });
    const { policy, file, locate } = await loadPolicy(policyFile, {
      resolveSecrets: parsed.values["no-resolve"] !== true,
    });
    const templatesDir = stringOption(parsed, "templates", "TAILOPS_TEMPLATES");
    const templates = templatesDir
      ? await loadTemplates(templatesDir, { resolveSecrets: parsed.values["no-resolve"] !== true })
      : [];
    const catalog = await loadCatalog(
      stringOption(parsed, "operations", "TAILOPS_OPERATIONS"),
      stringOption(parsed, "stacks", "TAILOPS_STACKS"),
      { templates, resolveSecrets: parsed.values["no-resolve"] !== true },
    );
    await withPositions(() => compilePolicy(policy, catalog, { file, locate }));
    checkRegistryAgainstCatalog(registry, catalog);
    console.log(
      `${targetsFile ?? "<embedded default targets>"}: ${registry.targets.length} target(s)`,
    );
    for (const t of registry.targets) {
      console.log(`  ${t.id} [${t.type}] ${connectionLine(t)}`);
      console.log(`    capabilities: ${t.capabilities.join(", ")}`);
      if (t.tags.length || t.groups.length) {
        console.log(`    tags: ${t.tags.join(", ") || "-"}; groups: ${t.groups.join(", ") || "-"}`);
      }
    }
    console.log(`${file}: ${policy.rules.length} rule(s)`);
    for (const rule of policy.rules) {
      console.log(
        `  ${rule.id}: ${rule.effect} ${rule.operations.join(",")} on ${rule.targets.join(",")}`,
      );
    }
    const operators = catalog.slice(CATALOG.length).filter((op) => !STACK_TOOLS.includes(op.name));
    if (catalog.some((op) => op.name === "stack_deploy")) {
      console.log(`stacks: ${STACK_TOOLS.join(", ")} enabled`);
    }
    if (operators.length > 0) {
      console.log(`operations: ${operators.length} operator-defined`);
      for (const op of operators) {
        console.log(
          `  ${op.name}: ${op.capability} on ${op.targetTypes.join(",")}; ${
            op.programs.length > 0 ? `runs ${op.programs.join(", ")}` : "engine requests"
          }`,
        );
      }
    }
    if (templates.length > 0) {
      console.log(`templates: ${templates.length}`);
      for (const t of templates) {
        const vars = Object.entries(t.variables).map(([name, v]) =>
          v.type === "secret" ? `${name}: ${v.from}` : `${name}: ${v.type}`
        );
        console.log(`  ${t.name}: ${vars.join(", ") || "no variables"}`);
      }
    }
    console.log("OK");
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}
