/**
 * The Tailscale identity channel: a unix socket in `STATE/tailscale/`, a
 * directory only the gateway's user (and root, which runs tailscaled) can
 * enter. `tailscale serve` proxies tailnet requests to it and sets
 * `Tailscale-User-Login`; those headers are trusted on this listener only.
 * Any local process can reach the loopback TCP listener and write the same
 * headers there, so the TCP listener never trusts them.
 *
 * @module
 */

/** The connection channel a request arrived on, set by the listener (never by the request). */
export type Channel = "tcp" | "tailscale_socket";

/** Longest path a unix socket can have on Linux (`sun_path` is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * The socket `tailscale serve` proxies to.
 *
 * @param stateDir The gateway's state directory.
 * @returns `STATE/tailscale/serve.sock`.
 */
export function tailscaleSocketPath(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/tailscale/serve.sock`;
}

/**
 * Creates `STATE/tailscale` (mode 0700) or checks the one that exists: it must
 * be a real directory (not a symlink), owned by the gateway's user, with no
 * permission for group or others. Removes a socket left by an earlier run.
 *
 * Needs `read`/`write` for the directory and `sys: uid`.
 *
 * @param stateDir The gateway's state directory.
 * @returns The socket path to listen on.
 * @throws {Error} When the directory is not private to this user, or the path is too long.
 */
export async function prepareTailscaleSocket(stateDir: string): Promise<string> {
  const path = tailscaleSocketPath(stateDir);
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
    throw new Error(
      `Cannot listen for tailscale serve on "${path}": expected a socket path of at most ${MAX_SOCKET_PATH} bytes (use a shorter --state-dir)`,
    );
  }
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const info = await Deno.lstat(dir);
  const uid = Deno.uid();
  const mode = (info.mode ?? 0) & 0o7777;
  if (!info.isDirectory || info.isSymlink) {
    throw new Error(
      `Refusing "${dir}" for the Tailscale socket: expected a directory, found ${
        info.isSymlink ? "a symlink" : "another kind of file"
      }`,
    );
  }
  if (uid === null || info.uid !== uid) {
    throw new Error(
      `Refusing "${dir}" for the Tailscale socket: expected it owned by uid ${uid}, found uid ${info.uid}`,
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `Refusing "${dir}" for the Tailscale socket: expected mode 0700 (no access for group or others), found 0${
        mode.toString(8)
      }`,
    );
  }
  try {
    const old = await Deno.lstat(path);
    if (!old.isSocket) {
      throw new Error(`Refusing "${path}": expected a socket or nothing, found another file`);
    }
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return path;
}

/**
 * The tailnet peer's address, as tailscaled writes it in `X-Forwarded-For`
 * (one address, set rather than appended, so a client cannot add its own).
 * Trusted on this socket only, where nobody but tailscaled and the gateway's
 * user can connect: per-peer limits and logs then see the real peer instead
 * of one unix socket for everyone.
 *
 * @param headers The request headers.
 * @returns The address, or `undefined` when absent or not a plain IP address.
 */
export function tailnetPeer(headers: Headers): string | undefined {
  const value = headers.get("x-forwarded-for")?.trim();
  if (!value || value.length > 45) return undefined;
  if (
    /^\d{1,3}(?:\.\d{1,3}){3}$/.test(value) || /^[0-9a-fA-F:]+$/.test(value) && value.includes(":")
  ) {
    return value;
  }
  return undefined;
}

/**
 * Listens on the Tailscale socket and hands each request to the app, marked
 * as arriving on that channel.
 *
 * Needs `read`/`write` and `net: unix:PATH` for the socket, `sys: uid`.
 *
 * @param stateDir The gateway's state directory.
 * @param options The app's `fetch` and the signal that stops the listener.
 * @returns The server.
 * @throws {Error} When the directory is not private or the socket cannot be created.
 */
export async function serveTailscaleSocket(
  stateDir: string,
  options: {
    fetch: (
      request: Request,
      env: { channel: Channel; remoteAddr?: Deno.NetAddr },
    ) => Response | Promise<Response>;
    signal: AbortSignal;
  },
): Promise<Deno.HttpServer<Deno.UnixAddr>> {
  const path = await prepareTailscaleSocket(stateDir);
  const server = Deno.serve(
    { path, transport: "unix", signal: options.signal, onListen: () => {} },
    (request) => {
      const peer = tailnetPeer(request.headers);
      return options.fetch(request, {
        channel: "tailscale_socket",
        ...(peer ? { remoteAddr: { transport: "tcp", hostname: peer, port: 0 } } : {}),
      });
    },
  );
  // The directory already keeps other users out; the socket's own mode is a second wall.
  await Deno.chmod(path, 0o600);
  return server;
}
