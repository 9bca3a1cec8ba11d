/**
 * A probe worker for the sandbox test: started with the SSH kind's
 * permissions, it tries what the SSH worker must not be able to do and
 * reports the error class of each attempt.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { Client } from "ssh2";

type Attempt = () => unknown;

async function attempt(fn: Attempt): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (error) {
    return (error as Error).name;
  }
}

self.onmessage = async (event: MessageEvent<{ allowed: number; other: number }>) => {
  const { allowed, other } = event.data;
  const results = {
    ssh2Loaded: typeof Client === "function" ? "ok" : "missing",
    read: await attempt(() => Deno.readTextFileSync("/etc/hostname")),
    env: await attempt(() => Deno.env.get("HOME")),
    run: await attempt(() => new Deno.Command("true").outputSync()),
    write: await attempt(() => Deno.writeTextFileSync("/tmp/tailops-probe", "x")),
    connectOther: await attempt(async () =>
      (await Deno.connect({ hostname: "127.0.0.1", port: other })).close()
    ),
    connectAllowed: await attempt(async () =>
      (await Deno.connect({ hostname: "127.0.0.1", port: allowed })).close()
    ),
  };
  self.postMessage(results);
};
