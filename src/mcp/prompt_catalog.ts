/**
 * The MCP prompts: short guides for the workflows the gateway is for, each
 * naming the tools to use in order, dry run first, approvals where the
 * policy asks. Pure data and text: which tools a caller may use is decided
 * by the caller of {@linkcode promptText} (see `prompts.ts`).
 *
 * A step names its tools in {@linkcode PromptStep.tools}; a step whose tools
 * the caller cannot use is left out, so a text never names a tool the caller
 * cannot see. Tool calls are written `tool_name {arguments}`.
 *
 * @module
 */

/** What kind of value a prompt argument takes (its schema and completions follow from it). */
export type PromptArgKind = "selector" | "target" | "container" | "stack";

/** One argument of a prompt (MCP prompt arguments are strings). */
export interface PromptArg {
  readonly name: string;
  readonly kind: PromptArgKind;
  readonly description: string;
  readonly required: boolean;
}

/** One step of a guide. */
export interface PromptStep {
  /** Every tool the step names; the step is shown only when the caller may use all of them. */
  readonly tools: readonly string[];
  readonly text: string;
}

/** One prompt. */
export interface PromptDef {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly arguments: readonly PromptArg[];
  /** Tools without which the guide makes no sense: the prompt is hidden from callers lacking one. */
  readonly needs: readonly string[];
  /** The opening sentence. */
  intro(args: PromptValues): string;
  /** The steps, in order. */
  steps(args: PromptValues): readonly PromptStep[];
}

/** Validated argument values; `targets` is the selector as the envelope takes it. */
export interface PromptValues {
  readonly targets?: string | readonly string[];
  readonly target?: string;
  readonly container?: string;
  readonly stack?: string;
}

const SELECTOR: PromptArg = {
  name: "selector",
  kind: "selector",
  description:
    'Targets: an id, a glob ("web-*"), "tag:NAME" or "group:NAME", terms joined by "&", several separated by ","',
  required: true,
};

/** `{"targets":…}` plus more arguments, as a tool call's JSON. */
function call(values: PromptValues, more: Record<string, unknown> = {}): string {
  return JSON.stringify({ targets: values.targets, ...more });
}

const ALWAYS_ASK =
  "Change nothing the user did not ask for: run a mutating tool with dry_run: true first, show the plan, and run it only after the user agrees. " +
  "If a call returns approval_required, give the user the approval id: a person approves it (tailops approvals approve ID), then call again with approval_id.";

const LIST_FIRST = (values: PromptValues): PromptStep => ({
  tools: ["list_targets"],
  text: `list_targets ${
    call(values)
  } to see which targets match and what you may do on each (tools needing approval are listed).`,
});

/** Every prompt, in the order they are listed. */
export const PROMPTS: readonly PromptDef[] = Object.freeze([
  {
    name: "investigate_high_cpu",
    title: "Investigate high CPU",
    description: "Find what is using CPU on the selected targets and why; changes nothing unasked",
    arguments: [SELECTOR],
    needs: ["top_processes"],
    intro: (v) => `Find out what is using CPU on ${JSON.stringify(v.targets)}. ${ALWAYS_ASK}`,
    steps: (v) => [
      LIST_FIRST(v),
      {
        tools: ["system_status"],
        text: `system_status ${call(v)}: load average, memory and uptime per target.`,
      },
      {
        tools: ["top_processes"],
        text: `top_processes ${
          call(v, { sort: "cpu", limit: 10 })
        }: the processes using the most CPU on each target.`,
      },
      {
        tools: ["service_status", "journal_logs"],
        text:
          'For a busy process that belongs to a service: service_status {"target":ID,"unit":UNIT} and journal_logs {"target":ID,"unit":UNIT,"since":"1h"} to see why.',
      },
      {
        tools: ["service_control"],
        text:
          'If a restart would help, propose it: service_control {"target":ID,"unit":UNIT,"action":"restart","dry_run":true}, and run it without dry_run only when the user agrees.',
      },
      {
        tools: [],
        text:
          "Report per target: the load, the top processes, the likely cause and what you suggest.",
      },
    ],
  },
  {
    name: "security_audit",
    title: "Security audit",
    description:
      "Summarise logins, sudo use, account changes, open ports and pending updates on the selected targets",
    arguments: [SELECTOR],
    needs: ["security_events"],
    intro: (v) =>
      `Audit the security of ${JSON.stringify(v.targets)} with read-only tools; change nothing.`,
    steps: (v) => [
      LIST_FIRST(v),
      {
        tools: ["security_events"],
        text: `security_events ${
          call(v, { since: "1d" })
        }: SSH logins accepted and failed, sudo use, account changes; across targets it aggregates the top failing sources. If the journal is empty, try "source":"auth_log".`,
      },
      {
        tools: ["log_search"],
        text: `log_search ${
          call(v, { pattern: "Failed password", since: "1d" })
        } to look closer at what stands out.`,
      },
      {
        tools: ["listening_sockets"],
        text: `listening_sockets ${call(v)}: which ports listen, and by which process.`,
      },
      {
        tools: ["firewall_status"],
        text: `firewall_status ${call(v)}: the firewall rules in force.`,
      },
      {
        tools: ["package_updates"],
        text: `package_updates ${call(v)}: pending (security) updates.`,
      },
      {
        tools: [],
        text:
          "Report findings by severity, per target, with the evidence (counts, sources, users, ports) and suggested fixes; do not apply them.",
      },
    ],
  },
  {
    name: "update_packages",
    title: "Update packages",
    description:
      "Refresh package indexes, list updates, dry run, approval, upgrade, then report which targets need a reboot",
    arguments: [SELECTOR],
    needs: ["package_updates", "package_upgrade"],
    intro: (v) => `Update the packages on ${JSON.stringify(v.targets)}. ${ALWAYS_ASK}`,
    steps: (v) => [
      LIST_FIRST(v),
      {
        tools: ["package_refresh"],
        text: `package_refresh ${
          call(v, { dry_run: true })
        }, then without dry_run: refresh the package indexes (it may need approval).`,
      },
      {
        tools: ["package_updates"],
        text: `package_updates ${call(v)}: what would be upgraded; show the user the list.`,
      },
      {
        tools: ["package_upgrade"],
        text: `package_upgrade ${
          call(v, { all: true, dry_run: true })
        }: show the plan. Once the user agrees, call it without dry_run (add "serial": 1 to go one target at a time); settle approval_required with the user as said above.`,
      },
      {
        tools: ["reboot_required"],
        text: `reboot_required ${call(v)}: report which targets need a reboot.`,
      },
      {
        tools: [],
        text:
          "Report per target: what was upgraded, what failed, and whether a reboot is needed. Do not reboot unless the user asks.",
      },
    ],
  },
  {
    name: "troubleshoot_container",
    title: "Troubleshoot a container",
    description: "Inspect a container's state, logs and resource use on a Docker target",
    arguments: [
      {
        name: "target",
        kind: "target",
        description: "The Docker engine target the container runs on",
        required: true,
      },
      {
        name: "container",
        kind: "container",
        description: "The container's name or id",
        required: true,
      },
    ],
    needs: ["container_inspect", "container_logs"],
    intro: (v) =>
      `Find out what is wrong with container ${JSON.stringify(v.container)} on ${
        JSON.stringify(v.target)
      }. ${ALWAYS_ASK}`,
    steps: (v) => {
      const one = { target: v.target, container: v.container };
      return [
        {
          tools: ["container_list"],
          text: `container_list ${
            JSON.stringify({ target: v.target, all: true })
          } if the name is not exact.`,
        },
        {
          tools: ["container_inspect"],
          text: `container_inspect ${
            JSON.stringify(one)
          }: state, exit code, restart count, health, mounts and ports.`,
        },
        {
          tools: ["container_logs"],
          text: `container_logs ${JSON.stringify({ ...one, tail: 200 })}: the latest log lines.`,
        },
        {
          tools: ["container_stats"],
          text: `container_stats ${JSON.stringify(one)}: CPU, memory and network use.`,
        },
        {
          tools: ["container_control"],
          text: `If a restart would help: container_control ${
            JSON.stringify({ ...one, action: "restart", dry_run: true })
          }, then without dry_run when the user agrees.`,
        },
        {
          tools: [],
          text: "Report the cause you found, the evidence, and what you suggest.",
        },
      ];
    },
  },
  {
    name: "deploy_stack",
    title: "Deploy a compose stack",
    description:
      "Deploy a compose stack curated on the gateway to the selected hosts: dry run, approval, rollout",
    arguments: [
      {
        name: "stack",
        kind: "stack",
        description: "A stack curated on the gateway",
        required: true,
      },
      SELECTOR,
    ],
    needs: ["stack_deploy"],
    intro: (v) =>
      `Deploy stack ${JSON.stringify(v.stack)} to ${JSON.stringify(v.targets)}. ${ALWAYS_ASK}`,
    steps: (v) => [
      LIST_FIRST(v),
      {
        tools: ["stack_deploy"],
        text:
          `stack_deploy ${
            call(v, { stack: v.stack, dry_run: true })
          }: each file's diff and the compose command per target; show it to the user. If the ` +
          "stack has env templates (stack_deploy's `variables` lists them), ask the user for " +
          "their values and pass the same `variables` in every call.",
      },
      {
        tools: ["stack_deploy"],
        text: `Once the user agrees: stack_deploy ${
          call(v, { stack: v.stack, serial: 1, max_failures: 1 })
        } rolls out one target at a time and stops at the first failure.`,
      },
      {
        tools: ["stack_status"],
        text: `stack_status {"target":ENGINE,"project":${
          JSON.stringify(v.stack)
        }} on each host's Docker engine target: are the containers up and healthy?`,
      },
      {
        tools: [],
        text: "Report per target: files changed, whether compose ran, and the stack's health.",
      },
    ],
  },
  {
    name: "health_check",
    title: "Health check",
    description:
      "Check load, failed services, disk, pending updates and reboots on the selected targets",
    arguments: [SELECTOR],
    needs: ["system_status"],
    intro: (v) =>
      `Check the health of ${JSON.stringify(v.targets)} with read-only tools; change nothing.`,
    steps: (v) => [
      LIST_FIRST(v),
      {
        tools: ["system_status"],
        text: `system_status ${call(v)}: load, memory, disk and uptime.`,
      },
      {
        tools: ["service_list"],
        text: `service_list ${call(v, { state: "failed" })}: failed units.`,
      },
      {
        tools: ["disk_usage"],
        text:
          'Where a disk is nearly full: disk_usage {"target":ID,"path":ROOT} shows the largest directories.',
      },
      {
        tools: ["package_updates"],
        text: `package_updates ${call(v)}: pending updates.`,
      },
      {
        tools: ["reboot_required"],
        text: `reboot_required ${call(v)}: targets waiting for a reboot.`,
      },
      {
        tools: [],
        text: "Report per target: ok or the problems found, most urgent first.",
      },
    ],
  },
]);

/**
 * The text of a prompt for a caller: the intro and the steps whose tools the
 * caller may use, numbered.
 *
 * @param prompt The prompt.
 * @param values Its validated arguments.
 * @param canUse Whether the caller may use a tool (on the selected targets).
 * @returns The guide.
 */
export function promptText(
  prompt: PromptDef,
  values: PromptValues,
  canUse: (tool: string) => boolean,
): string {
  const steps = prompt.steps(values).filter((step) => step.tools.every(canUse));
  return [prompt.intro(values), ...steps.map((step, i) => `${i + 1}. ${step.text}`)].join("\n");
}
