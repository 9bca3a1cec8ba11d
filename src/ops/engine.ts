/**
 * The engine and its images, read only: `engine_info`, `engine_disk_usage`
 * and `image_list`.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation } from "./operation.ts";
import { dockerAnswer, dockerPlan, isoTime, parseBody } from "./_docker_schemas.ts";

const infoSchema = z.object({
  Name: z.string().default(""),
  ServerVersion: z.string().default(""),
  OperatingSystem: z.string().default(""),
  KernelVersion: z.string().default(""),
  Architecture: z.string().default(""),
  NCPU: z.number().default(0),
  MemTotal: z.number().default(0),
  Containers: z.number().default(0),
  ContainersRunning: z.number().default(0),
  ContainersPaused: z.number().default(0),
  ContainersStopped: z.number().default(0),
  Images: z.number().default(0),
  Driver: z.string().default(""),
  CgroupDriver: z.string().default(""),
  CgroupVersion: z.string().default(""),
});

/** The engine's version and host facts. */
export const engineInfo = defineOperation({
  name: "engine_info",
  title: "Docker engine info",
  description: "Returns the engine's name, version, the API version we speak with it, OS, " +
    "kernel, architecture, CPUs, memory, container counts by state, image count, storage " +
    "driver and cgroup driver/version.",
  input: z.strictObject({}),
  output: z.object({
    name: z.string(),
    server_version: z.string(),
    api_version: z.string(),
    os: z.string(),
    kernel: z.string(),
    architecture: z.string(),
    cpus: z.number(),
    memory_bytes: z.number(),
    containers: z.object({
      total: z.number(),
      running: z.number(),
      paused: z.number(),
      stopped: z.number(),
    }),
    images: z.number(),
    storage_driver: z.string(),
    cgroup: z.string(),
  }),
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (_args, target) => dockerPlan(target, { method: "GET", path: "/info", response: "json" }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "read engine info" });
    const i = parseBody(infoSchema, answer.body, "info");
    return {
      name: i.Name,
      server_version: i.ServerVersion,
      api_version: answer.apiVersion,
      os: i.OperatingSystem,
      kernel: i.KernelVersion,
      architecture: i.Architecture,
      cpus: i.NCPU,
      memory_bytes: i.MemTotal,
      containers: {
        total: i.Containers,
        running: i.ContainersRunning,
        paused: i.ContainersPaused,
        stopped: i.ContainersStopped,
      },
      images: i.Images,
      storage_driver: i.Driver,
      cgroup: [i.CgroupDriver, i.CgroupVersion && `v${i.CgroupVersion}`].filter(Boolean).join(" "),
    };
  },
  render: (i) =>
    `${i.name}: Docker ${i.server_version} (API ${i.api_version}), ${i.os}, ${i.cpus} CPUs, ` +
    `${i.containers.running}/${i.containers.total} containers running, ${i.images} images`,
});

const sized = z.object({
  count: z.number(),
  size_bytes: z.number(),
  reclaimable_bytes: z.number(),
});
const dfSchema = z.object({
  LayersSize: z.number().default(0),
  Images: z.array(z.object({ Size: z.number().default(0), Containers: z.number().default(0) }))
    .nullable().default([]),
  Containers: z.array(z.object({ SizeRw: z.number().default(0), State: z.string().default("") }))
    .nullable().default([]),
  Volumes: z.array(z.object({
    UsageData: z.object({ Size: z.number(), RefCount: z.number() }).nullable().optional(),
  })).nullable().default([]),
  BuildCache: z.array(z.object({ Size: z.number().default(0), InUse: z.boolean().default(false) }))
    .nullable().default([]),
});

/** Disk used by images, containers, volumes and build cache. */
export const engineDiskUsage = defineOperation({
  name: "engine_disk_usage",
  title: "Docker disk usage",
  description: "Count, size and reclaimable bytes of images, containers (writable layers), " +
    "volumes and build cache, like `docker system df`.",
  input: z.strictObject({}),
  output: z.object({ images: sized, containers: sized, volumes: sized, build_cache: sized }),
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (_args, target) =>
    dockerPlan(target, { method: "GET", path: "/system/df", response: "json" }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "read disk usage" });
    const df = parseBody(dfSchema, answer.body, "disk usage");
    const images = df.Images ?? [];
    const containers = df.Containers ?? [];
    const volumes = (df.Volumes ?? []).map((v) => v.UsageData ?? { Size: 0, RefCount: 1 });
    const cache = df.BuildCache ?? [];
    return {
      images: {
        count: images.length,
        size_bytes: df.LayersSize,
        reclaimable_bytes: images.filter((i) => i.Containers === 0).reduce((n, i) => n + i.Size, 0),
      },
      containers: {
        count: containers.length,
        size_bytes: containers.reduce((n, c) => n + c.SizeRw, 0),
        reclaimable_bytes: containers.filter((c) => c.State !== "running")
          .reduce((n, c) => n + c.SizeRw, 0),
      },
      volumes: {
        count: volumes.length,
        size_bytes: volumes.reduce((n, v) => n + Math.max(0, v.Size), 0),
        reclaimable_bytes: volumes.filter((v) => v.RefCount === 0)
          .reduce((n, v) => n + Math.max(0, v.Size), 0),
      },
      build_cache: {
        count: cache.length,
        size_bytes: cache.reduce((n, c) => n + c.Size, 0),
        reclaimable_bytes: cache.filter((c) => !c.InUse).reduce((n, c) => n + c.Size, 0),
      },
    };
  },
  render: (d) =>
    (["images", "containers", "volumes", "build_cache"] as const).map((k) =>
      `${k}: ${d[k].count}, ${d[k].size_bytes} bytes (${d[k].reclaimable_bytes} reclaimable)`
    ).join("\n"),
});

const imageSchema = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullable().default([]),
  Size: z.number().default(0),
  Created: z.number().optional(),
  Containers: z.number().default(-1),
});

/** Images on the engine. */
export const imageList = defineOperation({
  name: "image_list",
  title: "List images",
  description: "Lists images on a Docker engine: short id, tags, size in bytes, creation time.",
  input: z.strictObject({}),
  output: z.object({
    images: z.array(z.object({
      id: z.string(),
      tags: z.array(z.string()),
      size_bytes: z.number(),
      created: z.string().nullable(),
    })),
  }),
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (_args, target) =>
    dockerPlan(target, { method: "GET", path: "/images/json", response: "json" }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "list images" });
    return {
      images: parseBody(z.array(imageSchema), answer.body, "image list").map((i) => ({
        id: i.Id.replace(/^sha256:/, "").slice(0, 12),
        tags: (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>"),
        size_bytes: i.Size,
        created: isoTime(i.Created),
      })),
    };
  },
  render: (out) =>
    out.images.length === 0
      ? "No images"
      : out.images.map((i) => `${i.id}  ${i.tags.join(", ") || "<untagged>"}  ${i.size_bytes}`)
        .join("\n"),
});
