/**
 * A probe worker for the docker sandbox test: created with the docker
 * kind's permissions, it tries what the docker worker must be able to do
 * (its socket, its TCP engine) and what it must not (other files, env,
 * subprocesses, other sockets and ports), and reports each error class.
 *
 * @module
 */
interface Probe {
  socket: string;
  otherSocket: string;
  engine: { hostname: string; port: number };
  otherPort: number;
}

async function attempt(action: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await action();
    return "ok";
  } catch (error) {
    return (error as Error).name;
  }
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Probe>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event) => {
  const p = event.data;
  scope.postMessage({
    socket: await attempt(async () =>
      (await Deno.connect({ transport: "unix", path: p.socket })).close()
    ),
    engine: await attempt(async () => (await Deno.connect(p.engine)).close()),
    otherSocket: await attempt(() => Deno.connect({ transport: "unix", path: p.otherSocket })),
    otherPort: await attempt(() => Deno.connect({ hostname: "127.0.0.1", port: p.otherPort })),
    readFile: await attempt(() => Deno.readTextFile("/etc/hostname")),
    writeFile: await attempt(() => Deno.writeTextFile("/tmp/tailops-probe", "x")),
    env: await attempt(() => Deno.env.get("HOME")),
    run: await attempt(() => new Deno.Command("/bin/true").output()),
    ffi: await attempt(() => Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {})),
    sys: await attempt(() => Deno.hostname()),
  });
};
