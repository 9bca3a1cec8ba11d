/**
 * A test worker with two jobs:
 *
 * - Sandbox probe: on `{ type: "probe" }` it tries, from inside a worker
 *   created with the local kind's permissions, what the local executor must
 *   not be able to do (and a few things it must), and reports the error
 *   class of each attempt ("ok" when it worked).
 * - Crash stand-in: it speaks the executor protocol (`configure`, `run`) and
 *   throws an uncaught error on a plan whose first program is `crash`, so the
 *   executor host's crash handling can be tested.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { WorkerRequest } from "../../src/exec/protocol.ts";

/** What the probe is asked to try. */
export interface ProbeRequest {
  type: "probe";
  /** An allowed root with a readable file `inside.txt` and a symlink `escape` pointing outside. */
  root: string;
  /** A port something listens on, on 127.0.0.1. */
  port: number;
  /** An allowlisted program (absolute path). */
  allowedProgram: string;
  /** Programs that are not allowlisted (absolute paths). */
  deniedPrograms: string[];
}

async function attempt(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (error) {
    return (error as Error).name;
  }
}

async function probe(request: ProbeRequest): Promise<Record<string, string>> {
  const results: Record<string, string> = {
    readInsideRoot: await attempt(() => Deno.readTextFile(`${request.root}/inside.txt`)),
    readOutsideRoot: await attempt(() => Deno.readTextFile("/etc/hostname")),
    readPasswd: await attempt(() => Deno.readTextFile("/etc/passwd")),
    readViaSymlink: await attempt(() => Deno.readTextFile(`${request.root}/escape`)),
    statOutsideRoot: await attempt(() => Deno.stat("/etc")),
    runAllowed: await attempt(() => new Deno.Command(request.allowedProgram).output()),
    net: await attempt(async () =>
      (await Deno.connect({ hostname: "127.0.0.1", port: request.port })).close()
    ),
    listen: await attempt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
    env: await attempt(() => Deno.env.get("HOME")),
    envAll: await attempt(() => Deno.env.toObject()),
    writeInsideRoot: await attempt(() => Deno.writeTextFile(`${request.root}/written.txt`, "x")),
    writeTmp: await attempt(() => Deno.writeTextFile("/tmp/tailops-probe-write", "x")),
    sys: await attempt(() => Deno.hostname()),
  };
  for (const program of request.deniedPrograms) {
    results[`run ${program}`] = await attempt(() => new Deno.Command(program).output());
  }
  return results;
}

self.onmessage = (event: MessageEvent<ProbeRequest | WorkerRequest>) => {
  const message = event.data;
  if (message.type === "probe") {
    probe(message).then((results) => self.postMessage(results));
  } else if (message.type === "configure") {
    self.postMessage({ type: "ready" });
  } else if (message.type === "run") {
    const plan = message.plan;
    if (plan.kind === "exec" && plan.commands[0]?.[0] === "crash") {
      throw new Error("The probe worker crashes on purpose");
    }
    self.postMessage({
      type: "result",
      id: message.id,
      ok: true,
      result: { kind: "exec", commands: [] },
    });
  }
};
