/**
 * Where the gateway keeps its state (audit log, keys, tokens, approvals).
 *
 * @module
 */

/**
 * The default state directory: `$XDG_STATE_HOME/tailops`, else
 * `$HOME/.local/state/tailops`, else `./.tailops`.
 *
 * Needs `env` for XDG_STATE_HOME and HOME.
 *
 * @returns An absolute or relative directory path.
 */
export function defaultStateDir(): string {
  const xdg = Deno.env.get("XDG_STATE_HOME");
  if (xdg) return `${xdg}/tailops`;
  const home = Deno.env.get("HOME");
  if (home) return `${home}/.local/state/tailops`;
  return ".tailops";
}
