/**
 * Engine administration (admin tier, approval-worthy): `image_pull` and
 * `system_prune`.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError } from "./operation.ts";
import {
  dockerAnswer,
  dockerPlan,
  engineMessage,
  imageRefSchema,
  parseBody,
} from "./_docker_schemas.ts";

/**
 * Splits a validated image reference into the engine's `fromImage` and `tag`
 * (a digest counts as the tag). A missing tag means `latest`: without one
 * the engine would pull every tag of the repository.
 *
 * @param image A value accepted by {@linkcode imageRefSchema}.
 * @returns `fromImage` and `tag` query values.
 */
export function splitImageRef(image: string): { fromImage: string; tag: string } {
  const at = image.indexOf("@");
  if (at >= 0) return { fromImage: image.slice(0, at), tag: image.slice(at + 1) };
  const colon = image.lastIndexOf(":");
  if (colon > image.lastIndexOf("/")) {
    return { fromImage: image.slice(0, colon), tag: image.slice(colon + 1) };
  }
  return { fromImage: image, tag: "latest" };
}

const UNREACHABLE =
  /dial tcp|lookup |no such host|i\/o timeout|connection refused|network is unreachable|TLS handshake timeout|deadline exceeded|Client\.Timeout/i;

function pullFailure(image: string, message: string): OperationError {
  return UNREACHABLE.test(message)
    ? new OperationError(
      "registry_unreachable",
      `Cannot pull image "${image}": the engine could not reach the registry`,
    )
    : new OperationError(
      "pull_failed",
      `Cannot pull image "${image}": ${message || "the engine refused the pull"}`,
    );
}

/** Pull one image from its registry. */
export const imagePull = defineOperation({
  name: "image_pull",
  title: "Pull an image",
  description:
    'Pulls one image, e.g. "nginx:1.27" or "ghcr.io/org/app:v1" (no tag: latest). Errors: registry_unreachable, pull_failed (unknown image, no access).',
  input: z.strictObject({ image: imageRefSchema }),
  output: z.object({ image: z.string(), status: z.string() }),
  capability: "container:admin",
  targetTypes: ["docker"],
  mutates: true,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "POST",
      path: "/images/create",
      query: splitImageRef(args.image),
      response: "stream_json",
    }),
  parse: (result, args) => {
    if (result.kind === "docker" && result.status >= 400) {
      throw pullFailure(args.image, engineMessage(result));
    }
    const answer = dockerAnswer(result, { ok: [200], doing: `pull image "${args.image}"` });
    const events = Array.isArray(answer.body)
      ? answer.body as { status?: unknown; error?: unknown }[]
      : [];
    const error = events.find((e) => typeof e.error === "string");
    if (error) throw pullFailure(args.image, String(error.error));
    const last = [...events].reverse().find((e) => typeof e.status === "string");
    return { image: args.image, status: String(last?.status ?? "Pulled") };
  },
  render: (out) => `${out.image}: ${out.status}`,
});

/** What `system_prune` can clear. */
export const PRUNE_SCOPES = ["containers", "images", "networks"] as const;

const pruneSchema = z.object({
  ContainersDeleted: z.array(z.string()).nullable().optional(),
  ImagesDeleted: z.array(
    z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() }),
  )
    .nullable().optional(),
  NetworksDeleted: z.array(z.string()).nullable().optional(),
  SpaceReclaimed: z.number().default(0),
});

/** Remove stopped containers, unused images or unused networks. */
export const systemPrune = defineOperation({
  name: "system_prune",
  title: "Prune containers, images or networks",
  description:
    "Removes on one engine every stopped container (scope containers), dangling image (images; with all_images every unused image) or unused network (networks). Never volumes.",
  input: z.strictObject({
    scope: z.enum(PRUNE_SCOPES),
    all_images: z.boolean().default(false),
  }),
  output: z.object({
    scope: z.enum(PRUNE_SCOPES),
    deleted: z.array(z.string()),
    reclaimed_bytes: z.number(),
  }),
  // all_images turns "dangling images" into "every image no container uses".
  paramReach: { scope: { absent: "no prune at all", widenedBy: ["all_images"] } },
  capability: "container:admin",
  targetTypes: ["docker"],
  mutates: true,
  destructive: true,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "POST",
      path: `/${args.scope}/prune`,
      query: args.scope === "images" && args.all_images
        ? { filters: JSON.stringify({ dangling: ["false"] }) }
        : {},
      response: "json",
    }),
  parse: (result, args) => {
    const answer = dockerAnswer(result, { ok: [200], doing: `prune ${args.scope}` });
    const p = parseBody(pruneSchema, answer.body, "prune report");
    const deleted = [
      ...(p.ContainersDeleted ?? []).map((id) => id.slice(0, 12)),
      ...(p.ImagesDeleted ?? []).map((i) => i.Untagged ?? i.Deleted ?? "").filter(Boolean),
      ...(p.NetworksDeleted ?? []),
    ];
    return { scope: args.scope, deleted, reclaimed_bytes: p.SpaceReclaimed };
  },
  render: (out) =>
    `Pruned ${out.deleted.length} ${out.scope}, reclaimed ${out.reclaimed_bytes} bytes`,
});
