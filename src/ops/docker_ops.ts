/**
 * The Docker operation catalog: every operation on `docker` targets, plus
 * the compose file operations for hosts, frozen.
 *
 * @module
 */
import { composePull, composeUp } from "./compose.ts";
import { containerInspect, containerList, containerLogs } from "./container.ts";
import { containerControl, containerRemove } from "./container_control.ts";
import { containerStats } from "./container_stats.ts";
import { engineDiskUsage, engineInfo, imageList } from "./engine.ts";
import { imagePull, systemPrune } from "./engine_admin.ts";
import type { Operation } from "./operation.ts";
import { stackControl, stackList, stackStatus } from "./stack.ts";

/** Docker and compose operations, observe tier first, then control and admin. */
export const DOCKER_OPERATIONS: readonly Operation[] = Object.freeze([
  containerList,
  containerInspect,
  containerLogs,
  containerStats,
  imageList,
  engineInfo,
  engineDiskUsage,
  stackList,
  stackStatus,
  containerControl,
  stackControl,
  composeUp,
  composePull,
  containerRemove,
  imagePull,
  systemPrune,
]);
