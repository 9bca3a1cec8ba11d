/**
 * The policy's `audit` section: how often the gateway signs the head of its
 * audit chain, and where it ships each signed checkpoint off the host.
 *
 * @module
 */
import { z } from "zod";
import { secretRefSchema } from "./secret.ts";

/** A `HOST:PORT` of a syslog collector (UDP, RFC 5424). */
const syslogAddressSchema = z.string().max(300).regex(
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
  "Invalid syslog address: expected HOST:PORT, e.g. 127.0.0.1:514",
);

/** The `audit` section of a policy file. */
export const auditConfigSchema = z.strictObject({
  /** When the chain head is signed (besides at shutdown). */
  checkpoint: z.strictObject({
    /** After at most this many records. */
    every_records: z.int().min(1).max(1_000_000).default(1000),
    /** At most this long after the first record not yet covered. */
    every_seconds: z.number().min(1).max(86_400).default(60),
  }).default({ every_records: 1000, every_seconds: 60 }),
  /** Where each checkpoint goes as it is written; failures never block calls. */
  ship: z.strictObject({
    /** POSTs each checkpoint record, HMAC-SHA256 signed as the approval webhook. */
    webhook: z.strictObject({
      url: z.url({ protocol: /^https?$/, error: "Invalid webhook url: expected an http(s) URL" }),
      /** Secret reference (`${ENV_VAR}` or `file:/path`) for the signature key. */
      secret: secretRefSchema,
    }).optional(),
    /** Sends each checkpoint record as one RFC 5424 syslog message over UDP. */
    syslog: z.strictObject({
      address: syslogAddressSchema,
      /** Syslog facility number (default 16, local0). */
      facility: z.int().min(0).max(23).default(16),
    }).optional(),
  }).default({}),
});

/** The `audit` section, with defaults filled in. */
export type AuditConfig = z.infer<typeof auditConfigSchema>;
