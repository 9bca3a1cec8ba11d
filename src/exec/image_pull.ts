/**
 * Which images a stack deployment pulls, decided from the target's engine:
 * `docker image inspect` tells, per image, whether the engine has it and
 * whether it came from a registry under that name (a repo digest for the
 * name's repository is recorded only when it was pulled or pushed as such).
 * An image the engine lacks is pulled; one that came from a registry is
 * pulled again when its `pull_policy` allows; one that exists only on that
 * engine (built, loaded or tagged there) never is, so a deployment never
 * reaches for a registry that never had it. Repo digests name repositories,
 * not tags: a local tag of a pulled image's own repository counts as pulled. The executor
 * host fills a pull step's services from the inspection step's result; the
 * stack operation reads the same result to report each decision.
 *
 * @module
 */
import type { CommandResult, ExecFailure, ExecPlan, PlanResult, PullCandidate } from "./plan.ts";

export type { PullCandidate };

/** What was decided for one service. */
export interface PullDecision {
  readonly service: string;
  readonly image: string | null;
  /** What the engine said of the image: `null` when it was not asked. */
  readonly engine: "absent" | "local_only" | "from_registry" | null;
  readonly pull: boolean;
  /** Why, in a few words a person reads. */
  readonly reason: string;
}

/** `docker image inspect --format`: one JSON object per image. */
export const IMAGE_INSPECT_FORMAT = '{"id":{{json .Id}},"repo_digests":{{json .RepoDigests}}}';

/**
 * A plain image reference (`name[:tag][@digest]`): what the docker CLI is
 * given as one argument. Compose variables (`${TAG}`) and anything else are not.
 */
const IMAGE_REFERENCE = /^[a-z0-9][a-z0-9._\/:@-]{0,254}$/i;

/**
 * The argv inspecting one image on the host's engine.
 *
 * @param image A plain image reference.
 * @returns `docker image inspect --format ... -- IMAGE`.
 */
export function imageInspectArgv(image: string): string[] {
  return ["docker", "image", "inspect", "--format", IMAGE_INSPECT_FORMAT, "--", image];
}

/**
 * The decision that needs no engine, or `null` when the engine must be asked.
 *
 * @param candidate The service.
 * @returns The decision, or `null`.
 */
export function staticDecision(candidate: PullCandidate): PullDecision | null {
  const { name: service, image, build, pullPolicy } = candidate;
  const no = (reason: string): PullDecision => ({
    service,
    image,
    engine: null,
    pull: false,
    reason,
  });
  if (image === null) return no("no image: built on the host");
  if (build || pullPolicy === "build") return no("has a build section: built on the host");
  if (pullPolicy === "never") return no("pull_policy never");
  if (!IMAGE_REFERENCE.test(image)) {
    return no("not a plain image reference (compose variables?): left to compose up");
  }
  return null;
}

/**
 * The images the engine must be asked about, each once, in the services' order.
 *
 * @param candidates The services.
 * @returns The images.
 */
export function imagesToInspect(candidates: readonly PullCandidate[]): string[] {
  const images = candidates.filter((c) => staticDecision(c) === null).map((c) => c.image!);
  return [...new Set(images)];
}

/** What one inspection says: the engine's answer, or why there is none. */
type Seen = "absent" | "local_only" | "from_registry" | { failed: string };

/**
 * A reference's repository in full (`busybox:1.36` → `docker.io/library/busybox`), as the
 * engine's repo digests name it in short (`busybox@sha256:...`).
 *
 * @param reference An image reference or a repo digest.
 * @returns `DOMAIN/PATH`, lower case.
 */
export function repositoryOf(reference: string): string {
  let name = reference.split("@")[0];
  const tag = name.lastIndexOf(":");
  if (tag > name.lastIndexOf("/")) name = name.slice(0, tag);
  const [first, ...rest] = name.split("/");
  const hasDomain = rest.length > 0 && (/[.:]/.test(first) || first === "localhost");
  const domain = hasDomain ? first : "docker.io";
  const path = hasDomain ? rest.join("/") : name;
  const full = domain === "docker.io" && !path.includes("/") ? `library/${path}` : path;
  return `${domain === "index.docker.io" ? "docker.io" : domain}/${full}`.toLowerCase();
}

function seenIn(command: CommandResult | undefined, image: string): Seen {
  if (!command) return { failed: "the image inspection did not run" };
  if (command.exitCode === 0) {
    try {
      const digests = (JSON.parse(command.stdout.trim()) as { repo_digests?: unknown })
        .repo_digests;
      // A repo digest is kept per image, not per name: an image pulled as one name and tagged
      // as another (or built from the same layers) came from a registry only for the first.
      const mine = repositoryOf(image);
      return Array.isArray(digests) &&
          digests.some((d) => typeof d === "string" && repositoryOf(d) === mine)
        ? "from_registry"
        : "local_only";
    } catch {
      return { failed: `expected an image as JSON, found ${command.stdout.slice(0, 80)}` };
    }
  }
  // Both the 20.10 and the 28 CLI say "No such image: REF" (capitalised) for an absent image.
  if (/No such image: /.test(command.stderr)) return "absent";
  const line = command.stderr.trim().split("\n").at(-1)?.slice(0, 200) ||
    `docker exited with ${command.exitCode ?? command.signal}`;
  return { failed: line };
}

/** `pull_policy` values that pull only an image the engine lacks. */
const WHEN_MISSING = /^(missing|if_not_present|daily|weekly|every_.+)$/;

function decide(candidate: PullCandidate, seen: Exclude<Seen, { failed: string }>): PullDecision {
  const policy = candidate.pullPolicy ?? "unset";
  const base = { service: candidate.name, image: candidate.image, engine: seen };
  if (seen === "absent") return { ...base, pull: true, reason: "not on this engine" };
  if (seen === "local_only") {
    return {
      ...base,
      pull: false,
      reason: "only on this engine (built, loaded or tagged there: no registry digest for this " +
        "name): never pulled",
    };
  }
  if (candidate.image!.includes("@")) {
    return { ...base, pull: false, reason: "pinned by digest and present" };
  }
  if (WHEN_MISSING.test(policy)) {
    return { ...base, pull: false, reason: `present; pull_policy ${policy}` };
  }
  return { ...base, pull: true, reason: `from a registry; pull_policy ${policy}: updated` };
}

/**
 * Every service's decision from an inspection step's outcome (one command per
 * image of {@linkcode imagesToInspect}, in that order).
 *
 * A host without the docker CLI cannot be asked (both workers fail such a
 * plan with `program_missing`): nothing is pulled (compose up still pulls an
 * image it lacks), and each decision says why.
 *
 * @param candidates The services.
 * @param inspected The inspection step's outcome, `undefined` when none was needed.
 * @returns The decisions, by service, or the failure when the engine could not be asked.
 */
export function decidePulls(
  candidates: readonly PullCandidate[],
  inspected: { ok: true; result: PlanResult } | { ok: false; error: ExecFailure } | undefined,
): PullDecision[] | ExecFailure {
  const images = imagesToInspect(candidates);
  const seen = new Map<string, Seen>();
  if (images.length > 0) {
    if (!inspected) return { code: "internal", message: "The image inspection did not run" };
    if (!inspected.ok) {
      if (inspected.error.code !== "program_missing") return inspected.error;
      for (const image of images) seen.set(image, { failed: "program_missing" });
    } else {
      const commands = inspected.result.kind === "exec" ? inspected.result.commands : [];
      for (const [i, image] of images.entries()) seen.set(image, seenIn(commands[i], image));
    }
  }
  const out: PullDecision[] = [];
  for (const candidate of candidates) {
    const fixed = staticDecision(candidate);
    if (fixed) {
      out.push(fixed);
      continue;
    }
    const what = seen.get(candidate.image!)!;
    if (typeof what === "string") {
      out.push(decide(candidate, what));
    } else if (what.failed === "program_missing") {
      out.push({
        service: candidate.name,
        image: candidate.image,
        engine: null,
        pull: false,
        reason: "the docker CLI is not on this host, so the engine cannot be asked: " +
          "left to compose up (it pulls only a missing image)",
      });
    } else {
      return {
        code: "bad_response",
        message: `Cannot tell whether to pull ${JSON.stringify(candidate.image)}: ${what.failed}`,
      };
    }
  }
  return out;
}

/**
 * A pull step's plan with the services to pull appended (`-- SERVICE...`), or
 * `null` when there is none to pull, or why it cannot be decided.
 *
 * @param plan The compose pull plan, built without services.
 * @param candidates The services.
 * @param inspected The inspection step's outcome.
 * @returns The plan, `null`, or the failure.
 */
export function pullPlanFrom(
  plan: ExecPlan,
  candidates: readonly PullCandidate[],
  inspected: Parameters<typeof decidePulls>[1],
): ExecPlan | null | ExecFailure {
  const decisions = decidePulls(candidates, inspected);
  if (!Array.isArray(decisions)) return decisions;
  const pulled = decisions.filter((d) => d.pull).map((d) => d.service);
  if (pulled.length === 0) return null;
  return { ...plan, commands: plan.commands.map((argv) => [...argv, "--", ...pulled]) };
}
