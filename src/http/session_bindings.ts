/**
 * Which identity opened which MCP session, kept where every gateway can see
 * it: a session id presented to any gateway by another identity is refused
 * (a hijack), wherever the session was opened. The transport calls this
 * interface; the store behind it is the state backend's.
 *
 * @module
 */

/** The session-to-identity binding store the transport calls. */
export interface SessionBindings {
  /**
   * Records that `subject` opened session `id`.
   *
   * @param id The session id the transport issued.
   * @param subject The identity subject that opened it.
   */
  bind(id: string, subject: string): Promise<void>;
  /**
   * The subject that opened session `id`, on any gateway.
   *
   * @param id A session id a client presented.
   * @returns The subject, or `undefined` when no gateway knows the session.
   */
  owner(id: string): Promise<string | undefined>;
}

/**
 * Bindings kept in this process only (the embedded default: one gateway).
 *
 * @returns The store.
 */
export function localSessionBindings(): SessionBindings {
  const owners = new Map<string, string>();
  return {
    bind(id, subject) {
      owners.set(id, subject);
      // Bounded: the transport keeps at most a few hundred sessions open.
      if (owners.size > 10_000) owners.delete(owners.keys().next().value!);
      return Promise.resolve();
    },
    owner: (id) => Promise.resolve(owners.get(id)),
  };
}
