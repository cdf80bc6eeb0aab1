/**
 * Offline rehearsal: plays a whole `pulumi up` of a stack against the `cloudron` stand-in, a real
 * OCI registry on loopback and a loopback server playing the app, then a second `up` that must
 * have nothing to do. Usage: npm run rehearse -- <staging|production>
 *
 * It is a rehearsal: no Cloudron, no Pulumi CLI and no real registry are involved.
 */
import { Lifecycle } from "../lifecycle/runner";
import { prNumberOfStack } from "../lib/reviewApp/names";
import { rehearseReviewApp } from "./rehearseReviewApp";

async function main(argv: string[]): Promise<number> {
  const stack = argv[0] ?? "staging";
  const reviewPr = prNumberOfStack(stack);
  if (reviewPr !== undefined) return rehearseReviewApp(reviewPr, (line) => process.stdout.write(line + "\n"));
  if (stack !== "staging" && stack !== "production") {
    process.stderr.write("usage: npm run rehearse -- <staging|production|pr-<n>>\n");
    return 2;
  }
  const out = (line = "") => process.stdout.write(line + "\n");
  out(`REHEARSAL of \`pulumi up -s ${stack}\` — offline, against a cloudron stand-in (not a real Cloudron),`);
  out(`a throw-away local registry and a local server playing the app. Stack config: Pulumi.${stack}.yaml,`);
  out(`with registry, app checkout and URLs pointed at the local stand-ins and test secrets.`);
  const lc = await Lifecycle.create({ stack, echo: true });
  try {
    out(`\n== up #1 (fresh ${stack}) ==`);
    const first = await lc.up();
    out(first.ok ? "up #1: succeeded" : `up #1: FAILED\n  ${first.errors.join("\n  ")}`);
    if (!first.ok) return 1;
    out("\nCloudron calls made:");
    for (const c of lc.calls()) out(`  cloudron ${c.argv.map((a) => (a.includes("=") ? a.split("=")[0] + "=…" : a)).join(" ")}`);
    out("\nOutputs:");
    for (const [k, v] of Object.entries(first.outputs)) out(`  ${k}: ${String(v).split("\n").join("\n    ")}`);
    const before = lc.calls().length;
    out(`\n== up #2 (nothing changed) ==`);
    const second = await lc.up();
    const changed = second.steps.filter((s) => s.op !== "same");
    const mutating = lc.mutatingCallsSince(before);
    out(
      second.ok && changed.length === 0 && mutating.length === 0
        ? "up #2: nothing to do (0 resources changed, 0 mutating Cloudron calls)"
        : `up #2: UNEXPECTED CHANGES: ${changed.map((s) => `${s.name} ${s.op}`).join(", ")}; ${mutating.length} mutating calls`,
    );
    return second.ok && changed.length === 0 && mutating.length === 0 ? 0 : 1;
  } finally {
    await lc.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
