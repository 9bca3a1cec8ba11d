/**
 * The encoded forms a secret may leak in (clear, base64, base64url, hex,
 * percent-encoded), and an assertion that a text holds none of them: what
 * the redaction tests of template secrets check answers, audit logs and
 * gateway logs with.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * A secret's forms.
 *
 * @param secret The secret.
 * @returns Form name → the secret in that form.
 */
export function secretForms(secret: string): Record<string, string> {
  const bytes = new TextEncoder().encode(secret);
  return {
    clear: secret,
    base64: btoa(secret),
    base64url: btoa(secret).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
    hex: [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(""),
    percent: encodeURIComponent(secret),
  };
}

/**
 * Fails when `text` holds the secret in any of its forms.
 *
 * @param text What to search.
 * @param secret The secret.
 * @param where What the text is, for the message.
 * @throws {AssertionError} Naming the form found.
 */
export function assertNoSecretForms(text: string, secret: string, where: string): void {
  for (const [form, value] of Object.entries(secretForms(secret))) {
    assert.ok(!text.includes(value), `${where}: the secret appears (${form})`);
  }
}
