/**
 * Readiness for `/readyz`: a list of checks, each saying why the gateway
 * cannot serve calls now, or nothing when its part is fine. Liveness
 * (`/healthz`) stays a plain 200: a gateway that is not ready should be taken
 * out of rotation, not restarted.
 *
 * @module
 */

/** One part the gateway needs to serve calls. */
export interface ReadinessCheck {
  /** What it checks, e.g. `audit`. */
  readonly name: string;
  /** Why the part cannot serve now, or `undefined` when it can. */
  readonly check: () => string | undefined;
}

/** Whether the gateway is ready, and if not, why. */
export type Readiness = { ok: true } | { ok: false; reason: string };

/**
 * Combines checks into the readiness function `/readyz` calls.
 *
 * @param checks The checks, run in order on every probe.
 * @returns A function giving `ok`, or the reasons of every failing check joined by "; ".
 */
export function readiness(checks: readonly ReadinessCheck[]): () => Readiness {
  return function ready(): Readiness {
    const reasons: string[] = [];
    for (const { name, check } of checks) {
      const reason = check();
      if (reason !== undefined) reasons.push(`${name}: ${reason}`);
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join("; ") };
  };
}
