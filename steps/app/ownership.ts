/**
 * Which stack and which deploy resource own an app on Cloudron, recorded as Cloudron app tags
 * (`POST /apps/:id/configure/tags`). Tags are stored without a task, so marking an app costs no
 * restart, unlike an env var (every configure/env call is a task that recreates the container).
 *
 * Two tags, both readable in the dashboard:
 * - `communityrule-stack:<stack>`: the Pulumi stack that deploys the app (adoption checks this);
 * - `communityrule-owner:<16 hex>`: sha256 of the deploy resource's owner string (its URN), so a
 *   renamed or re-parented resource that adopted the app is told apart from the one it replaced.
 * Cloudron accepts at most 64 tags of fewer than 128 characters each (server validateTags, pogipop/
 * cloudron 9833ad5 src/apps.js); both tags stay well below that whatever the URN's length.
 *
 * Apps marked before tags were used carry the owner in the env var COMMUNITYRULE_DEPLOYMENT; it is
 * still read here, and the env step removes it in its next apply.
 */
import { createHash } from "node:crypto";

export const STACK_TAG_PREFIX = "communityrule-stack:";
export const OWNER_TAG_PREFIX = "communityrule-owner:";
/** The env var that held the owner before tags did; read for old apps, removed by the env step. */
export const LEGACY_OWNER_ENV_NAME = "COMMUNITYRULE_DEPLOYMENT";

/** What an app's marks say about its owner. */
export interface Ownership {
  /** The stack that marked it, from its stack tag or the legacy env marker's URN. */
  stack?: string;
  /** The owner tag (`communityrule-owner:<hex>`), or one derived from the legacy env marker. */
  ownerTag?: string;
  /** Where the marks came from. */
  source: "tags" | "env" | "none";
}

/** The owner tag of a deploy resource's owner string. */
export function ownerTag(owner: string): string {
  return OWNER_TAG_PREFIX + createHash("sha256").update(owner).digest("hex").slice(0, 16);
}

/** The stack a Pulumi URN names (`urn:pulumi:<stack>::<project>::…`), or undefined. */
export function stackOfUrn(urn: string): string | undefined {
  return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

/** The two tags this stack's deploy resource writes. */
export function ownershipTags(stack: string, owner: string): string[] {
  return [STACK_TAG_PREFIX + stack, ownerTag(owner)];
}

/** Reads the marks of an app: its tags first, else the legacy env marker. */
export function readOwnership(app: { tags?: readonly string[]; env?: Record<string, string> }): Ownership {
  const tags = app.tags ?? [];
  const stack = tags.find((t) => t.startsWith(STACK_TAG_PREFIX))?.slice(STACK_TAG_PREFIX.length);
  const owner = tags.find((t) => t.startsWith(OWNER_TAG_PREFIX));
  if (stack !== undefined || owner !== undefined) return { stack, ownerTag: owner, source: "tags" };
  const legacy = app.env?.[LEGACY_OWNER_ENV_NAME];
  if (legacy) return { stack: stackOfUrn(legacy), ownerTag: ownerTag(legacy), source: "env" };
  return { source: "none" };
}

/**
 * The marks of one GET /apps entry read loosely (another app's odd field must not stop a deploy):
 * its manifest id, tags and legacy env marker when they have the expected types, else nothing.
 */
export function readEntryMarks(raw: unknown): { manifestId?: string; ownership: Ownership } {
  const o = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  const manifest = o.manifest && typeof o.manifest === "object" ? (o.manifest as Record<string, unknown>) : {};
  const tags = Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === "string") : [];
  const envIn = o.env && typeof o.env === "object" ? (o.env as Record<string, unknown>) : {};
  const legacy = envIn[LEGACY_OWNER_ENV_NAME];
  const env: Record<string, string> = typeof legacy === "string" ? { [LEGACY_OWNER_ENV_NAME]: legacy } : {};
  return {
    ...(typeof manifest.id === "string" ? { manifestId: manifest.id } : {}),
    ownership: readOwnership({ tags, env }),
  };
}

/**
 * The tag list to send: the app's own tags (set by people, kept) without any earlier ownership
 * tag, plus ours. Undefined when the app already carries exactly ours (no call needed).
 */
export function tagsToWrite(current: readonly string[], stack: string, owner: string): string[] | undefined {
  const ours = ownershipTags(stack, owner);
  const others = current.filter((t) => !t.startsWith(STACK_TAG_PREFIX) && !t.startsWith(OWNER_TAG_PREFIX));
  const next = [...others, ...ours];
  const same = next.length === current.length && next.every((t) => current.includes(t));
  return same ? undefined : next;
}

/**
 * Why this stack must not adopt the app, or undefined: it is marked by another stack, and the
 * config does not name that stack in communityrule:takeOverFrom.
 */
export function foreignOwnerProblem(
  app: { fqdn: string; id: string; tags?: readonly string[]; env?: Record<string, string> },
  stack: string,
  takeOverFrom: string | undefined,
): string | undefined {
  const mark = readOwnership(app);
  if (mark.stack === undefined || mark.stack === stack || mark.stack === takeOverFrom) return undefined;
  const where =
    mark.source === "tags" ? `Cloudron tag ${STACK_TAG_PREFIX}${mark.stack}` : `env ${LEGACY_OWNER_ENV_NAME}`;
  return (
    `${app.fqdn} (app ${app.id}) is deployed by stack "${mark.stack}" (${where}), not by "${stack}"; ` +
    `a stack never takes over another stack's app unless told to. To take it over deliberately (e.g. a cutover), run ` +
    `\`pulumi config set communityrule:takeOverFrom ${mark.stack} -s ${stack}\`; ` +
    `otherwise pick another communityrule:location. ` +
    `Nothing was changed.`
  );
}
