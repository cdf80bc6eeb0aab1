/** The ownership marks (Cloudron tags) and the live check's reading of where this stack's app is. */
import { describe, expect, it } from "vitest";
import {
  foreignOwnerProblem,
  ownerTag,
  ownershipTags,
  readOwnership,
  stackOfUrn,
  tagsToWrite,
} from "../steps/app/ownership";
import { observePresence } from "../steps/live-check/liveCheck";
import { appListEntry } from "../cloudron/wire";
import { presenceChanged } from "../steps/app/appPresence";
import type { App } from "../cloudron/wire";

const OWNER = "urn:pulumi:staging::communityrule::communityrule:cloudron:App::app/app-deploy";

describe("ownership tags", () => {
  it(
    "reads the stack from a URN and writes a stack tag plus a" +
      " short owner hash, each under Cloudron's 128-character limit",
    () => {
      expect(stackOfUrn(OWNER)).toBe("staging");
      expect(stackOfUrn("not a urn")).toBeUndefined();
      const tags = ownershipTags("staging", OWNER + "/x".repeat(200));
      expect(tags[0]).toBe("communityrule-stack:staging");
      expect(tags[1]).toMatch(/^communityrule-owner:[0-9a-f]{16}$/);
      expect(tags.every((t) => t.length < 128)).toBe(true);
    },
  );

  it("reads tags first, then the legacy env marker", () => {
    expect(readOwnership({ tags: ownershipTags("production", OWNER) })).toEqual({
      stack: "production",
      ownerTag: ownerTag(OWNER),
      source: "tags",
    });
    expect(readOwnership({ tags: [], env: { COMMUNITYRULE_DEPLOYMENT: OWNER } })).toEqual({
      stack: "staging",
      ownerTag: ownerTag(OWNER),
      source: "env",
    });
    expect(readOwnership({ tags: ["office"], env: {} })).toEqual({ source: "none" });
  });

  it("writes only when the tags differ, replacing an earlier owner's marks and keeping people's tags", () => {
    expect(tagsToWrite(["office", ...ownershipTags("staging", OWNER)], "staging", OWNER)).toBeUndefined();
    expect(tagsToWrite(["office", ...ownershipTags("staging", "other")], "production", OWNER)).toEqual([
      "office",
      ...ownershipTags("production", OWNER),
    ]);
    expect(tagsToWrite([], "staging", OWNER)).toEqual(ownershipTags("staging", OWNER));
  });

  it("another stack's app is refused unless takeOverFrom names that stack", () => {
    const app = { fqdn: "communityrule.info", id: "a1", tags: ownershipTags("staging", OWNER) };
    expect(foreignOwnerProblem(app, "production", undefined)).toMatch(
      /^communityrule.info \(app a1\) is deployed by stack "staging"/,
    );
    expect(foreignOwnerProblem(app, "production", "staging")).toBeUndefined();
    expect(foreignOwnerProblem(app, "production", "pr-3")).toBeDefined();
    expect(foreignOwnerProblem(app, "staging", undefined)).toBeUndefined();
    expect(foreignOwnerProblem({ fqdn: "x", id: "b", tags: [] }, "production", undefined)).toBeUndefined();
  });
});

describe("where this stack's app is (live check) and whether that re-runs the deploy", () => {
  const app = (fqdn: string, tags: string[], over: Partial<App> = {}): App =>
    ({
      id: `id-${fqdn}`,
      fqdn,
      installationState: "installed",
      error: null,
      taskId: null,
      env: {},
      tags,
      manifest: { id: "com.medlab.communityrule", dockerImage: "r@sha256:1" },
      ...over,
    }) as App;
  const o = { location: "staging.communityrule.info", stack: "staging", manifestId: "com.medlab.communityrule" };

  it.each([
    ["present", [app("staging.communityrule.info", ownershipTags("staging", OWNER))], {}, false],
    ["unmarked", [app("staging.communityrule.info", [])], {}, true],
    ["foreign", [app("staging.communityrule.info", ownershipTags("pr-1", OWNER))], { takeOverFrom: "pr-1" }, true],
    ["moved", [app("communityrule.info", ownershipTags("staging", OWNER))], {}, true],
    ["absent", [app("communityrule.info", ownershipTags("production", OWNER))], {}, true],
  ] as const)("%s", (state, apps, extra, changes) => {
    const here = apps.find((a) => a.fqdn === o.location);
    const seen = observePresence(here, apps.map(appListEntry), { ...o, ...extra });
    expect(seen.state).toBe(state);
    expect(presenceChanged({ location: o.location, observed: seen })).toBe(changes);
  });

  it("a preview without a token changes nothing", () => {
    expect(presenceChanged({ location: o.location, observed: { state: "unknown" } })).toBe(false);
  });
});
