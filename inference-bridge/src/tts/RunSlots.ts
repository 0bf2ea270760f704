// Node-wide admission for synthesiser runs (BoundedSlots): flite and
// espeak-ng are CPU-bound, and more runs than cores only slow each other and
// the node's audio down.
// A synthesis refused for want of room fails at once as "busy".
import { BoundedSlots } from "../BoundedSlots.ts";
import { abortError } from "./ProcessLauncher.ts";
import { SynthesisError } from "./SynthesisError.ts";

export interface RunSlotsOptions {
  maxRunning: number;
  maxWaiting: number;
}

export class RunSlots extends BoundedSlots {
  constructor(options: RunSlotsOptions) {
    super({
      maxRunning: Math.max(1, options.maxRunning),
      maxWaiting: Math.max(0, options.maxWaiting),
      full: (running, waiting) =>
        new SynthesisError("busy", `speech synthesis busy (${running} running, ${waiting} waiting)`),
      aborted: abortError,
    });
  }
}
