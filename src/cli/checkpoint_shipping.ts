/**
 * Ships each audit checkpoint off the host as it is written: an
 * HMAC-signed webhook POST (the approval webhook's sender) and/or a syslog
 * message. Shipping runs beside the calls and never blocks or fails one;
 * failures are logged and counted for `/metrics`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { AuditRecord } from "../audit/record.ts";
import { sendSyslog, syslogMessage } from "../audit/syslog.ts";
import type { AuditConfig } from "../config/audit_schema.ts";
import { notifyWebhook } from "../gate/approvals.ts";

const log = getLogger(["tailops", "audit", "ship"]);

/** Counts of shipped and failed checkpoint deliveries. */
export interface ShippingCounts {
  shipped: number;
  failed: number;
}

/**
 * Builds the `onCheckpoint` hook for the audit writer from the policy's
 * `audit.ship` section.
 *
 * @param ship Where to ship (webhook, syslog); nothing configured ships nothing.
 * @returns The hook (undefined when nothing is configured) and live counts.
 */
export function checkpointShipper(
  ship: AuditConfig["ship"] | undefined,
): {
  onCheckpoint?: (record: AuditRecord) => void;
  counts: ShippingCounts;
  /** Waits for deliveries in flight (each is bounded by its own timeout). */
  drain(): Promise<void>;
} {
  const counts: ShippingCounts = { shipped: 0, failed: 0 };
  const webhook = ship?.webhook;
  const syslog = ship?.syslog;
  const inFlight = new Set<Promise<void>>();
  const track = (delivery: Promise<void>) => {
    inFlight.add(delivery);
    delivery.finally(() => inFlight.delete(delivery));
  };
  const drain = async () => {
    await Promise.allSettled([...inFlight]);
  };
  if (!webhook && !syslog) return { counts, drain };
  const settle = (how: string, reason: string | undefined, record: AuditRecord) => {
    if (reason === undefined) counts.shipped++;
    else {
      counts.failed++;
      log.warn("Cannot ship audit checkpoint {seq} by {how}: {reason}", {
        seq: record.seq,
        how,
        reason,
      });
    }
  };
  return {
    counts,
    drain,
    onCheckpoint(record) {
      if (webhook) {
        track(
          notifyWebhook(webhook.url, webhook.secret.reveal(), record).then(
            (result) => settle("webhook", result.ok ? undefined : result.reason, record),
          ),
        );
      }
      if (syslog) {
        track(
          sendSyslog(syslog.address, syslogMessage(record, syslog.facility)).then(
            (reason) => settle("syslog", reason, record),
          ),
        );
      }
    },
  };
}
