/**
 * Approval notifications: an HMAC-SHA256 signed POST to a chat or ticket
 * system. The receiver recomputes `HMAC-SHA256(secret, "<timestamp>.<body>")`
 * and compares it with `X-TailOps-Signature: sha256=<hex>`; the timestamp
 * header lets it refuse replays.
 *
 * Private to `src/gate`; import from `approvals.ts`.
 *
 * @module
 */
import { canonicalJson } from "../audit/canonical_json.ts";

/** Header carrying `sha256=<hex>` of the HMAC. */
export const SIGNATURE_HEADER = "X-TailOps-Signature";
/** Header carrying the Unix time (seconds) that was signed with the body. */
export const TIMESTAMP_HEADER = "X-TailOps-Timestamp";

/** How a notification went. */
export type WebhookResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly status?: number; readonly reason: string };

const encoder = new TextEncoder();

/**
 * Computes the signature header value for a body.
 *
 * @param secret The shared secret.
 * @param signed The timestamp (Unix seconds, as sent) and the exact body text.
 * @returns `sha256=` and 64 lowercase hex digits.
 */
export async function webhookSignature(
  secret: string,
  signed: { timestamp: string; body: string },
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(`${signed.timestamp}.${signed.body}`),
  );
  return `sha256=${
    Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/**
 * Sends one signed notification. Never throws: every failure (unreachable,
 * timeout, non-2xx, redirect) comes back as a result, so a broken webhook
 * cannot break a call. Needs `net` permission for the URL's host.
 *
 * @param url The webhook URL (http or https).
 * @param secret The shared HMAC secret.
 * @param event The JSON payload, e.g. an approval audit entry (without secrets).
 * @param options Timeout (default 5000 ms), the clock, and a `fetch` to use (for tests).
 * @returns The status, or why delivery failed.
 */
export async function notifyWebhook(
  url: string,
  secret: string,
  event: unknown,
  options: { timeoutMs?: number; now?: Date; fetch?: typeof fetch } = {},
): Promise<WebhookResult> {
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    const body = canonicalJson(event);
    const timestamp = String(Math.floor((options.now ?? new Date()).getTime() / 1000));
    const response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "tailops-gateway",
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: await webhookSignature(secret, { timestamp, body }),
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) {
      return { ok: true, status: response.status };
    }
    return {
      ok: false,
      status: response.status,
      reason: `The webhook answered ${response.status}: expected a 2xx status`,
    };
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    if (name === "TimeoutError" || name === "AbortError") {
      return { ok: false, reason: `The webhook did not answer within ${timeoutMs} ms` };
    }
    if (error instanceof TypeError && /URL/i.test(error.message)) {
      return { ok: false, reason: `Cannot notify the webhook: expected a valid URL` };
    }
    return { ok: false, reason: `Cannot reach the webhook: ${name}` };
  }
}
