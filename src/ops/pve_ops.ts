/**
 * The Proxmox VE operation family, frozen, for the catalog. Every tool is
 * named `pve_*` so it cannot collide with host or container tools
 * (`pve_guest_control` beside `service_control` and `container_control`).
 *
 * @module
 */
import { PVE_BACKUP_CREATE, PVE_BACKUP_LIST, PVE_BACKUP_VERIFY_STATUS } from "./pve_backup.ts";
import { PVE_CLUSTER_STATUS, PVE_TASK_STATUS } from "./pve_cluster.ts";
import {
  PVE_GUEST_CONFIG,
  PVE_GUEST_CONTROL,
  PVE_GUEST_LIST,
  PVE_GUEST_STATUS,
} from "./pve_guest.ts";
import { PVE_LXC_NETWORK_AUDIT } from "./pve_lxc_audit.ts";
import {
  PVE_SNAPSHOT_CREATE,
  PVE_SNAPSHOT_DELETE,
  PVE_SNAPSHOT_LIST,
  PVE_SNAPSHOT_ROLLBACK,
} from "./pve_snapshot.ts";
import type { Operation } from "./operation.ts";

/** Every proxmox target operation. */
export const PVE_OPERATIONS: readonly Operation[] = Object.freeze([
  PVE_CLUSTER_STATUS,
  PVE_GUEST_LIST,
  PVE_GUEST_STATUS,
  PVE_GUEST_CONFIG,
  PVE_GUEST_CONTROL,
  PVE_SNAPSHOT_LIST,
  PVE_SNAPSHOT_CREATE,
  PVE_SNAPSHOT_ROLLBACK,
  PVE_SNAPSHOT_DELETE,
  PVE_BACKUP_LIST,
  PVE_BACKUP_CREATE,
  PVE_BACKUP_VERIFY_STATUS,
  PVE_TASK_STATUS,
  PVE_LXC_NETWORK_AUDIT,
] as Operation[]);
