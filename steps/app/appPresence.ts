import * as pulumi from "@pulumi/pulumi";

import type { LiveObservation } from "../live-check/liveCheck";

export type { LiveObservation };

/** Inputs of {@link AppPresence}. */
export interface AppPresenceInputs {
  location: string;
  observed: LiveObservation;
}

/** What it records: the observation of its last create/update and how many times it changed. */
export interface AppPresenceOutputs extends AppPresenceInputs {
  generation: number;
}

/**
 * Whether the app went out from under the stack since the presence was last recorded: missing,
 * moved, replaced by an unmarked one, or about to be taken over. A present app (or no reading) is
 * no change, so the up after an install, when the app appears, changes nothing.
 */
export function presenceChanged(news: AppPresenceInputs): boolean {
  return ["absent", "moved", "unmarked", "foreign"].includes(news.observed.state);
}

/**
 * Dynamic provider: Pulumi serializes this object into state and runs it in another process, so
 * every method uses only its arguments. Its diff is {@link presenceChanged}, inlined because a
 * serialized method cannot reach this module's functions.
 */
export const appPresenceProvider: pulumi.dynamic.ResourceProvider<AppPresenceInputs, AppPresenceOutputs> = {
  async diff(_id: string, _olds: AppPresenceOutputs, news: AppPresenceInputs) {
    const changes = ["absent", "moved", "unmarked", "foreign"].includes(news.observed.state);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: AppPresenceInputs) {
    return { id: `presence-${inputs.location}`, outs: { ...inputs, generation: 1 } };
  },
  async update(_id: string, olds: AppPresenceOutputs, news: AppPresenceInputs) {
    return { outs: { ...news, generation: (olds.generation ?? 0) + 1 } };
  },
  async delete() {
    // A record only; nothing on the server to undo.
  },
};

/**
 * The app's presence as the live check saw it, kept across runs. Pulumi compares a command's
 * inputs with the last ones recorded, so an app removed or moved by hand changes no input and an
 * unchanged `up` would report success. This resource's diff looks at what the live check saw: a
 * missing, moved, replaced or taken-over app counts up `generation`, which the deploy step carries in
 * its request, so the deploy (and after it the env apply, health gate, seed and smoke) runs again.
 */
export class AppPresence extends pulumi.dynamic.Resource {
  /** Counts the changes seen; the deploy request carries it. */
  declare public readonly generation: pulumi.Output<number>;
  /** The observation recorded at the last change. */
  declare public readonly observed: pulumi.Output<LiveObservation>;

  constructor(name: string, args: AppPresenceInputs, opts?: pulumi.CustomResourceOptions) {
    super(appPresenceProvider, name, { ...args, generation: undefined }, opts, "communityrule", "AppPresence");
  }
}
