/**
 * A compose project's containers as `docker ps` lists them on a host, one
 * JSON object per line (`COMPOSE_PS_FORMAT`), and when they count as
 * settled. The executor host repeats a listing step until they settle; the
 * stack operations read the same lines for their results.
 *
 * @module
 */

/** The compose labels on every container compose creates. */
export const PROJECT_LABEL = "com.docker.compose.project";
/** The service label. */
export const SERVICE_LABEL = "com.docker.compose.service";

/** `docker ps --format` template: one JSON object per container. */
export const COMPOSE_PS_FORMAT = `{"service":{{json (.Label "${SERVICE_LABEL}")}},` +
  `"name":{{json .Names}},"state":{{json .State}},"status":{{json .Status}}}`;

/**
 * The argv listing one project's containers (every state).
 *
 * @param project The compose project name.
 * @returns `docker ps --all --filter label=... --format ...`.
 */
export function composePsArgv(project: string): string[] {
  return [
    "docker",
    "ps",
    "--all",
    "--no-trunc",
    "--filter",
    `label=${PROJECT_LABEL}=${project}`,
    "--format",
    COMPOSE_PS_FORMAT,
  ];
}

/** One container of a project. */
export interface ComposeContainer {
  readonly service: string;
  readonly name: string;
  /** `running`, `exited`, `restarting`, `created`... */
  readonly state: string;
  /** Status text, e.g. `Up 5 seconds (healthy)`. */
  readonly status: string;
  /** `healthy`, `unhealthy`, `starting`, or `null` without a health check. */
  readonly health: string | null;
}

/**
 * A container's health from its status text (`Up 5 minutes (healthy)`).
 *
 * @param status The engine's status text.
 * @returns `healthy`, `unhealthy`, `starting`, or `null` without a health check.
 */
export function healthOf(status: string): string | null {
  const match = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  return match ? match[1].replace("health: ", "") : null;
}

/**
 * Reads `docker ps` output made with {@linkcode COMPOSE_PS_FORMAT}.
 *
 * @param stdout The output.
 * @returns The containers, by service and name.
 * @throws {TypeError} When a line is not such an object.
 */
export function parseComposePs(stdout: string): ComposeContainer[] {
  const out: ComposeContainer[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const value = JSON.parse(line) as Record<string, unknown>;
    const { service, name, state, status } = value ?? {};
    if (![service, name, state, status].every((v) => typeof v === "string")) {
      throw new TypeError(
        `Expected a container as {service, name, state, status}, found ${line.slice(0, 80)}`,
      );
    }
    out.push({
      service: service as string,
      name: name as string,
      state: state as string,
      status: status as string,
      health: healthOf(status as string),
    });
  }
  return out.sort((a, b) =>
    a.service === b.service ? (a.name < b.name ? -1 : 1) : (a.service < b.service ? -1 : 1)
  );
}

/**
 * Whether a container is where `up` means it to be: running, and healthy
 * when it has a health check.
 *
 * @param container The container.
 * @returns `true` when settled.
 */
export function containerSettled(container: ComposeContainer): boolean {
  return container.state === "running" &&
    (container.health === null || container.health === "healthy");
}

/**
 * Whether every named service has at least one container, all of them settled.
 *
 * @param containers The project's containers.
 * @param services The services that must be up.
 * @returns `true` when all are settled.
 */
export function composeSettled(
  containers: readonly ComposeContainer[],
  services: readonly string[],
): boolean {
  return services.every((service) => {
    const mine = containers.filter((c) => c.service === service);
    return mine.length > 0 && mine.every(containerSettled);
  });
}
