/**
 * CommunityRule on MEDLab's Cloudron: one stack per environment (staging, production).
 * Thin on purpose: config (config/) → the steps of the runbook (the list in steps.ts, each step's code
 * in steps/<step>/: live check → image → pull check → migration review → Cloudron app → env → health
 * gate → seed once → smoke) → stack outputs. The offline plan describes the same step list.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadDeployConfig } from "./config/programConfig";
import { findProjectDir } from "./lib/projectDir";
import { staleBuildProblem } from "./lib/build/sourceStamp";
import { registerSteps } from "./steps";

/**
 * The program. Pulumi's language host calls the exported function and awaits it; the returned
 * object is the stack's outputs. Async so the steps' checks (existing tag) run before any resource.
 */
async function deploy() {
  const projectDir = findProjectDir(__dirname);
  // Compiled (how `pulumi up` runs it): refuse to deploy code older than its TypeScript sources.
  const staleBuild = __filename.endsWith(".js") ? staleBuildProblem(projectDir) : undefined;
  if (staleBuild) throw new pulumi.RunError(staleBuild);
  const cfg = loadDeployConfig(projectDir);
  const stepOutputs = await registerSteps(cfg);
  return {
    /** Where the app answers. */
    url: cfg.baseUrl,
    location: cfg.location,
    environment: cfg.environment,
    /** The tag deployed, and the checkout's manifest version. */
    imageTag: cfg.imageTag,
    manifestVersion: cfg.manifest.version,
    ...stepOutputs,
  };
}

export = deploy;
