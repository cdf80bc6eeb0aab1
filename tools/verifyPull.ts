/**
 * Entry of the pull check command (`node build/tools/verifyPull.js <imageRef> [--must-be-new]`,
 * `npm run verify-pull`); the check and the release-tag guard are steps/pull-check/verifyPull.ts.
 */
import { runAsMain } from "../lib/cli";
import { main } from "../steps/pull-check/verifyPull";

if (require.main === module) runAsMain(main);
