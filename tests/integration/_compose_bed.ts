/**
 * Compose test hosts: real dockerd engines (one per SSH host) whose socket
 * the SSH test user may use, each with a local `busybox:1.36` image built
 * from Debian's busybox-static (no registry is reachable), and the session
 * environment that points each sshd instance's sessions at its engine
 * (`DOCKER_HOST`), as a host's own environment would. The gateway is given
 * nothing beyond the targets' declarations.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { buildTestImage, DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { ensureTestUser, TEST_USER } from "../../scripts/testbed/sshd.ts";
import type { Client } from "./_gateway.ts";

/** The repository's example stacks (`stacks/`), served as `TAILOPS_STACKS`. */
export const SHIPPED_STACKS: string = fromFileUrl(new URL("../../stacks", import.meta.url));

/** busybox applets the example monitoring stack runs, beyond the test image's. */
const MONITORING_PROGRAMS = ["httpd", "wget", "mkdir", "mv", "printf", "touch", "test", "read"];

/** Whether `docker-compose` (Debian's compose v1) is installed here; says so when not. */
export async function hasComposeV1(): Promise<boolean> {
  try {
    await Deno.stat("/usr/bin/docker-compose");
    return true;
  } catch {
    console.warn(
      "docker-compose is not installed (apt-get install docker-compose): compose stack tests skip",
    );
    return false;
  }
}

/**
 * Starts `count` engines in parallel, each with `busybox:1.36` built locally
 * and its socket usable by the SSH test user's group.
 *
 * Needs root, dockerd, busybox-static.
 *
 * @param count Engines to start.
 * @returns The engines; close each when done.
 * @throws {Error} When one does not start (those started are closed first).
 */
export async function startEngines(count: number): Promise<DockerdTestbed[]> {
  await ensureTestUser();
  const started = await Promise.allSettled(
    Array.from({ length: count }, async () => {
      const engine = await DockerdTestbed.start({ image: false, group: TEST_USER });
      try {
        engine.image = await buildTestImage(engine.socket, {
          dir: engine.dir,
          tag: "busybox:1.36",
          programs: MONITORING_PROGRAMS,
        });
        return engine;
      } catch (error) {
        await engine.close();
        throw error;
      }
    }),
  );
  const engines = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(engines.map((e) => e.close()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return engines;
}

/**
 * A directory of links to every program in /usr/bin but the named ones: a
 * `PATH` for a host that lacks them (docker-compose, docker).
 *
 * @param dir A new directory to create.
 * @param without The programs to leave out.
 * @returns The directory.
 */
export async function binWithout(dir: string, without: readonly string[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  for await (const entry of Deno.readDir("/usr/bin")) {
    if (!without.includes(entry.name)) {
      await Deno.symlink(`/usr/bin/${entry.name}`, `${dir}/${entry.name}`);
    }
  }
  return dir;
}

/**
 * The session environment pointing an SSH host at its engine.
 *
 * @param engine The engine.
 * @param extra More variables (a `PATH`, a `DOCKER_CONFIG`).
 * @returns `DOCKER_HOST` and the extras.
 */
export function engineEnv(
  engine: DockerdTestbed,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { DOCKER_HOST: `unix://${engine.socket}`, ...extra };
}

/**
 * Each container of a compose project on an engine: id and start time (to
 * tell whether a deploy restarted it).
 *
 * @param engine The engine.
 * @param project The project.
 * @returns `ID STARTED_AT` lines, sorted.
 */
export async function containerStarts(engine: DockerdTestbed, project: string): Promise<string[]> {
  const ids = (await engine.docker(
    "ps",
    "-aq",
    "--filter",
    `label=com.docker.compose.project=${project}`,
  )).split("\n").filter(Boolean);
  if (ids.length === 0) return [];
  return (await engine.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", ...ids))
    .split("\n").sort();
}

/**
 * Creates one directory per id under `base` that the SSH test user may write (write roots).
 *
 * @param base An existing directory.
 * @param ids The directory names.
 */
export async function writableDirs(base: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await Deno.mkdir(`${base}/${id}`, { mode: 0o777 });
    await Deno.chmod(`${base}/${id}`, 0o777);
  }
}

/** A fan-out's structured result, as the stack tests read it. */
export interface Rollout {
  results: {
    target: string;
    status: string;
    batch?: number;
    data?: Record<string, unknown>;
    error?: { code: string; message: string };
  }[];
  batches: { batch: number; targets: string[]; ok: number; failed: number; skipped: number }[];
}

/**
 * Calls a tool and collects its progress messages (a rollout's `batch i/n: target: status`).
 *
 * @param client The SDK client.
 * @param name Tool name.
 * @param args Arguments.
 * @returns The structured result and the messages, in arrival order.
 */
export async function callWithProgress(
  client: InstanceType<typeof Client>,
  name: string,
  args: Record<string, unknown>,
): Promise<{ result: Rollout; progress: string[] }> {
  const progress: string[] = [];
  const raw = await client.callTool({ name, arguments: args }, {
    onprogress: (p: { message?: string }) => progress.push(p.message ?? ""),
    timeout: 600_000,
  });
  return { result: raw.structuredContent as unknown as Rollout, progress };
}
