/**
 * The contract server's in-memory cluster: nodes, guests, storages, backups
 * and tasks, answering with the shapes the Proxmox VE API schema returns.
 * Changes (power, snapshots, backups) run as tasks with UPIDs; a task ends
 * after a set number of status reads (not after time, so tests never race a
 * clock), and its effect is applied when it ends.
 *
 * @module
 */
import { actionParams, type Call, checkValue, PveError } from "./_pve_api.ts";

/** A guest in the cluster. */
export interface TestGuest {
  vmid: number;
  node: string;
  type: "qemu" | "lxc";
  name: string;
  status: "running" | "stopped" | "paused";
  tags: string[];
  config: Record<string, string | number>;
  snapshots: { name: string; description: string; snaptime: number; parent?: string }[];
  firewall: boolean;
}

/** A backup volume. */
export interface TestBackup {
  volid: string;
  storage: string;
  /** Node for a local storage; `null` for a shared one. */
  node: string | null;
  vmid: number;
  ctime: number;
  size: number;
  verification?: "ok" | "failed";
}

/** A storage. */
export interface TestStorage {
  storage: string;
  node: string;
  content: string;
  shared: boolean;
  plugintype: string;
}

/** A task. */
export interface TestTask {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  starttime: number;
  /** Status reads left before it ends. */
  readsLeft: number;
  exitstatus?: string;
  log: string[];
  effect: () => string | undefined;
}

const hex = (n: number, width = 8) => n.toString(16).toUpperCase().padStart(width, "0");

/** The cluster the contract server serves. */
export class PveCluster {
  readonly nodeNames = ["pve1", "pve2"];
  readonly guests: TestGuest[];
  readonly storages: TestStorage[];
  readonly backups: TestBackup[];
  readonly tasks = new Map<string, TestTask>();
  /** Status reads a task takes to end (1: the first read already sees it stopped). */
  taskReads = 2;
  #pid = 4000;

  /** @param now Seconds since the epoch the backups' ages are counted from. */
  constructor(readonly now: number = Math.floor(Date.now() / 1000)) {
    const day = 86400;
    this.guests = [
      {
        vmid: 100,
        node: "pve1",
        type: "qemu",
        name: "web",
        status: "running",
        tags: ["web"],
        config: {
          name: "web",
          memory: 2048,
          cores: 2,
          net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1",
          scsi0: "local-lvm:vm-100-disk-0,size=32G",
          ciuser: "admin",
          cipassword: "$5$notreally$cloudinitpasswordhash",
          ipconfig0: "ip=10.0.0.10/24,gw=10.0.0.1",
        },
        snapshots: [],
        firewall: true,
      },
      {
        vmid: 101,
        node: "pve1",
        type: "lxc",
        name: "db1",
        status: "running",
        tags: ["db"],
        config: {
          hostname: "db1",
          memory: 1024,
          unprivileged: 0,
          features: "nesting=1",
          net0:
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:01,ip=10.0.0.5/24,gw=10.0.0.1,type=veth",
          rootfs: "local-lvm:vm-101-disk-0,size=8G",
        },
        snapshots: [{ name: "before", description: "old", snaptime: this.now - 3 * day }],
        firewall: false,
      },
      {
        vmid: 102,
        node: "pve2",
        type: "lxc",
        name: "db2",
        status: "stopped",
        tags: ["db", "prod"],
        config: {
          hostname: "db2",
          memory: 1024,
          unprivileged: 1,
          net0:
            "name=eth0,bridge=vmbr1,firewall=1,hwaddr=BC:24:11:00:02:01,ip=10.0.0.5/24,tag=20,type=veth",
          rootfs: "local-lvm:vm-102-disk-0,size=8G",
        },
        snapshots: [],
        firewall: true,
      },
      {
        vmid: 103,
        node: "pve2",
        type: "lxc",
        name: "cache",
        status: "running",
        tags: [],
        config: {
          hostname: "cache",
          memory: 512,
          unprivileged: 1,
          net0: "name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:00:03:01,ip=dhcp,type=veth",
          rootfs: "local-lvm:vm-103-disk-0,size=4G",
        },
        snapshots: [],
        firewall: true,
      },
    ];
    this.storages = [
      {
        storage: "local",
        node: "pve1",
        content: "backup,iso,vztmpl",
        shared: false,
        plugintype: "dir",
      },
      {
        storage: "local",
        node: "pve2",
        content: "backup,iso,vztmpl",
        shared: false,
        plugintype: "dir",
      },
      {
        storage: "local-lvm",
        node: "pve1",
        content: "images,rootdir",
        shared: false,
        plugintype: "lvmthin",
      },
      { storage: "pbs", node: "pve1", content: "backup", shared: true, plugintype: "pbs" },
      { storage: "pbs", node: "pve2", content: "backup", shared: true, plugintype: "pbs" },
    ];
    this.backups = [
      this.#backup("local", "pve1", 100, this.now - day, 1_200_000_000),
      { ...this.#backup("pbs", null, 101, this.now - 30 * day, 300_000_000), verification: "ok" },
      this.#backup("local", "pve2", 103, this.now - 2 * day, 100_000_000),
    ];
  }

  #backup(storage: string, node: string | null, vmid: number, ctime: number, size: number) {
    const type = this.guests.find((g) => g.vmid === vmid)!.type;
    const date = new Date(ctime * 1000).toISOString().replace(/[-:]/g, "_").replace("T", "-")
      .slice(0, 19);
    const volid = storage === "pbs"
      ? `pbs:backup/${type === "qemu" ? "vm" : "ct"}/${vmid}/${
        new Date(ctime * 1000).toISOString()
      }`
      : `${storage}:backup/vzdump-${type}-${vmid}-${date}.${type === "qemu" ? "vma" : "tar"}.zst`;
    return { volid, storage, node, vmid, ctime, size };
  }

  /** `GET /version`. */
  version(): unknown {
    return { version: "8.3.2", release: "8.3", repoid: "3e76eec21c4a14a7" };
  }

  /** `GET /cluster/status`: the cluster entry and one entry per node. */
  clusterStatus(): unknown {
    return [
      { type: "cluster", id: "cluster", name: "lab", nodes: 2, quorate: 1, version: 3 },
      ...this.nodeNames.map((name, i) => ({
        type: "node",
        id: `node/${name}`,
        name,
        nodeid: i + 1,
        online: 1,
        local: i === 0 ? 1 : 0,
        ip: `10.0.0.${i + 1}`,
        level: "",
      })),
    ];
  }

  /** `GET /nodes`. */
  nodes(): unknown {
    return this.nodeNames.map((node) => ({
      node,
      id: `node/${node}`,
      type: "node",
      status: "online",
      cpu: 0.05,
      maxcpu: 8,
      mem: 8 * 2 ** 30,
      maxmem: 32 * 2 ** 30,
      uptime: 86400,
      level: "",
    }));
  }

  #node(node: string): void {
    if (!this.nodeNames.includes(node)) {
      throw new PveError(595, `no such node '${node}'`);
    }
  }

  /** `GET /nodes/{node}/status`. */
  nodeStatus(node: string): unknown {
    this.#node(node);
    return {
      cpu: 0.05,
      cpuinfo: { cpus: 8, sockets: 1, cores: 8, model: "Test CPU", mhz: "3000" },
      loadavg: ["0.10", "0.20", "0.30"],
      memory: { used: 8 * 2 ** 30, total: 32 * 2 ** 30, free: 24 * 2 ** 30 },
      rootfs: { used: 10 * 2 ** 30, total: 100 * 2 ** 30, avail: 90 * 2 ** 30, free: 90 * 2 ** 30 },
      swap: { used: 0, total: 0, free: 0 },
      uptime: 86400,
      idle: 0,
      wait: 0,
      pveversion: "pve-manager/8.3.2/3e76eec21c4a14a7",
      kversion: "Linux 6.8.12-5-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-5",
    };
  }

  /** `GET /cluster/resources`, optionally of one type. */
  resources(type: string | undefined, _user: string): unknown {
    const vm = this.guests.map((g) => ({
      id: `${g.type}/${g.vmid}`,
      type: g.type,
      vmid: g.vmid,
      name: g.name,
      node: g.node,
      status: g.status,
      template: 0,
      ...(g.tags.length ? { tags: g.tags.join(";") } : {}),
      cpu: g.status === "running" ? 0.02 : 0,
      maxcpu: 2,
      mem: g.status === "running" ? 512 * 2 ** 20 : 0,
      maxmem: Number(g.config.memory) * 2 ** 20,
      disk: 0,
      maxdisk: 8 * 2 ** 30,
      uptime: g.status === "running" ? 3600 : 0,
    }));
    const storage = this.storages.map((s) => ({
      id: `storage/${s.node}/${s.storage}`,
      type: "storage",
      storage: s.storage,
      node: s.node,
      plugintype: s.plugintype,
      content: s.content,
      shared: s.shared ? 1 : 0,
      status: "available",
      disk: 40 * 2 ** 30,
      maxdisk: 100 * 2 ** 30,
    }));
    if (type === "vm") return vm;
    if (type === "storage") return storage;
    if (type === "node") return this.nodes();
    return [...vm, ...storage];
  }

  /** The guest a path names, as pveproxy finds it: on that node, of that type. */
  guest(path: Readonly<Record<string, string>>): TestGuest {
    this.#node(path.node);
    const guest = this.guests.find((g) => g.vmid === Number(path.vmid));
    if (!guest || guest.node !== path.node || guest.type !== path.type) {
      const file = path.type === "qemu" ? "qemu-server" : "lxc";
      throw new PveError(
        500,
        `Configuration file 'nodes/${path.node}/${file}/${path.vmid}.conf' does not exist`,
      );
    }
    return guest;
  }

  /** `GET /nodes/{node}/{type}/{vmid}/status/current`. */
  guestStatus(path: Readonly<Record<string, string>>): unknown {
    const g = this.guest(path);
    return {
      vmid: g.vmid,
      name: g.name,
      status: g.status,
      ...(g.type === "qemu" ? { qmpstatus: g.status } : { type: "lxc" }),
      cpus: 2,
      cpu: g.status === "running" ? 0.02 : 0,
      mem: g.status === "running" ? 512 * 2 ** 20 : 0,
      maxmem: Number(g.config.memory) * 2 ** 20,
      disk: 0,
      maxdisk: 8 * 2 ** 30,
      uptime: g.status === "running" ? 3600 : 0,
      ha: { managed: 0 },
    };
  }

  /** `GET /nodes/{node}/{type}/{vmid}/config`. */
  guestConfig(path: Readonly<Record<string, string>>): unknown {
    const g = this.guest(path);
    return { ...g.config, digest: "0123456789abcdef0123456789abcdef01234567" };
  }

  /** `GET /nodes/{node}/lxc/{vmid}/firewall/options`. */
  firewallOptions(path: Readonly<Record<string, string>>): unknown {
    const g = this.guest(path);
    return { enable: g.firewall ? 1 : 0, policy_in: "DROP", policy_out: "ACCEPT" };
  }

  /** `GET /nodes/{node}/{type}/{vmid}/snapshot`, ending with the `current` entry. */
  snapshots(path: Readonly<Record<string, string>>): unknown {
    const g = this.guest(path);
    const last = g.snapshots.at(-1)?.name;
    return [
      ...g.snapshots,
      { name: "current", description: "You are here!", ...(last ? { parent: last } : {}) },
    ];
  }

  #task(node: string, type: string, id: string, user: string, effect: TestTask["effect"]): string {
    const starttime = Math.floor(Date.now() / 1000);
    const pid = this.#pid++;
    const upid = `UPID:${node}:${hex(pid)}:${hex(pid * 7)}:${
      hex(starttime)
    }:${type}:${id}:${user}:`;
    this.tasks.set(upid, {
      upid,
      node,
      type,
      id,
      user,
      starttime,
      readsLeft: this.taskReads,
      log: [`starting task ${type} ${id}`],
      effect,
    });
    return upid;
  }

  /** `POST /nodes/{node}/{type}/{vmid}/status/{action}`: parameters checked per type; a task. */
  powerAction(call: Call): string {
    const g = this.guest(call.path);
    const action = call.path.action;
    const allowed = actionParams(action, g.type);
    for (const [name, value] of Object.entries(call.params)) {
      if (!(name in allowed)) throw unknownParam(name);
      const checked = checkValue(allowed[name], value);
      if (!checked.ok) {
        throw new PveError(400, "Parameter verification failed.", { [name]: checked.error });
      }
    }
    const type = `${g.type === "qemu" ? "qm" : "vz"}${action}`;
    return this.#task(g.node, type, String(g.vmid), call.user, () => {
      if (action === "start" || action === "resume") {
        if (g.status === "running" && action === "start") return `VM ${g.vmid} already running`;
        g.status = "running";
      } else if (action === "suspend") g.status = "paused";
      else if (action !== "reboot") g.status = "stopped";
      return undefined;
    });
  }

  /** `POST /nodes/{node}/{type}/{vmid}/snapshot`: a task. */
  snapshotCreate(call: Call): string {
    const g = this.guest(call.path);
    const name = String(call.params.snapname);
    if (g.type === "lxc" && call.params.vmstate !== undefined) throw unknownParam("vmstate");
    if (g.snapshots.some((s) => s.name === name)) {
      throw new PveError(500, `snapshot name '${name}' already used`);
    }
    return this.#task(
      g.node,
      `${g.type === "qemu" ? "qm" : "vz"}snapshot`,
      String(g.vmid),
      call.user,
      () => {
        g.snapshots.push({
          name,
          description: String(call.params.description ?? ""),
          snaptime: Math.floor(Date.now() / 1000),
          ...(g.snapshots.at(-1) ? { parent: g.snapshots.at(-1)!.name } : {}),
        });
        return undefined;
      },
    );
  }

  /** `POST …/snapshot/{snapname}/rollback`: a task; the guest ends stopped. */
  snapshotRollback(call: Call): string {
    const g = this.guest(call.path);
    if (!g.snapshots.some((s) => s.name === call.path.snapname)) {
      throw new PveError(500, `snapshot '${call.path.snapname}' does not exist`);
    }
    return this.#task(
      g.node,
      `${g.type === "qemu" ? "qm" : "vz"}rollback`,
      String(g.vmid),
      call.user,
      () => {
        g.status = "stopped";
        return undefined;
      },
    );
  }

  /** `DELETE …/snapshot/{snapname}`: a task. */
  snapshotDelete(call: Call): string {
    const g = this.guest(call.path);
    if (!g.snapshots.some((s) => s.name === call.path.snapname)) {
      throw new PveError(500, `snapshot '${call.path.snapname}' does not exist`);
    }
    return this.#task(
      g.node,
      `${g.type === "qemu" ? "qm" : "vz"}delsnapshot`,
      String(g.vmid),
      call.user,
      () => {
        g.snapshots = g.snapshots.filter((s) => s.name !== call.path.snapname);
        return undefined;
      },
    );
  }

  /** `GET /nodes/{node}/storage/{storage}/content`. */
  storageContent(call: Call): unknown {
    this.#node(call.path.node);
    const storage = this.storages.find((s) =>
      s.storage === call.path.storage && s.node === call.path.node
    );
    if (!storage) throw new PveError(500, `storage '${call.path.storage}' does not exist`);
    const wanted = call.params.content;
    if (wanted !== undefined && wanted !== "backup") return [];
    return this.backups
      .filter((b) =>
        b.storage === storage.storage && (b.node === null || b.node === call.path.node) &&
        (call.params.vmid === undefined || b.vmid === call.params.vmid)
      )
      .map((b) => {
        const type = this.guests.find((g) => g.vmid === b.vmid)?.type ?? "qemu";
        return {
          volid: b.volid,
          content: "backup",
          ctime: b.ctime,
          format: storage.plugintype === "pbs"
            ? `pbs-${type === "qemu" ? "vm" : "ct"}`
            : `${type === "qemu" ? "vma" : "tar"}.zst`,
          size: b.size,
          vmid: b.vmid,
          subtype: type,
          ...(b.verification
            ? { verification: { state: b.verification, upid: "UPID:pbs:x" } }
            : {}),
        };
      });
  }

  /** `POST /nodes/{node}/vzdump` for one guest on that node: a task that adds a backup. */
  vzdump(call: Call): string {
    this.#node(call.path.node);
    const vmid = Number(call.params.vmid);
    const guest = this.guests.find((g) => g.vmid === vmid);
    const storage = String(call.params.storage ?? "local");
    if (!guest) throw new PveError(500, `guest ${vmid} does not exist`);
    if (guest.node !== call.path.node) {
      throw new PveError(500, `guest ${vmid} is not on node '${call.path.node}'`);
    }
    if (
      !this.storages.some((s) =>
        s.storage === storage && s.node === guest.node && s.content.includes("backup")
      )
    ) {
      throw new PveError(500, `storage '${storage}' does not support backups`);
    }
    return this.#task(guest.node, "vzdump", String(vmid), call.user, () => {
      const shared = this.storages.find((s) => s.storage === storage)!.shared;
      this.backups.push(
        this.#backup(storage, shared ? null : guest.node, vmid, Math.floor(Date.now() / 1000), 5e8),
      );
      return undefined;
    });
  }

  #taskOf(call: Call): TestTask {
    this.#node(call.path.node);
    const task = this.tasks.get(call.path.upid);
    if (!task || task.node !== call.path.node) {
      throw new PveError(500, `unable to parse worker upid '${call.path.upid}'`);
    }
    return task;
  }

  /** `GET /nodes/{node}/tasks/{upid}/status`; each read brings the task closer to its end. */
  taskStatus(call: Call): unknown {
    const task = this.#taskOf(call);
    if (task.exitstatus === undefined && --task.readsLeft <= 0) {
      const error = task.effect();
      task.exitstatus = error ?? "OK";
      task.log.push(error ? `TASK ERROR: ${error}` : "TASK OK");
    }
    return {
      upid: task.upid,
      node: task.node,
      pid: parseInt(task.upid.split(":")[2], 16),
      pstart: parseInt(task.upid.split(":")[3], 16),
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user: task.user,
      status: task.exitstatus === undefined ? "running" : "stopped",
      ...(task.exitstatus === undefined ? {} : { exitstatus: task.exitstatus }),
    };
  }

  /** `GET /nodes/{node}/tasks/{upid}/log`. */
  taskLog(call: Call): unknown {
    const task = this.#taskOf(call);
    const start = Number(call.params.start ?? 0);
    const limit = Number(call.params.limit ?? 50);
    return task.log.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t }));
  }
}

/**
 * The error pveproxy gives for a parameter outside the schema.
 *
 * @param name The parameter.
 * @returns The error.
 */
export function unknownParam(name: string): PveError {
  return new PveError(400, "Parameter verification failed.", {
    [name]: "property is not defined in schema and the schema does not allow additional properties",
  });
}
