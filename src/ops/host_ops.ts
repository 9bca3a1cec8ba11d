/**
 * The host operation catalog: every operation that runs on `local` and `ssh`
 * targets, frozen.
 *
 * @module
 */
import type { Operation } from "./operation.ts";
import { listDirectory, readFile } from "./file.ts";
import { fileRestore, fileWrite } from "./file_write.ts";
import { journalLogs } from "./logs.ts";
import { logSearch } from "./log_search.ts";
import { securityEvents } from "./security_events.ts";
import { serviceList } from "./service_list.ts";
import { diskUsage } from "./disk_usage.ts";
import { rebootRequired } from "./reboot_required.ts";
import { packageInstall } from "./package_install.ts";
import { firewallStatus } from "./firewall_status.ts";
import { systemReboot } from "./system_reboot.ts";
import { listeningSockets } from "./network.ts";
import { dnsLookup, ping, tcpCheck } from "./diagnostics.ts";
import { tlsCheck } from "./tls_check.ts";
import { packageUpdates } from "./package.ts";
import { packageUpgrade } from "./package_upgrade.ts";
import { packageRefresh } from "./package_refresh.ts";
import { serviceControl, serviceStatus } from "./service.ts";
import { systemStatus } from "./system.ts";
import { topProcesses } from "./processes.ts";
import { processSignal } from "./process_signal.ts";

/** Host operations, observe tier first, then control and admin. */
export const HOST_OPERATIONS: readonly Operation[] = Object.freeze([
  systemStatus,
  topProcesses,
  serviceStatus,
  serviceList,
  journalLogs,
  logSearch,
  securityEvents,
  listeningSockets,
  firewallStatus,
  packageUpdates,
  rebootRequired,
  readFile,
  listDirectory,
  diskUsage,
  tcpCheck,
  dnsLookup,
  ping,
  tlsCheck,
  serviceControl,
  processSignal,
  packageRefresh,
  packageInstall,
  packageUpgrade,
  fileWrite,
  fileRestore,
  systemReboot,
]);
