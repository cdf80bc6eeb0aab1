/**
 * The program as Pulumi's language host loads it by default: ts-node WITH type-checking, CommonJS.
 * (The other lifecycle scenarios use ts-node's transpile-only mode for speed.)
 */
import { describe, expect, it } from "vitest";
import { Lifecycle } from "../lifecycle/runner";

describe("language-host loading", () => {
  it("loads, type-checks and deploys index.ts through ts-node's type-checking register hook", async () => {
    const lc = await Lifecycle.create({ stack: "staging", typecheck: true });
    try {
      const r = await lc.up();
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.outputs.deployAction).toBe("installed");
      expect(lc.calls().filter((c) => c.operation === "installApp").map((c) => c.status)).toEqual([202]);
    } finally {
      await lc.close();
    }
  });
});
