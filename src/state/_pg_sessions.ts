/**
 * Session-to-identity bindings in the shared database.
 *
 * Private to `src/state`.
 *
 * @module
 */
import type { SessionBindings } from "../http/session_bindings.ts";
import type { PgClient } from "./_pg_client.ts";

/**
 * {@linkcode SessionBindings} kept in PostgreSQL.
 *
 * @param db The connection.
 * @param gateway This gateway's id, recorded with each binding.
 * @returns The store.
 */
export function pgSessionBindings(db: PgClient, gateway: string): SessionBindings {
  return {
    async bind(id, subject) {
      await db.run(
        "record the session",
        (sql) =>
          sql`INSERT INTO tailops_sessions (id, subject, gateway) VALUES (${id}, ${subject}, ${gateway})
            ON CONFLICT DO NOTHING`,
        { idempotent: true },
      );
    },
    async owner(id) {
      const rows = await db.run(
        "look up the session",
        (sql) => sql<{ subject: string }[]>`SELECT subject FROM tailops_sessions WHERE id = ${id}`,
        { idempotent: true },
      );
      return rows[0]?.subject;
    },
  };
}
