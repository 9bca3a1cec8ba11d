/**
 * Filling file_write templates (`src/config/templates_load.ts`): the
 * caller's variables are validated by the parameter types of operation
 * files, secrets come from their references, and the body is filled in one
 * pass, so a value is always data: a value holding `{{other}}` stays that
 * text, it is never read as a placeholder; the escape `{{"{{"}}` writes a
 * literal `{{` that is not read again either.
 *
 * @module
 */
import { z } from "zod";
import { type Template, TEMPLATE_TOKEN, templateSecrets } from "../config/templates_load.ts";
import { REDACTED } from "../audit/secret_scanner.ts";
import { paramZod } from "./operator.ts";
import { OperationError } from "./operation.ts";

/** Variable values as the caller gives them. */
export type TemplateValues = Record<string, string | number | boolean>;

/**
 * The schema of a template's caller-given variables (secrets are never given).
 *
 * @param template The template.
 * @returns A strict object schema.
 */
export function variablesSchema(template: Template): z.ZodType<Record<string, unknown>> {
  return z.strictObject(Object.fromEntries(
    Object.entries(template.variables).flatMap(([name, v]) =>
      v.type === "secret" ? [] : [[name, paramZod(`variables.${name}`, v)]]
    ),
  ));
}

/**
 * Fills a template. The caller's variables must already be validated.
 *
 * @param template The template.
 * @param values Validated variables (defaults applied).
 * @returns The text, and the secret values it may hold (for masking).
 * @throws {OperationError} When a secret was not resolved (never its value).
 */
export function renderTemplate(
  template: Template,
  values: Record<string, unknown>,
): { text: string; secrets: string[] } {
  const secrets = new Map<string, string>();
  for (const [name, secret] of templateSecrets(template)) {
    if (!secret.resolved) {
      throw new OperationError(
        "internal",
        `Cannot fill template ${JSON.stringify(template.name)}: its secret ${
          JSON.stringify(name)
        } was not resolved at start`,
      );
    }
    secrets.set(name, secret.reveal());
  }
  // One pass: what a value or an escape writes is never searched for placeholders again.
  const text = template.body.replace(TEMPLATE_TOKEN, (_, name: string | undefined) => {
    // The escape {{"{{"}} writes a literal "{{".
    if (name === undefined) return "{{";
    const secret = secrets.get(name);
    if (secret !== undefined) return secret;
    const value = values[name];
    return value === undefined ? "" : String(value);
  });
  return { text, secrets: [...secrets.values()] };
}

/**
 * Text with every secret value replaced by `[REDACTED]` (longest first, so a
 * secret holding another is masked whole).
 *
 * @param text The text.
 * @param secrets Secret values.
 * @returns The masked text.
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== "") out = out.replaceAll(secret, REDACTED);
  }
  return out;
}
